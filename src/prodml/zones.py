"""Where each stage reads and writes in S3. Stages agree on these paths and on nothing else.

Layout (``<zone>`` is the bucket ``{project}-{env}-<zone>``):

raw        <dataset>/ingest_date=YYYY-MM-DD/<sha256>.<ext>      landed bytes, never overwritten
           <dataset>/_landing/<sha256>.json                      landing manifest, one immutable record a file
processed  <dataset>/_staging/<run_id>/...                       in-flight ETL output, never read
           <dataset>/version=<v>/split=<split>/part-*.parquet    committed dataset versions
           <dataset>/version=<v>/_MANIFEST.json                  commit marker, written last
           <dataset>/version=<v>/quality_report.json
           <dataset>/version=<v>/baseline_profile.json
           <dataset>/_LATEST                                     the newest committed version id
           <dataset>/quarantine/version=<v>/part-*.parquet       rejected rows with reason codes
artifacts  code/...                                              Glue script and wheels
           training/<job_name>/output/model.tar.gz               as SageMaker writes it
           training/<job_name>/lineage.json, report/...
capture    <dataset>/date=YYYY-MM-DD/hour=HH/<batch>.jsonl       sampled requests and predictions
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date

from prodml.settings import Settings, get_settings

SPLITS = ("train", "validation", "test")
MANIFEST_NAME = "_MANIFEST.json"
LATEST_NAME = "_LATEST"


@dataclass(frozen=True)
class Zones:
    settings: Settings

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> Zones:
        return cls(settings or get_settings())

    def bucket(self, zone: str) -> str:
        return self.settings.bucket(zone)

    def uri(self, zone: str, key: str = "") -> str:
        return f"s3://{self.bucket(zone)}/{key}"

    # ---- raw ----------------------------------------------------------------------------------------
    @staticmethod
    def raw_key(dataset: str, ingest_date: date, sha256: str, ext: str) -> str:
        return f"{dataset}/ingest_date={ingest_date.isoformat()}/{sha256}.{ext}"

    @staticmethod
    def landing_record_key(dataset: str, sha256: str) -> str:
        return f"{dataset}/_landing/{sha256}.json"

    @staticmethod
    def landing_prefix(dataset: str) -> str:
        return f"{dataset}/_landing/"

    # ---- processed ----------------------------------------------------------------------------------
    @staticmethod
    def staging_prefix(dataset: str, run_id: str) -> str:
        return f"{dataset}/_staging/{run_id}/"

    @staticmethod
    def version_prefix(dataset: str, version: str) -> str:
        return f"{dataset}/version={version}/"

    @classmethod
    def split_prefix(cls, dataset: str, version: str, split: str) -> str:
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; splits are {', '.join(SPLITS)}")
        return f"{cls.version_prefix(dataset, version)}split={split}/"

    @classmethod
    def manifest_key(cls, dataset: str, version: str) -> str:
        return cls.version_prefix(dataset, version) + MANIFEST_NAME

    @staticmethod
    def latest_key(dataset: str) -> str:
        return f"{dataset}/{LATEST_NAME}"

    @staticmethod
    def quarantine_prefix(dataset: str, version: str) -> str:
        return f"{dataset}/quarantine/version={version}/"

    # ---- artifacts ----------------------------------------------------------------------------------
    @staticmethod
    def training_output_prefix() -> str:
        return "training/"

    @staticmethod
    def model_artifact_key(job_name: str) -> str:
        return f"training/{job_name}/output/model.tar.gz"

    @staticmethod
    def lineage_key(job_name: str) -> str:
        return f"training/{job_name}/lineage.json"

    @staticmethod
    def report_prefix(job_name: str) -> str:
        return f"training/{job_name}/report/"

    # ---- capture ------------------------------------------------------------------------------------
    @staticmethod
    def capture_prefix(dataset: str) -> str:
        return f"{dataset}/"


def read_committed_manifest(s3, zones: Zones, dataset: str, version: str | None = None) -> dict:
    """The manifest of a committed dataset version (the newest when ``version`` is None).

    Only versions whose ``_MANIFEST.json`` exists are datasets; anything else under the prefix is an
    interrupted run and must be ignored.
    """
    from botocore.exceptions import ClientError

    bucket = zones.bucket("processed")
    try:
        if version is None:
            version = (
                s3.get_object(Bucket=bucket, Key=zones.latest_key(dataset))["Body"].read().decode().strip()
            )
        body = s3.get_object(Bucket=bucket, Key=zones.manifest_key(dataset, version))["Body"].read()
    except ClientError as exc:
        if exc.response["Error"]["Code"] in ("NoSuchKey", "404", "NoSuchBucket"):
            which = f"version {version}" if version else "any version"
            raise LookupError(
                f"no committed dataset {dataset!r} ({which}) in s3://{bucket}/; run `prodml etl` first"
            ) from None
        raise
    return json.loads(body)
