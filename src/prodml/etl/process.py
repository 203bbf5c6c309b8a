"""The ETL core: raw objects → local parquet splits, quarantine, quality report and baseline profile.

It reads nothing but the given raw objects and writes nothing but ``workdir``; publishing to S3 and the
catalog is `prodml.etl.publish`. Memory stays bounded whatever the input size: pass 1 streams batches and
spills valid rows to disk by id-hash bucket; pass 2 resolves duplicates one bucket at a time
(see `prodml.etl.dedup`). It never drops a row without counting it:
``rows_in = rows_out + quarantined + exact_duplicates + duplicate_ids``, or the run fails.

An object that cannot be read to its end (outcome ``unreadable``, see `prodml.etl.read`) is quarantined
whole: none of its rows reach the output, the rows it yielded before failing are set aside (taken back
out of the spill and the quarantine), and it counts as **one** record in and one quarantined record, reason
``unreadable_object``, as a malformed line does (its rows cannot be counted: it could not be read). The
quality gate judges only the rows that could be read: the raw zone is never deleted from, so an
unreadable object that failed the gate would fail every later run too. It is reported instead: in the
report's objects (outcome and cause), in ``quarantined_by_reason`` and in the quarantine.
"""

from __future__ import annotations

import shutil
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from prodml.contract import Contract
from prodml.etl import dedup
from prodml.etl.profile import BaselineProfiler, TableStats
from prodml.etl.read import FileOutcome, RawBatch, RawObject, read_batches
from prodml.etl.validate import validate_batch
from prodml.features import derive_columns
from prodml.zones import SPLITS

QUARANTINE_REASON = "quarantine_reason"
UNREADABLE_OBJECT = "unreadable_object"  # the reason of the one quarantine record of an unreadable object


class QualityGateError(RuntimeError):
    """The data failed the contract's quality gate; nothing was published."""

    def __init__(self, message: str, report: dict):
        super().__init__(message)
        self.report = report


class AccountingError(RuntimeError):
    """Rows in did not equal rows out + quarantined + duplicates: a bug, never published."""


@dataclass(frozen=True)
class EtlOptions:
    bucket_bytes: int = 32 * 1024 * 1024  # raw bytes per dedup bucket: bounds pass-2 memory
    max_rows_per_file: int = 1_000_000
    sample_rows: int = 200_000


@dataclass
class ProcessResult:
    report: dict
    profile: dict
    split_files: dict[str, list[Path]]
    quarantine_files: list[Path]
    workdir: Path  # everything above lives under it
    rows_out: dict[str, int] = field(default_factory=dict)


Progress = Callable[[str, dict], None]


def quarantine_schema(contract: Contract) -> pa.Schema:
    """Quarantined rows as a person can query them: the raw values as text, where they came from, why."""
    fields = [pa.field(name, pa.string()) for name in contract.raw_columns]
    return pa.schema(
        [
            *fields,
            pa.field("raw_record", pa.string()),  # the whole record, when it could not be split into columns
            pa.field("source_object", pa.string()),
            pa.field("source_row", pa.int64()),  # 1-based data row in the object; null for a whole object
            pa.field(QUARANTINE_REASON, pa.string()),  # the first failed check: what the report counts
            pa.field("quarantine_reasons", pa.string()),  # every failed check, '; '-joined; or why unreadable
        ]
    )


