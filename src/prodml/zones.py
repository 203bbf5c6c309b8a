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
artifacts  code/releases/<release>/release.json                  what `prodml ship` released, written last
           code/releases/<release>/etl/glue_job.py, wheels/<whl>  the Glue job's script and the prodml wheel
           code/releases/<release>/contracts/<dataset>.yaml       every contract
           code/releases/<release>/training/sourcedir.tar.gz      the training source dir
           code/CURRENT                                           the newest release id
           training/<job_name>/input/config/...                   the config channel of a training job
           training/<job_name>/output/model.tar.gz                as SageMaker writes it
           training/<job_name>/output/output.tar.gz               /opt/ml/output/data, as SageMaker writes it
           training/<job_name>/report/...                         registration's copy: metrics, lineage, plots,
                                                                  model card
           monitoring/<dataset>/<job_name>/drift.json, drift.html a drift monitoring job's results
capture    <dataset>/date=YYYY-MM-DD/hour=HH/<batch>.jsonl       sampled requests and predictions

Knowledge bases (prodml.knowledge; ``<kb>`` is the knowledge contract's name):
raw        knowledge/<kb>/ingest_date=YYYY-MM-DD/<sha256>.<ext> landed documents, never overwritten
           knowledge/_landing/<kb>/<sha256>.json                 landing record, written after the bytes; its
                                                                 creation is the S3 event the ingestion queue receives
           knowledge/_landing/<kb>/heads/<name hash>.json        a document's current version, written last
artifacts  knowledge/<kb>/documents/<pipeline>/<sha256>.npz      a document normalised, chunked and embedded
           knowledge/<kb>/documents/<pipeline>/<sha256>.failed.json  why it could not be
           knowledge/<kb>/index/version=<v>/index.npz            an index version (chunks, vectors, BM25)
           knowledge/<kb>/index/version=<v>/_MANIFEST.json       commit marker, written last
           knowledge/<kb>/index/version=<v>/evaluation.json      the evaluation gate's report
           knowledge/<kb>/index/_LATEST                          the newest committed index version
           knowledge/<kb>/CURRENT                                the promoted index version the service serves
"""

from __future__ import annotations

import hashlib
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

    # ---- artifacts: released code ------------------------------------------------------------------
    @staticmethod
    def release_prefix(release: str) -> str:
        return f"code/releases/{release}/"

    @classmethod
    def release_manifest_key(cls, release: str) -> str:
        return cls.release_prefix(release) + "release.json"

    @staticmethod
    def current_release_key() -> str:
        return "code/CURRENT"

    @staticmethod
    def release_file(kind: str, name: str = "") -> str:
        """A file's key below its release prefix: ``glue_script``, ``wheel`` and ``contract`` take a name."""
        layout = {
            "glue_script": f"etl/{name}",
            "wheel": f"wheels/{name}",
            "contract": f"contracts/{name}.yaml",
            "training_source": "training/sourcedir.tar.gz",
        }
        if kind not in layout:
            raise ValueError(f"unknown release file {kind!r}; kinds are {', '.join(layout)}")
        return layout[kind]

    @classmethod
    def glue_script_key(cls, release: str, script_name: str) -> str:
        return cls.release_prefix(release) + cls.release_file("glue_script", script_name)

    @classmethod
    def wheel_key(cls, release: str, wheel_name: str) -> str:
        return cls.release_prefix(release) + cls.release_file("wheel", wheel_name)

    @classmethod
    def contract_key(cls, release: str, dataset: str) -> str:
        return cls.release_prefix(release) + cls.release_file("contract", dataset)

    @classmethod
    def training_source_key(cls, release: str) -> str:
        return cls.release_prefix(release) + cls.release_file("training_source")

    # ---- artifacts: training jobs --------------------------------------------------------------------
    @staticmethod
    def training_output_prefix() -> str:
        """SageMaker's ``S3OutputPath``: a job writes ``<job>/output/`` below it."""
        return "training/"

    @staticmethod
    def training_config_prefix(job_name: str) -> str:
        return f"training/{job_name}/input/config/"

    @staticmethod
    def model_artifact_key(job_name: str) -> str:
        return f"training/{job_name}/output/model.tar.gz"

    @staticmethod
    def output_archive_key(job_name: str) -> str:
        return f"training/{job_name}/output/output.tar.gz"

    @staticmethod
    def report_prefix(job_name: str) -> str:
        return f"training/{job_name}/report/"

    @classmethod
    def metrics_key(cls, job_name: str) -> str:
        return cls.report_prefix(job_name) + "metrics.json"

    @classmethod
    def lineage_key(cls, job_name: str) -> str:
        return cls.report_prefix(job_name) + "lineage.json"

    @staticmethod
    def job_from_artifact_key(key: str) -> str | None:
        """``training/<job>/output/model.tar.gz`` (or its s3:// URI) → ``<job>``."""
        parts = key.split("/training/", 1)[-1].removeprefix("training/").split("/")
        return parts[0] if len(parts) == 3 and parts[1:] == ["output", "model.tar.gz"] else None

    # ---- artifacts: monitoring ----------------------------------------------------------------------
    @staticmethod
    def monitoring_prefix(dataset: str, job_name: str) -> str:
        """Where a drift monitoring job's ProcessingOutput lands (the drift state machine builds the same)."""
        return f"monitoring/{dataset}/{job_name}/"

    # ---- capture ------------------------------------------------------------------------------------
    @staticmethod
    def capture_prefix(dataset: str) -> str:
        return f"{dataset}/"

    # ---- knowledge bases ----------------------------------------------------------------------------
    @staticmethod
    def knowledge_document_key(kb: str, ingest_date: date, sha256: str, ext: str) -> str:
        return f"knowledge/{kb}/ingest_date={ingest_date.isoformat()}/{sha256}.{ext}"

    @staticmethod
    def knowledge_landing_prefix(kb: str = "") -> str:
        """Landing records (of ``kb``, or of every knowledge base): the ingestion queue's S3 event filter."""
        return f"knowledge/_landing/{kb}/" if kb else "knowledge/_landing/"

    @classmethod
    def knowledge_landing_key(cls, kb: str, sha256: str) -> str:
        return f"{cls.knowledge_landing_prefix(kb)}{sha256}.json"

    @staticmethod
    def knowledge_heads_prefix(kb: str) -> str:
        return f"knowledge/_landing/{kb}/heads/"

    @classmethod
    def knowledge_head_key(cls, kb: str, document: str) -> str:
        """Which landed version is a document's current one (moved by every landing that changes it,
        a return to earlier bytes included); keyed by the sha256 of the document's name."""
        return f"{cls.knowledge_heads_prefix(kb)}{hashlib.sha256(document.encode()).hexdigest()[:32]}.json"

    @staticmethod
    def knowledge_processed_prefix(kb: str, pipeline: str) -> str:
        return f"knowledge/{kb}/documents/{pipeline}/"

    @classmethod
    def knowledge_processed_key(cls, kb: str, pipeline: str, sha256: str) -> str:
        return f"{cls.knowledge_processed_prefix(kb, pipeline)}{sha256}.npz"

    @classmethod
    def knowledge_failure_key(cls, kb: str, pipeline: str, sha256: str) -> str:
        return f"{cls.knowledge_processed_prefix(kb, pipeline)}{sha256}.failed.json"

    @staticmethod
    def knowledge_index_prefix(kb: str, version: str) -> str:
        return f"knowledge/{kb}/index/version={version}/"

    @classmethod
    def knowledge_index_key(cls, kb: str, version: str) -> str:
        return cls.knowledge_index_prefix(kb, version) + "index.npz"

    @classmethod
    def knowledge_manifest_key(cls, kb: str, version: str) -> str:
        return cls.knowledge_index_prefix(kb, version) + MANIFEST_NAME

    @classmethod
    def knowledge_evaluation_key(cls, kb: str, version: str) -> str:
        return cls.knowledge_index_prefix(kb, version) + "evaluation.json"

    @staticmethod
    def knowledge_latest_key(kb: str) -> str:
        return f"knowledge/{kb}/index/{LATEST_NAME}"

    @staticmethod
    def knowledge_current_key(kb: str) -> str:
        """The promoted index version: what the service loads (like ``code/CURRENT`` for releases)."""
        return f"knowledge/{kb}/CURRENT"
