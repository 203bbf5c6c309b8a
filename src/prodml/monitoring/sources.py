"""Where drift detection reads current rows from, chunk by chunk, as the source columns the model-input
encoding takes (:meth:`prodml.encoding.InputEncoding.encode`).

- :func:`capture_chunks`: a time window of captured requests. The capture zone's layout is
  ``<dataset>/date=YYYY-MM-DD/hour=HH/<batch>.jsonl`` (:mod:`prodml.zones`), each line
  ``{captured_at, request_id, model_version, variant, cache_hit, <id>, features: {...}, output: {...}}``
  as the service writes it. A batch lands in the hour it was *written*, which is after its records were
  captured (by up to the service's flush interval, longer on a backlog), so the hours of the window and one
  more are listed, and rows are kept by their own ``captured_at`` in ``[since, until)``.
- :func:`dataset_chunks`: any dataset, parquet or CSV, at an ``s3://`` URI (an object or a prefix) or a local
  path (a file or a folder), with the contract's column names and types (a processed dataset version, a
  landed raw file). Categories are compared canonical (trimmed, case-folded), as ETL and serving compare them.

Both read in bounded memory: a chunk is at most a few tens of megabytes of input, whatever the total. This
module never writes anywhere.
"""

from __future__ import annotations

import io
import json
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq

from prodml import aws
from prodml.contract import Contract, FeatureType, canonical_category
from prodml.encoding import InputEncoding
from prodml.settings import Settings
from prodml.zones import Zones

CHUNK_BYTES = 16 * 1024 * 1024  # JSON lines parsed at a time
BATCH_ROWS = 65_536  # parquet and CSV rows read at a time
UTC = timezone.utc  # noqa: UP017 - one spelling for the whole module


class SourceError(ValueError):
    """A source drift cannot read: nothing there, or not the contract's columns."""


@dataclass
class Chunk:
    columns: dict[str, Any]  # every InputEncoding.source_features name → one value a row
    rows: int


@dataclass
class CaptureStats:
    """What a capture window held, beside the rows compared."""

    objects: int = 0
    rows_read: int = 0
    rows_outside_window: int = 0
    rows_other_model_versions: dict[str, int] = field(default_factory=dict)
    unreadable_lines: int = 0
    variants: dict[str, int] = field(default_factory=dict)
    cache_hits: int = 0


# ---------------------------------------------------------------------------------------------------------
# Arrow → the encoding's source columns
# ---------------------------------------------------------------------------------------------------------


def _feature_type(contract: Contract, name: str) -> FeatureType:
    return contract.feature(name).type


def source_types(contract: Contract) -> dict[str, pa.DataType]:
    """The Arrow type drift reads each source feature as: numbers as float64 (an int as written, a float
    that happens to be whole), bools, timestamps in UTC, categories as strings."""
    types: dict[str, pa.DataType] = {}
    for name in InputEncoding(contract).source_features:
        ftype = _feature_type(contract, name)
        if ftype is FeatureType.BOOL:
            types[name] = pa.bool_()
        elif ftype is FeatureType.TIMESTAMP:
            types[name] = pa.timestamp("us", tz="UTC")
        elif ftype is FeatureType.CATEGORY:
            types[name] = pa.string()
        else:
            types[name] = pa.float64()
    return types


