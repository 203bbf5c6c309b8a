"""Land a source file in the raw zone, byte for byte, at a content-addressed key.

Never overwrites or deletes anything in the raw zone: the same bytes landing twice is a reported no-op, and
a changed file is a new object. A file that cannot be a dataset of the contract writes nothing at all.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from prodml import aws
from prodml.contract import Contract
from prodml.settings import Settings
from prodml.zones import Zones

FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}
_CHUNK = 8 * 1024 * 1024


class IngestError(ValueError):
    """A file that must not land. Nothing has been written when this is raised."""


@dataclass(frozen=True)
class LandingRecord:
    dataset: str
    source_name: str
    sha256: str
    size_bytes: int
    format: str
    key: str
    uri: str
    ingested_at: str
    contract_version: int


@dataclass(frozen=True)
class IngestResult:
    record: LandingRecord
    landed: bool  # False: these bytes were already in the raw zone


def file_format(path: Path) -> str:
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise IngestError(
            f"{path.name}: unsupported file type {path.suffix!r} (use one of {', '.join(FORMATS)})"
        )
    return fmt


def read_header(path: Path, fmt: str) -> list[str]:
    """The column names a file carries, without reading the whole file."""
    if fmt == "parquet":
        import pyarrow.parquet as pq

        try:
            return pq.read_schema(path).names
        except Exception as exc:
            raise IngestError(f"{path.name}: not a readable parquet file ({exc})") from None
    with path.open("rb") as fh:
        first = fh.readline(1024 * 1024)
    text = first.decode("utf-8-sig", errors="replace").strip()
    if not text:
        raise IngestError(f"{path.name}: the first line is empty, so there is no header")
    if fmt == "jsonl":
        try:
            record = json.loads(text)
        except json.JSONDecodeError as exc:
            raise IngestError(f"{path.name}: first line is not a JSON object ({exc.msg})") from None
        if not isinstance(record, dict):
            raise IngestError(f"{path.name}: first line is not a JSON object")
        return list(record)
    return [name.strip() for name in next(csv.reader(io.StringIO(text)))]


def check_columns(path: Path, header: list[str], contract: Contract) -> None:
    expected = contract.raw_columns
    missing = [c for c in expected if c not in header]
    extra = [c for c in header if c not in expected]
    duplicated = sorted({c for c in header if header.count(c) > 1})
    problems = []
    if missing:
        problems.append(f"missing column(s) {', '.join(missing)}")
    if extra:
        problems.append(f"unexpected column(s) {', '.join(extra)}")
    if duplicated:
        problems.append(f"repeated column(s) {', '.join(duplicated)}")
    if problems:
        raise IngestError(
            f"{path.name}: header does not match contract {contract.name!r} v{contract.version}: "
            + "; ".join(problems)
            + f". Expected: {', '.join(expected)}"
        )


def sha256_file(path: Path, progress: Callable[[int], None] | None = None) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
            if progress:
                progress(len(chunk))
    return digest.hexdigest()


def validate_file(path: Path, contract: Contract) -> str:
    """Every check that needs no AWS call. Returns the file format."""
    if not path.exists():
        raise IngestError(f"{path}: no such file")
    if not path.is_file():
        raise IngestError(f"{path}: not a regular file")
    if path.stat().st_size == 0:
        raise IngestError(f"{path.name}: the file is empty")
    fmt = file_format(path)
    check_columns(path, read_header(path, fmt), contract)
    return fmt


def ingest(
    path: Path,
    contract: Contract,
    settings: Settings,
    *,
    now: datetime | None = None,
    progress: Callable[[int], None] | None = None,
) -> IngestResult:
    fmt = validate_file(path, contract)
    size = path.stat().st_size
    sha = sha256_file(path, progress)
    zones = Zones(settings)
    bucket = zones.bucket("raw")
    s3 = aws.client("s3", settings)
    record_key = zones.landing_record_key(contract.name, sha)
    if aws.s3_object_exists(s3, bucket, record_key):
        existing = json.loads(s3.get_object(Bucket=bucket, Key=record_key)["Body"].read())
        return IngestResult(LandingRecord(**existing), landed=False)

    now = now or datetime.now(UTC)
    key = zones.raw_key(contract.name, now.date(), sha, path.suffix.lower().lstrip("."))
    record = LandingRecord(
        dataset=contract.name,
        source_name=path.name,
        sha256=sha,
        size_bytes=size,
        format=fmt,
        key=key,
        uri=f"s3://{bucket}/{key}",
        ingested_at=now.isoformat(timespec="seconds"),
        contract_version=contract.version,
    )
    metadata = {
        "source-name": path.name.encode("ascii", "replace").decode(),
        "sha256": sha,
        "size-bytes": str(size),
        "ingested-at": record.ingested_at,
        "contract-version": str(contract.version),
    }
    # An interrupted earlier landing may have left the object without its record: same bytes, same key.
    if not aws.s3_object_exists(s3, bucket, key):
        s3.upload_file(
            str(path),
            bucket,
            key,
            ExtraArgs={"Metadata": metadata, "ContentType": _content_type(fmt)},
            Callback=progress,
        )
    # The record is written last: ETL only reads files whose landing record exists.
    s3.put_object(
        Bucket=bucket,
        Key=record_key,
        Body=json.dumps(asdict(record), indent=2).encode(),
        ContentType="application/json",
    )
    return IngestResult(record, landed=True)


def landed(contract_name: str, settings: Settings) -> list[LandingRecord]:
    """The landing manifest of a dataset, oldest first."""
    zones = Zones(settings)
    bucket = zones.bucket("raw")
    s3 = aws.client("s3", settings)
    records = []
    for page in s3.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix=zones.landing_prefix(contract_name)
    ):
        for obj in page.get("Contents", []):
            records.append(
                LandingRecord(**json.loads(s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()))
            )
    return sorted(records, key=lambda r: (r.ingested_at, r.sha256))


def _content_type(fmt: str) -> str:
    return {"csv": "text/csv", "jsonl": "application/x-ndjson", "parquet": "application/vnd.apache.parquet"}[
        fmt
    ]
