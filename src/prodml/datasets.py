"""The dataset store: committed dataset versions in the processed zone, for every stage alike.

A version is a dataset only once its ``_MANIFEST.json`` exists (ETL writes it last); anything else under the
prefix is an interrupted run and is never read. ``_LATEST`` names the newest committed version. ETL commits
through :meth:`DatasetStore.set_latest`; training, registration and the CLI read through the rest. It never
writes data files. Runs on Glue's Python 3.9 too.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from prodml.zones import Zones

_MISSING = ("NoSuchKey", "404", "NotFound")


@dataclass(frozen=True)
class DatasetVersion:
    dataset: str
    version: str
    manifest: dict[str, Any]


@dataclass(frozen=True)
class DatasetStore:
    s3: Any
    bucket: str  # the processed zone's bucket

    @classmethod
    def of(cls, s3: Any, zones: Zones) -> DatasetStore:
        return cls(s3, zones.bucket("processed"))

    def _read(self, key: str) -> bytes | None:
        try:
            body: bytes = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
            return body
        except ClientError as exc:
            if exc.response["Error"]["Code"] in _MISSING:
                return None
            raise

    def manifest(self, dataset: str, version: str) -> dict[str, Any] | None:
        """The version's manifest, or None when the version is not committed."""
        body = self._read(Zones.manifest_key(dataset, version))
        return None if body is None else json.loads(body)

    def latest(self, dataset: str) -> str | None:
        body = self._read(Zones.latest_key(dataset))
        return None if body is None else body.decode().strip()

    def set_latest(self, dataset: str, version: str) -> None:
        self.s3.put_object(
            Bucket=self.bucket, Key=Zones.latest_key(dataset), Body=version.encode(), ContentType="text/plain"
        )

    def versions(self, dataset: str) -> list[dict[str, Any]]:
        """Every version prefix of a dataset with its manifest (None: interrupted, not a dataset)."""
        prefix = f"{dataset}/version="
        found = []
        pages = self.s3.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=prefix, Delimiter="/"
        )
        for page in pages:
            for common in page.get("CommonPrefixes", []):
                version = common["Prefix"][len(prefix) :].rstrip("/")
                found.append({"version": version, "manifest": self.manifest(dataset, version)})
        return found

    def committed(self, dataset: str, version: str | None = None) -> DatasetVersion:
        """The committed ``version`` (the newest when None); LookupError when there is none."""
        wanted = version or self.latest(dataset)
        manifest = self.manifest(dataset, wanted) if wanted else None
        if wanted is None or manifest is None:
            which = f"version {version}" if version else "any version"
            raise LookupError(
                f"no committed dataset {dataset!r} ({which}) in s3://{self.bucket}/; run `prodml etl` first"
            )
        return DatasetVersion(dataset, wanted, manifest)

    def read_json(self, key: str) -> dict[str, Any]:
        body = self._read(key)
        if body is None:
            raise LookupError(f"s3://{self.bucket}/{key} does not exist")
        loaded: dict[str, Any] = json.loads(body)
        return loaded

    def split_uri(self, dataset: str, version: str, split: str) -> str:
        return f"s3://{self.bucket}/{Zones.split_prefix(dataset, version, split)}"

    def download_split(self, dataset: str, version: str, split: str, into: Path) -> int:
        """Every file of a committed version's split into ``into``; returns the number of files."""
        prefix = Zones.split_prefix(dataset, version, split)
        count = 0
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                relative = obj["Key"][len(prefix) :]
                if not relative or relative.endswith("/"):
                    continue
                target = into / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                self.s3.download_file(self.bucket, obj["Key"], str(target))
                count += 1
        return count