class RollingParquetWriter:
    """Parquet files of at most ``max_rows`` rows: ``<directory>/part-00000.parquet``, ..."""

    def __init__(self, directory: Path, schema: pa.Schema, max_rows: int):
        self.directory, self.schema, self.max_rows = directory, schema, max_rows
        self.files: list[Path] = []
        self.rows = 0
        self._writer: pq.ParquetWriter | None = None
        self._in_file = 0

    def write(self, table: pa.Table) -> None:
        while table.num_rows:
            if self._writer is None or self._in_file >= self.max_rows:
                self._roll()
            take = min(table.num_rows, self.max_rows - self._in_file)
            self._writer.write_table(table.slice(0, take))  # type: ignore[union-attr]  # _roll() has just opened it
            self._in_file += take
            self.rows += take
            table = table.slice(take)

    def _roll(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / f"part-{len(self.files):05d}.parquet"
        self._writer = pq.ParquetWriter(path, self.schema, compression="zstd")
        self.files.append(path)
        self._in_file = 0

    def close(self) -> list[Path]:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        return self.files


class _Quarantine:
    def __init__(self, contract: Contract, directory: Path, max_rows: int):
        self.contract = contract
        self.schema = quarantine_schema(contract)
        self.directory, self.max_rows = directory, max_rows
        self.writer = RollingParquetWriter(directory, self.schema, max_rows)
        self.by_reason: Counter = Counter()
        self.by_check: Counter = Counter()
        self.unreadable: list[tuple[str, str]] = []  # (object, cause): one record each, written at close
        self._set_aside: set[str] = set()  # objects whose rows already written must be taken back out

    def counts(self) -> tuple[Counter, Counter]:
        return self.by_reason.copy(), self.by_check.copy()

    def quarantine_whole(self, source: str, cause: str, counts_before: tuple[Counter, Counter]) -> None:
        """Replace whatever ``source`` added since ``counts_before`` by one record for the whole object."""
        if sum(self.by_reason.values()) != sum(counts_before[0].values()):
            self._set_aside.add(source)
        self.by_reason, self.by_check = counts_before
        self.by_reason[UNREADABLE_OBJECT] += 1
        self.by_check[UNREADABLE_OBJECT] += 1
        self.unreadable.append((source, cause))

    def close(self) -> list[Path]:
        if self._set_aside:  # rare: rewrite the quarantine without the set-aside objects' rows
            partial = self.directory.with_name(self.directory.name + ".partial")
            files = self.writer.close()
            self.directory.rename(partial)
            self.writer = RollingParquetWriter(self.directory, self.schema, self.max_rows)
            drop = pa.array(sorted(self._set_aside), pa.string())
            for path in files:
                for batch in pq.ParquetFile(partial / path.name).iter_batches():
                    table = pa.Table.from_batches([batch], schema=self.schema)
                    self.writer.write(table.filter(pc.invert(pc.is_in(table["source_object"], drop))))
            shutil.rmtree(partial)
        if self.unreadable:
            n = len(self.unreadable)
            columns = [pa.nulls(n, pa.string()) for _ in self.contract.raw_columns]
            columns += [
                pa.nulls(n, pa.string()),
                pa.array([source for source, _ in self.unreadable], pa.string()),
                pa.nulls(n, pa.int64()),
                pa.array([UNREADABLE_OBJECT] * n, pa.string()),
                pa.array([f"{UNREADABLE_OBJECT}: {cause}" for _, cause in self.unreadable], pa.string()),
            ]
            self.writer.write(pa.table(columns, schema=self.schema))
        return self.writer.close()

    def add_invalid(self, source: str, batch, source_rows: np.ndarray) -> None:
        bad = np.flatnonzero(~batch.valid)
        if not len(bad):
            return
        primary = batch.primary_reason()[bad]
        self.by_reason.update(primary.tolist())
        for code, mask in batch.reasons:
            self.by_check[code] += int(mask.sum())
        indices = pa.array(bad)
        columns = [batch.raw_values(name, indices) for name in self.contract.raw_columns]
        n = len(bad)
        columns += [
            pa.nulls(n, pa.string()),
            pa.array([source] * n, pa.string()),
            pa.array(source_rows[bad], pa.int64()),
            pa.array(primary.tolist(), pa.string()),
            pa.array(batch.all_reasons(bad), pa.string()),
        ]
        self.writer.write(pa.table(columns, schema=self.schema))

    def add_rejected(self, source: str, rejected: list[tuple[str, str, int | None]]) -> None:
        if not rejected:
            return
        n = len(rejected)
        reasons = [code for code, _, _ in rejected]
        self.by_reason.update(reasons)
        self.by_check.update(reasons)
        columns = [pa.nulls(n, pa.string()) for _ in self.contract.raw_columns]
        columns += [
            pa.array([text for _, text, _ in rejected], pa.string()),
            pa.array([source] * n, pa.string()),
            pa.array([row for _, _, row in rejected], pa.int64()),
            pa.array(reasons, pa.string()),
            pa.array(reasons, pa.string()),
        ]
        self.writer.write(pa.table(columns, schema=self.schema))


def _output_schema(contract: Contract) -> pa.Schema:
    return contract.arrow_schema()


def process(
    contract: Contract,
    sources: list[RawObject],
    workdir: Path,
    *,
    dataset_version: str,
    options: EtlOptions = EtlOptions(),
    progress: Progress | None = None,
) -> ProcessResult:
    """Run both passes over ``sources`` (in landing order) into ``workdir``; raise on a failed gate."""
    emit = progress or (lambda event, data: None)
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    sources = sorted(sources, key=lambda s: s.order)
    total_bytes = sum(s.size for s in sources)
    buckets = dedup.bucket_count(total_bytes, options.bucket_bytes)
    spill = dedup.BucketSpill(workdir / "spill", buckets, contract.arrow_schema(with_derived=False))
    quarantine = _Quarantine(contract, workdir / "quarantine", options.max_rows_per_file)
    outcomes: list[FileOutcome] = []
    seq = 0
    set_aside: list[tuple[int, int]] = []  # [start, end) of the _seq of rows of unreadable objects

    # ---- pass 1: read, validate, coerce, quarantine, spill by id bucket -------------------------------
    emit("start", {"objects": len(sources), "bytes": total_bytes, "buckets": buckets})
    for source in sources:
        outcome = FileOutcome(name=source.name, sha256=source.sha256, format=source.fmt, landed=source.landed)
        first_seq, counts_before = seq, quarantine.counts()
        batch: RawBatch
        for batch in read_batches(source, contract, outcome):
            if batch.table is not None and batch.table.num_rows:
                validated = validate_batch(contract, batch.table)
                valid = np.flatnonzero(validated.valid)
                if len(valid):
                    rows = validated.table.filter(pa.array(validated.valid))
                    spill.add(rows, seq + valid, dedup.id_hash(rows.column(contract.id)))
                quarantine.add_invalid(source.name, validated, batch.source_rows)
                seq += batch.table.num_rows
            quarantine.add_rejected(source.name, batch.rejected)
            emit("rows", {"object": source.name, "rows": outcome.rows_in})
        if outcome.outcome == "unreadable":  # quarantined whole (see the module docstring)
            if seq > first_seq:
                set_aside.append((first_seq, seq))
            quarantine.quarantine_whole(source.name, outcome.detail, counts_before)
            outcome.rows_in = 1
        outcomes.append(outcome)
        emit("object", {"object": source.name, "bytes": source.size, "outcome": outcome.outcome})
    spill.close()
    quarantine_files = quarantine.close()

    # ---- pass 2: resolve duplicates per bucket, split, derive, write, profile ------------------------
    schema = _output_schema(contract)
    writers = {
        s: RollingParquetWriter(workdir / f"split={s}", schema, options.max_rows_per_file) for s in SPLITS
    }
    stats = TableStats(contract)
    profiler = BaselineProfiler(contract, options.sample_rows)
    exact_dups = id_dups = 0
    for bucket in range(buckets):
        table = spill.read(bucket)
        if table is not None and set_aside:
            table = table.filter(pa.array(~_in_ranges(table.column(dedup.SEQ).to_numpy(), set_aside)))
        if table is None or not table.num_rows:
            continue
        kept, exact, by_id = dedup.resolve_duplicates(contract, table)
        del table
        exact_dups, id_dups = exact_dups + exact, id_dups + by_id
        hashes = kept.column(dedup.ID_HASH).to_numpy()
        split = dedup.assign_split(hashes, contract.split.as_dict())
        out = derive_columns(contract, kept.drop_columns([dedup.SEQ, dedup.ID_HASH]))
        out = out.select(schema.names).cast(schema)
        stats.add(out)
        for name in SPLITS:
            mask = split == name
            if not mask.any():
                continue
            part = out.filter(pa.array(mask))
            writers[name].write(part)
            if name == "train":
                profiler.add(part, dedup.sample_key(hashes[mask]))
        emit("bucket", {"bucket": bucket + 1, "buckets": buckets})
    split_files = {name: writer.close() for name, writer in writers.items()}
    shutil.rmtree(workdir / "spill", ignore_errors=True)

    rows_out = {name: writers[name].rows for name in SPLITS}
    report = quality_report(
        contract,
        dataset_version=dataset_version,
        outcomes=outcomes,
        rows_out=rows_out,
        quarantine=quarantine,
        exact_dups=exact_dups,
        id_dups=id_dups,
        column_stats=stats.summary(),
    )
    profile = profiler.finish(
        dataset=contract.name,
        version=dataset_version,
        fingerprint=contract.fingerprint,
        train_files=split_files["train"],
    )
    return ProcessResult(
        report=report,
        profile=profile,
        split_files=split_files,
        quarantine_files=quarantine_files,
        workdir=workdir,
        rows_out=rows_out,
    )


def _in_ranges(values: np.ndarray, ranges: list[tuple[int, int]]) -> np.ndarray:
    inside = np.zeros(len(values), dtype=bool)
    for start, end in ranges:
        inside |= (values >= start) & (values < end)
    return inside


def quality_report(
    contract: Contract,
    *,
    dataset_version: str,
    outcomes: list[FileOutcome],
    rows_out: dict[str, int],
    quarantine: _Quarantine,
    exact_dups: int,
    id_dups: int,
    column_stats: dict,
) -> dict:
    """The accounting of one run. Raises AccountingError when rows do not add up, QualityGateError when
    the reject fraction is over the contract's limit or nothing valid is left.

    An unreadable object is one record in and one quarantined, so the books balance; the reject fraction
    and the gate leave it out (see the module docstring)."""
    rows_in = sum(o.rows_in for o in outcomes)
    quarantined = sum(quarantine.by_reason.values())
    out = sum(rows_out.values())
    unreadable = quarantine.by_reason[UNREADABLE_OBJECT]
    read_in, rejected = rows_in - unreadable, quarantined - unreadable  # the rows that could be read
    reject_fraction = rejected / read_in if read_in else 1.0
    limit = contract.quality.max_reject_fraction
    report = {
        "dataset": contract.name,
        "dataset_version": dataset_version,
        "contract": {
            "name": contract.name,
            "version": contract.version,
            "fingerprint": contract.fingerprint,
        },
        "rows": {
            "in": rows_in,
            "out": out,
            "quarantined": quarantined,
            "exact_duplicates_dropped": exact_dups,
            "duplicate_ids_dropped": id_dups,
            "duplicate_id_policy": contract.quality.duplicate_id_policy,
            "by_split": rows_out,
        },
        "balanced": rows_in == out + quarantined + exact_dups + id_dups,
        "quarantined_by_reason": dict(quarantine.by_reason.most_common()),
        "failed_checks": dict(quarantine.by_check.most_common()),
        "reject_fraction": reject_fraction,
        "gate": {
            "max_reject_fraction": limit,
            "passed": read_in > 0 and out > 0 and reject_fraction <= limit,
        },
        "objects": [asdict(o) for o in outcomes],
        "columns": column_stats,
    }
    if not report["balanced"]:
        raise AccountingError(
            f"rows do not add up: in {rows_in:,} ≠ out {out:,} + quarantined {quarantined:,} "
            f"+ exact duplicates {exact_dups:,} + duplicate ids {id_dups:,}"
        )
    if read_in == 0:
        raise QualityGateError(
            f"no rows to process for {contract.name!r}: "
            + ("; ".join(f"{o.name}: {o.outcome} ({o.detail})" for o in outcomes) or "the raw zone is empty"),
            report,
        )
    if reject_fraction > limit or out == 0:
        reasons = [(k, v) for k, v in quarantine.by_reason.most_common() if k != UNREADABLE_OBJECT]
        top = ", ".join(f"{k} {v:,}" for k, v in reasons[:3])
        raise QualityGateError(
            f"quality gate failed for {contract.name!r}: {rejected:,} of {read_in:,} rows rejected "
            f"({reject_fraction:.2%} > max_reject_fraction {limit:.2%}); top reasons: {top}. Nothing was published.",
            report,
        )
    return report
