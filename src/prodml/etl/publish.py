"""Between the ETL core and S3: find the raw objects, name the dataset version, commit it atomically, and
register it in the Glue catalog.

Commit protocol (readers only ever see committed versions; see `prodml.zones`):

1. every output file is uploaded under ``<dataset>/_staging/<run_id>/``;
2. each is copied to its place under ``version=<v>/`` (and ``quarantine/version=<v>/``);
3. ``version=<v>/_MANIFEST.json`` is written **last**: it is the commit; a version without it is garbage;
4. ``_LATEST`` is pointed at ``<v>``; the staging prefix is deleted (and any left by runs killed more than
   a day ago); the catalog is updated.

A run killed anywhere before step 3 leaves no manifest, so no reader takes it as a dataset; a rerun with
the same inputs computes the same version and simply rewrites the same keys. A version that already has a
manifest is never rewritten: the rerun is a reported no-op.

Local scratch: a run works in ``<tmp>/prodml-etl-*`` (see :func:`scratch_dir`), which names its owning
process; the run removes it whole, and the next run sweeps it if the owner died without doing so.

Catalog design: one table ``<dataset>`` (location ``s3://<processed>/<dataset>/``) partitioned by
``version`` and ``split``, one partition per committed version and split; and one table
``<dataset>_quarantine`` partitioned by ``version``. Partitions are added only after the manifest exists.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

from prodml.contract import Contract
from prodml.datasets import DatasetStore
from prodml.etl import code_version
from prodml.etl.process import ProcessResult, quarantine_schema
from prodml.etl.read import RawObject, format_of
from prodml.zones import SPLITS, Zones

MANIFEST_SCHEMA_VERSION = 1
QUALITY_REPORT = "quality_report.json"
BASELINE_PROFILE = "baseline_profile.json"
STALE_STAGING = timedelta(hours=24)  # staging older than this belongs to a killed run
SCRATCH_PREFIX = "prodml-etl-"
SCRATCH_OWNER = "owner"  # in a scratch dir: "<pid> <host>" of the run using it
_ATHENA_TYPES = {"int64": "bigint", "double": "double", "bool": "boolean", "string": "string"}


def _athena_type(arrow_type) -> str:
    text = str(arrow_type)
    return "timestamp" if text.startswith("timestamp") else _ATHENA_TYPES[text]


# ---- raw zone ------------------------------------------------------------------------------------------


def _sha256_of(s3, bucket: str, key: str) -> str:
    digest = hashlib.sha256()
    body = s3.get_object(Bucket=bucket, Key=key)["Body"]
    for chunk in iter(lambda: body.read(8 * 1024 * 1024), b""):
        digest.update(chunk)
    return digest.hexdigest()


def _opener(s3, bucket: str, key: str, fmt: str | None) -> Callable:
    if fmt != "parquet":
        return lambda: s3.get_object(Bucket=bucket, Key=key)["Body"]

    def download():  # parquet needs a seekable file: spool to local disk, never to memory
        spool = tempfile.TemporaryFile()  # noqa: SIM115 - the caller closes it (with raw.opener() as ...)
        s3.download_fileobj(bucket, key, spool)
        spool.seek(0)
        return spool

    return download


def discover_raw(s3, raw_bucket: str, dataset: str) -> list[RawObject]:
    """Every data object under ``<dataset>/`` in the raw zone, in landing order.

    Objects with a landing record come first, ordered by (ingested_at, sha256); objects that reached the
    raw zone some other way follow by key, with their sha256 taken from their metadata or by hashing them.
    """
    prefix = f"{dataset}/"
    landing_prefix = Zones.landing_prefix(dataset)
    records: dict[str, dict] = {}
    objects: list[dict] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=raw_bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            if obj["Key"].startswith(landing_prefix):
                record = json.loads(s3.get_object(Bucket=raw_bucket, Key=obj["Key"])["Body"].read())
                records[record["key"]] = record
            elif not obj["Key"].endswith("/"):
                objects.append(obj)

    def identity(obj: dict) -> tuple:
        record = records.get(obj["Key"])
        return (0, record["ingested_at"], record["sha256"]) if record else (1, "", obj["Key"])

    found = []
    for order, obj in enumerate(sorted(objects, key=identity)):
        key = obj["Key"]
        record = records.get(key)
        if record:
            sha = record["sha256"]
        else:
            metadata = s3.head_object(Bucket=raw_bucket, Key=key).get("Metadata", {})
            sha = metadata.get("sha256") or _sha256_of(s3, raw_bucket, key)
        fmt = format_of(key)
        found.append(
            RawObject(
                name=f"s3://{raw_bucket}/{key}",
                sha256=sha,
                size=obj["Size"],
                fmt=fmt,
                opener=_opener(s3, raw_bucket, key, fmt),
                order=order,
                landed=record is not None,
            )
        )
    return found


def dataset_version(contract: Contract, sources: list[RawObject]) -> str:
    """hash(sorted raw sha256s, contract version and fingerprint, ETL code version): same inputs, same id."""
    identity = {
        "raw": sorted(s.sha256 for s in sources),
        "contract_version": contract.version,
        "contract_fingerprint": contract.fingerprint,
        "etl_code_version": code_version(),
    }
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()
    return digest[:16]


# ---- processed zone ------------------------------------------------------------------------------------


def commit(
    s3,
    bucket: str,
    contract: Contract,
    version: str,
    result: ProcessResult,
    sources: list[RawObject],
    *,
    run_id: str,
    job_name: str,
    on_step: Callable[[str, dict], None] | None = None,
) -> dict:
    """Staging → version → manifest (last) → _LATEST. Returns the manifest."""
    emit = on_step or (lambda event, data: None)
    dataset = contract.name
    staging = Zones.staging_prefix(dataset, run_id)
    report_dir = result.workdir / "reports"  # inside the run's scratch, so removed with it
    report_dir.mkdir(parents=True, exist_ok=True)
    (report_dir / QUALITY_REPORT).write_text(json.dumps(result.report, indent=2, default=str))
    (report_dir / BASELINE_PROFILE).write_text(json.dumps(result.profile, indent=2, default=str))

    # (local file, staging key, final key)
    plan: list[tuple[Path, str, str]] = []
    for split in SPLITS:
        for path in result.split_files[split]:
            plan.append(
                (
                    path,
                    f"{staging}split={split}/{path.name}",
                    Zones.split_prefix(dataset, version, split) + path.name,
                )
            )
    for path in result.quarantine_files:
        plan.append(
            (path, f"{staging}quarantine/{path.name}", Zones.quarantine_prefix(dataset, version) + path.name)
        )
    for name in (QUALITY_REPORT, BASELINE_PROFILE):
        plan.append((report_dir / name, staging + name, Zones.version_prefix(dataset, version) + name))

    for i, (path, staging_key, _) in enumerate(plan, start=1):
        s3.upload_file(str(path), bucket, staging_key)
        emit("staged", {"file": staging_key, "done": i, "files": len(plan)})
    for i, (_, staging_key, final_key) in enumerate(plan, start=1):
        s3.copy({"Bucket": bucket, "Key": staging_key}, bucket, final_key)
        emit("copied", {"file": final_key, "done": i, "files": len(plan)})

    manifest = {
        "schema_version": MANIFEST_SCHEMA_VERSION,
        "dataset": dataset,
        "version": version,
        "committed_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),  # noqa: UP017 - Glue runs 3.9
        "run_id": run_id,
        "job_name": job_name,
        "etl_code_version": code_version(),
        "contract": {"name": dataset, "version": contract.version, "fingerprint": contract.fingerprint},
        "raw_objects": [{"uri": s.name, "sha256": s.sha256, "bytes": s.size} for s in sources],
        "schema": [{"name": f.name, "type": str(f.type)} for f in contract.arrow_schema()],
        "rows": result.report["rows"],
        "splits": {
            split: {
                "rows": result.rows_out[split],
                "prefix": Zones.split_prefix(dataset, version, split),
                "files": [final for path, _, final in plan if path in result.split_files[split]],
            }
            for split in SPLITS
        },
        "quarantine": {
            "rows": result.report["rows"]["quarantined"],
            "prefix": Zones.quarantine_prefix(dataset, version),
            "files": [final for path, _, final in plan if path in result.quarantine_files],
        },
        "quality_report": Zones.version_prefix(dataset, version) + QUALITY_REPORT,
        "baseline_profile": Zones.version_prefix(dataset, version) + BASELINE_PROFILE,
    }
    # The commit point: everything above is invisible to readers until this object exists.
    s3.put_object(
        Bucket=bucket,
        Key=Zones.manifest_key(dataset, version),
        Body=json.dumps(manifest, indent=2).encode(),
        ContentType="application/json",
    )
    DatasetStore(s3, bucket).set_latest(dataset, version)
    emit("committed", {"version": version})
    delete_prefix(s3, bucket, staging)
    sweep_stale_staging(s3, bucket, dataset)
    return manifest


def sweep_stale_staging(s3, bucket: str, dataset: str, older_than: timedelta = STALE_STAGING) -> list[str]:
    """Delete staging prefixes of runs that died long ago (a live run writes there within minutes)."""
    prefix = f"{dataset}/_staging/"
    newest: dict[str, datetime] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            run = obj["Key"][len(prefix) :].split("/", 1)[0]
            newest[run] = max(newest.get(run, obj["LastModified"]), obj["LastModified"])
    now = datetime.now(timezone.utc)  # noqa: UP017 - datetime.UTC is 3.11+; the Glue Python shell runs 3.9
    stale = [run for run, when in newest.items() if now - when > older_than]
    for run in stale:
        delete_prefix(s3, bucket, f"{prefix}{run}/")
    return stale


def delete_prefix(s3, bucket: str, prefix: str) -> int:
    deleted = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys = [{"Key": obj["Key"]} for obj in page.get("Contents", [])]
        if keys:
            s3.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
            deleted += len(keys)
    return deleted


# ---- local scratch -------------------------------------------------------------------------------------


def scratch_dir() -> Path:
    """A new scratch directory for one run, ``<tmp>/prodml-etl-*``, naming its owner (this process). Sweeps
    the scratch of dead runs first. The run removes the directory whole when it ends, however it ends."""
    sweep_stale_scratch()
    path = Path(tempfile.mkdtemp(prefix=SCRATCH_PREFIX))
    (path / SCRATCH_OWNER).write_text(f"{os.getpid()} {socket.gethostname()}\n")
    return path


def sweep_stale_scratch(unowned_after: timedelta = STALE_STAGING) -> list[Path]:
    """Remove the ``<tmp>/prodml-etl-*`` directories of runs that died (killed, out of memory).

    Only this user's, and only when the owner named in it is a process of this host that no longer exists:
    never a live run's, nor one whose owner cannot be told (another host; a reused pid keeps it too). A
    directory naming no owner (left by a release that did not name it, or a run in the instant between
    creating and naming it) is removed once older than ``unowned_after``. POSIX only."""
    if os.name != "posix":
        return []  # os.kill(pid, 0) would not merely probe there
    removed = []
    for path in Path(tempfile.gettempdir()).glob(SCRATCH_PREFIX + "*"):
        try:
            info = path.lstat()
            if path.is_symlink() or not path.is_dir() or info.st_uid != os.getuid():
                continue
            owner = _scratch_owner(path)
            if owner is None:
                stale = time.time() - info.st_mtime > unowned_after.total_seconds()
            else:
                pid, host = owner
                stale = host == socket.gethostname() and not _process_exists(pid)
        except OSError:  # swept by another run meanwhile
            continue
        if stale:
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def _scratch_owner(path: Path) -> tuple[int, str] | None:
    try:
        pid, host = (path / SCRATCH_OWNER).read_text().split()
        return int(pid), host
    except (OSError, ValueError):
        return None


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: it exists, as another user's process
        return True
    return True


# ---- catalog -------------------------------------------------------------------------------------------


def table_names(dataset: str) -> tuple[str, str]:
    return dataset, f"{dataset}_quarantine"


def register_catalog(session, database: str, bucket: str, contract: Contract, version: str) -> list[str]:
    """Create the two tables if missing and add this version's partitions (idempotent)."""
    import awswrangler as wr

    dataset = contract.name
    processed_table, quarantine_table = table_names(dataset)
    if not wr.catalog.does_table_exist(database=database, table=processed_table, boto3_session=session):
        wr.catalog.create_parquet_table(
            database=database,
            table=processed_table,
            path=f"s3://{bucket}/{dataset}/",
            columns_types={f.name: _athena_type(f.type) for f in contract.arrow_schema()},
            partitions_types={"version": "string", "split": "string"},
            compression="zstd",
            description=f"{dataset}: committed dataset versions (read only versions with a _MANIFEST.json)",
            boto3_session=session,
        )
    if not wr.catalog.does_table_exist(database=database, table=quarantine_table, boto3_session=session):
        wr.catalog.create_parquet_table(
            database=database,
            table=quarantine_table,
            path=f"s3://{bucket}/{dataset}/quarantine/",
            columns_types={f.name: _athena_type(f.type) for f in quarantine_schema(contract)},
            partitions_types={"version": "string"},
            compression="zstd",
            description=f"{dataset}: rows rejected by ETL, with quarantine_reason",
            boto3_session=session,
        )
    wr.catalog.add_parquet_partitions(
        database=database,
        table=processed_table,
        partitions_values={
            f"s3://{bucket}/{Zones.split_prefix(dataset, version, split)}": [version, split]
            for split in SPLITS
        },
        compression="zstd",
        boto3_session=session,
    )
    wr.catalog.add_parquet_partitions(
        database=database,
        table=quarantine_table,
        partitions_values={f"s3://{bucket}/{Zones.quarantine_prefix(dataset, version)}": [version]},
        compression="zstd",
        boto3_session=session,
    )
    return [processed_table, quarantine_table]