def _canonical(column: pa.ChunkedArray | pa.Array) -> pa.Array:
    """Categories trimmed and case-folded, computed once per distinct value."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    distinct = pc.unique(column)
    canonical = pa.array(
        [None if v is None else canonical_category(v) for v in distinct.to_pylist()], pa.string()
    )
    return canonical.take(pc.index_in(column, distinct))


def table_columns(contract: Contract, table: pa.Table) -> Chunk:
    """A table holding every source feature → the encoding's columns (numbers as float64 with NaN,
    timestamps as UTC datetime64 with NaT, categories as str with None)."""
    columns: dict[str, Any] = {}
    for name, arrow_type in source_types(contract).items():
        column = table.column(name)
        if pa.types.is_string(arrow_type):
            column = _canonical(column.cast(pa.string()))
        elif pa.types.is_timestamp(arrow_type):
            column = column.cast(arrow_type)
        else:
            column = pc.cast(column, pa.float64())
        columns[name] = column.to_numpy(zero_copy_only=False)
    return Chunk(columns, table.num_rows)


# ---------------------------------------------------------------------------------------------------------
# Captured requests
# ---------------------------------------------------------------------------------------------------------


def capture_schema(contract: Contract) -> pa.Schema:
    features = pa.struct([pa.field(n, t) for n, t in source_types(contract).items()])
    return pa.schema(
        [
            ("captured_at", pa.timestamp("us", tz="UTC")),
            ("model_version", pa.int64()),
            ("variant", pa.string()),
            ("cache_hit", pa.bool_()),
            ("features", features),
        ]
    )


def capture_hours(since: datetime, until: datetime) -> list[datetime]:
    """The partition hours to list for ``[since, until)``: every hour it touches, and the one after
    (batches land in the hour they are written, after their records were captured)."""
    hour = since.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    last = until.astimezone(UTC) + timedelta(hours=1)
    hours = []
    while hour < last:
        hours.append(hour)
        hour += timedelta(hours=1)
    return hours


def hour_prefix(dataset: str, hour: datetime) -> str:
    return f"{Zones.capture_prefix(dataset)}date={hour:%Y-%m-%d}/hour={hour:%H}/"


class _ObjectStore:
    """The capture zone's objects below a root: ``s3://bucket[/prefix]`` or a local folder."""

    def __init__(self, root: str, settings: Settings | None):
        self.root = root
        if root.startswith("s3://"):
            self.bucket, self.prefix = aws.split_s3_uri(root)
            if self.prefix and not self.prefix.endswith("/"):
                self.prefix += "/"
            self.s3: Any = aws.client("s3", settings)
        else:
            self.s3 = None
            self.path = Path(root)

    def list(self, prefix: str) -> list[str]:
        if self.s3 is None:
            folder = self.path / prefix
            return (
                sorted(str(p.relative_to(self.path)) for p in folder.glob("*.jsonl"))
                if folder.is_dir()
                else []
            )
        keys = []
        for page in self.s3.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self.prefix + prefix
        ):
            keys += [
                o["Key"][len(self.prefix) :] for o in page.get("Contents", []) if o["Key"].endswith(".jsonl")
            ]
        return sorted(keys)

    def read(self, key: str) -> bytes:
        if self.s3 is None:
            return (self.path / key).read_bytes()
        body: bytes = self.s3.get_object(Bucket=self.bucket, Key=self.prefix + key)["Body"].read()
        return body


def _parse_lines(data: bytes, schema: pa.Schema, stats: CaptureStats) -> pa.Table:
    options = pajson.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore")
    try:
        return pajson.read_json(io.BytesIO(data), parse_options=options)
    except pa.ArrowInvalid:
        pass
    # Some line is broken: parse them one by one, and count the ones that fail.
    tables = []
    for line in data.splitlines():
        if not line.strip():
            continue
        try:
            json.loads(line)
            tables.append(pajson.read_json(io.BytesIO(line), parse_options=options))
        except (ValueError, pa.ArrowInvalid):
            stats.unreadable_lines += 1
    return pa.concat_tables(tables) if tables else schema.empty_table()


def _window_rows(
    table: pa.Table, since: datetime, until: datetime, model_version: int | None, stats: CaptureStats
) -> pa.Table:
    stats.rows_read += table.num_rows
    at = table.column("captured_at")
    inside = pc.and_(
        pc.greater_equal(at, pa.scalar(since, pa.timestamp("us", tz="UTC"))),
        pc.less(at, pa.scalar(until, pa.timestamp("us", tz="UTC"))),
    )
    inside = pc.fill_null(inside, False)
    windowed = table.filter(inside)
    stats.rows_outside_window += table.num_rows - windowed.num_rows
    if model_version is not None:
        served = pc.fill_null(pc.equal(windowed.column("model_version"), model_version), False)
        others = windowed.filter(pc.invert(served))
        for item in pc.value_counts(others.column("model_version")).to_pylist():
            key = str(item["values"])
            stats.rows_other_model_versions[key] = (
                stats.rows_other_model_versions.get(key, 0) + item["counts"]
            )
        windowed = windowed.filter(served)
    for item in pc.value_counts(windowed.column("variant")).to_pylist():
        variant = str(item["values"])
        stats.variants[variant] = stats.variants.get(variant, 0) + item["counts"]
    stats.cache_hits += int(pc.sum(pc.fill_null(windowed.column("cache_hit"), False)).as_py() or 0)
    return windowed


def capture_chunks(
    contract: Contract,
    root: str,
    since: datetime,
    until: datetime,
    *,
    model_version: int | None,
    stats: CaptureStats,
    settings: Settings | None = None,
    on_object: Callable[[int, int], None] = lambda done, total: None,
) -> Iterator[Chunk]:
    """The rows captured for ``contract``'s dataset in ``[since, until)`` below ``root`` (the capture
    bucket as ``s3://<bucket>/``, or a local folder in the same layout), served by ``model_version`` (any
    when None). ``on_object(done, total)`` hears progress over the listed objects."""
    if since.tzinfo is None or until.tzinfo is None:
        raise ValueError("since and until must be timezone-aware")
    if since >= until:
        raise SourceError(f"empty window: since {since.isoformat()} is not before until {until.isoformat()}")
    store = _ObjectStore(root, settings)
    keys = [
        key for hour in capture_hours(since, until) for key in store.list(hour_prefix(contract.name, hour))
    ]
    schema = capture_schema(contract)
    stats.objects = len(keys)
    pending: list[bytes] = []
    size = 0

    def flush() -> Chunk | None:
        data = b"".join(p if p.endswith(b"\n") else p + b"\n" for p in pending)
        pending.clear()
        table = _window_rows(_parse_lines(data, schema, stats), since, until, model_version, stats)
        if not table.num_rows:
            return None
        features = pa.Table.from_struct_array(table.column("features").combine_chunks())
        return table_columns(contract, features)

    for done, key in enumerate(keys, start=1):
        body = store.read(key)
        pending.append(body)
        size += len(body)
        if size >= CHUNK_BYTES:
            size = 0
            chunk = flush()
            if chunk is not None:
                yield chunk
        on_object(done, len(keys))
    if pending:
        chunk = flush()
        if chunk is not None:
            yield chunk


# ---------------------------------------------------------------------------------------------------------
# Any dataset
# ---------------------------------------------------------------------------------------------------------

DATA_SUFFIXES = (".parquet", ".csv")


def _data_files(uri: str, settings: Settings | None) -> list[str]:
    if uri.startswith("s3://"):
        bucket, key = aws.split_s3_uri(uri)
        s3 = aws.client("s3", settings)
        found = []
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=key):
            found += [o["Key"] for o in page.get("Contents", [])]
        if key in found:
            return [uri]
        return [
            f"s3://{bucket}/{k}" for k in sorted(found) if k.endswith(DATA_SUFFIXES) and "/_" not in f"/{k}"
        ]
    path = Path(uri)
    if path.is_file():
        return [str(path)]
    if path.is_dir():
        return [str(p) for p in sorted(path.rglob("*")) if p.is_file() and p.name.endswith(DATA_SUFFIXES)]
    return []


def _batches(path: Path, contract: Contract) -> Iterator[pa.Table]:
    types = source_types(contract)
    if path.name.endswith(".parquet"):
        parquet = pq.ParquetFile(path)
        missing = [n for n in types if n not in parquet.schema_arrow.names]
        if missing:
            raise SourceError(f"{path.name} lacks the contract's columns {missing}")
        for batch in parquet.iter_batches(batch_size=BATCH_ROWS, columns=list(types)):
            yield pa.Table.from_batches([batch])
        return
    header = pacsv.open_csv(path).schema.names
    missing = [n for n in types if n not in header]
    if missing:
        raise SourceError(f"{path.name} lacks the contract's columns {missing}")
    convert = pacsv.ConvertOptions(
        column_types=types,
        include_columns=list(types),
        strings_can_be_null=True,
        true_values=["true", "True", "TRUE", "1"],
        false_values=["false", "False", "FALSE", "0"],
    )
    try:
        reader = pacsv.open_csv(path, convert_options=convert)
        for batch in reader:
            yield pa.Table.from_batches([batch])
    except pa.ArrowInvalid as exc:
        raise SourceError(
            f"{path.name} has a value that is not its contract type ({exc}); drift reads contract-typed "
            "data: run it on the processed dataset, or on a landed file after ETL validates it"
        ) from None


def dataset_chunks(
    contract: Contract,
    uri: str,
    *,
    settings: Settings | None = None,
    on_object: Callable[[int, int], None] = lambda done, total: None,
) -> Iterator[Chunk]:
    """Every row of the parquet and CSV files at ``uri`` (an s3:// object or prefix, a local file or folder;
    files and folders named ``_*`` are skipped, as a dataset version's ``_MANIFEST.json``)."""
    files = _data_files(uri, settings)
    if not files:
        raise SourceError(f"no parquet or CSV files at {uri}")
    with tempfile.TemporaryDirectory(prefix="prodml-drift-") as scratch:
        for done, location in enumerate(files, start=1):
            path = Path(location)
            if location.startswith("s3://"):
                bucket, key = aws.split_s3_uri(location)
                path = Path(scratch) / Path(key).name
                aws.client("s3", settings).download_file(bucket, key, str(path))
            try:
                for table in _batches(path, contract):
                    if table.num_rows:
                        yield table_columns(contract, table)
            finally:
                if location.startswith("s3://"):
                    path.unlink(missing_ok=True)
            on_object(done, len(files))
