"""Read raw objects as a stream of batches, whatever shape they arrived in, without losing a row.

A raw object is read in blocks (pyarrow), never whole. Every contract column comes out as raw bytes (CSV)
or as text (JSON lines, parquet); `prodml.etl.validate` does all parsing, so every format obeys the same
rules. What cannot become a row of the contract is reported, never dropped silently:

- an empty object, or one with a header and no rows: outcome ``empty`` (0 rows);
- a header that lacks contract columns (a wrong header, missing columns): outcome ``header_mismatch``;
  every row is still read and handed on as a *rejected* row with its fields as JSON, so each is counted
  and quarantined;
- a line with the wrong number of fields (a truncated last line, a stray delimiter): a *malformed* row,
  kept with its raw text;
- extra columns are not part of the contract: they are ignored and listed in the report;
- JSON lines are parsed line by line: an absent key is a null, a line that is no JSON object is malformed;
- an object whose bytes cannot be read to the end (a corrupt parquet file, a CSV field larger than a read
  block): outcome ``unreadable``, with the cause. Rows it yielded before the failure have already been
  handed on; the caller sets them aside (`prodml.etl.process` quarantines the object whole). A failure of
  the surroundings (S3, the network, the local disk) is no property of the object: it raises
  :class:`RawReadError`, or the original error, and fails the run, which a rerun may then complete.

CSV header names are matched after trimming surrounding whitespace (``" customer_id "`` is
``customer_id``); a UTF-8 byte order mark is skipped; quoted fields may hold delimiters and newlines.

Every row carries its *data row*: its 1-based position among the object's records, the header and blank
lines not counted and a quoted field's newlines not starting a record (for JSON lines, the n-th non-blank
line). Malformed and rejected rows count too, so a bad line never shifts the rows after it.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from prodml.contract import Contract

FORMATS = {"csv": "csv", "jsonl": "jsonl", "ndjson": "jsonl", "json": "jsonl", "parquet": "parquet"}
# Small read blocks keep the CSV reader's own buffers small (its RSS grows with block size, ~50x at 8 MB);
# blocks are then coalesced so each validated batch is big enough to amortise the per-batch overhead.
BLOCK_BYTES = 2 * 1024 * 1024
BATCH_ROWS = 65_536
HEADER_PEEK_BYTES = 1024 * 1024
JSONL_BATCH_ROWS = 65_536


class RawReadError(RuntimeError):
    """A raw object that could not be read to its end for a reason outside it (the network, the local disk);
    its message names the object and the cause."""


@dataclass(frozen=True)
class RawObject:
    """One object of the raw zone, in landing order (``order``), with a way to open its bytes."""

    name: str  # s3 URI or local path: what the report and the quarantine point back to
    sha256: str
    size: int
    fmt: str | None  # None: an extension ETL cannot read
    opener: Callable[[], BinaryIO]
    order: int = 0
    landed: bool = True  # False: no landing record (it reached the raw zone some other way)


@dataclass
class FileOutcome:
    name: str
    sha256: str
    format: str | None
    outcome: str = "ok"  # ok | empty | header_mismatch | unsupported_format | unreadable
    detail: str = ""
    rows_in: int = 0
    extra_columns: list[str] = field(default_factory=list)
    landed: bool = True


@dataclass
class RawBatch:
    """Rows of one object. ``table`` holds the contract columns (for a normal object); ``rejected`` holds
    rows that cannot be validated at all (malformed lines, rows of a header-mismatched object) as text."""

    table: pa.Table | None
    source_rows: np.ndarray  # the data row (1-based, in the object) of each row of ``table``
    # (reason code, raw record text, its data row in the object)
    rejected: list[tuple[str, str, int | None]] = field(default_factory=list)


def format_of(name: str) -> str | None:
    return FORMATS.get(name.rsplit(".", 1)[-1].lower()) if "." in name.rsplit("/", 1)[-1] else None


def csv_header(prefix: bytes) -> list[str]:
    """The column names of a CSV from its first bytes (BOM and quoted names handled)."""
    text = prefix.decode("utf-8-sig", errors="replace")
    row = next(csv.reader(io.StringIO(text)), [])
    return [name.strip() for name in row]


def read_batches(raw: RawObject, contract: Contract, outcome: FileOutcome) -> Iterator[RawBatch]:
    """Stream one raw object as batches; fills ``outcome`` as it goes."""
    if raw.fmt is None:
        outcome.outcome = "unsupported_format"
        outcome.detail = "unknown file extension (ETL reads .csv, .jsonl/.ndjson and .parquet)"
        return
    if raw.size == 0:
        outcome.outcome, outcome.detail = "empty", "the object has no bytes"
        return
    reader = {"csv": _csv_batches, "jsonl": _jsonl_batches, "parquet": _parquet_batches}[raw.fmt]
    try:
        yield from reader(raw, contract, outcome)
    except Exception as exc:
        if not _object_is_at_fault(exc):
            if isinstance(exc, OSError):
                raise RawReadError(
                    f"{raw.name}: cannot be read past row {outcome.rows_in:,}: {exc}"
                ) from None
            raise
        outcome.outcome = "unreadable"
        outcome.detail = f"cannot be read past data row {outcome.rows_in:,}: {type(exc).__name__}: {exc}"
        return
    if outcome.rows_in == 0 and outcome.outcome == "ok":
        outcome.outcome, outcome.detail = "empty", "a header but no rows"


def _object_is_at_fault(exc: Exception) -> bool:
    """True when the object's own bytes make the read fail (a parse error, a corrupt file): reading it again
    fails again. False for the surroundings (network, S3, local disk, memory), where a rerun may succeed."""
    if isinstance(exc, (MemoryError, ConnectionError, TimeoutError, socket.timeout)):
        return False
    if isinstance(exc, OSError):
        return exc.errno is None  # pyarrow reports corrupt data as an OSError without an errno
    return isinstance(exc, (pa.ArrowException, UnicodeError, csv.Error))


def _check_header(header: list[str], contract: Contract, outcome: FileOutcome) -> bool:
    expected = contract.raw_columns
    missing = [c for c in expected if c not in header]
    outcome.extra_columns = [c for c in header if c not in expected]
    duplicated = sorted({c for c in header if header.count(c) > 1 and c in expected})
    if missing or duplicated:
        outcome.outcome = "header_mismatch"
        problems = [f"missing column(s) {', '.join(missing)}"] if missing else []
        problems += [f"repeated column(s) {', '.join(duplicated)}"] if duplicated else []
        outcome.detail = "; ".join(problems) + f" (header: {', '.join(header)[:300]})"
        return False
    return True


def _records_as_text(table: pa.Table) -> list[str]:
    columns = {name: table.column(i).to_pylist() for i, name in enumerate(table.column_names)}
    records = []
    for i in range(table.num_rows):
        record = {}
        for name, values in columns.items():
            value = values[i]
            record[name] = value.decode("utf-8", "backslashreplace") if isinstance(value, bytes) else value
        records.append(json.dumps(record, default=str, ensure_ascii=False))
    return records


def _csv_batches(raw: RawObject, contract: Contract, outcome: FileOutcome) -> Iterator[RawBatch]:
    with raw.opener() as stream:
        header = csv_header(stream.read(HEADER_PEEK_BYTES))
    if not header or header == [""]:
        outcome.outcome, outcome.detail = "empty", "no header line"
        return
    ok = _check_header(header, contract, outcome)
    malformed: list[pacsv.InvalidRow] = []

    def keep_malformed(row: pacsv.InvalidRow) -> str:
        malformed.append(row)
        return "skip"

    # Positional names, the header line skipped: columns are found by the trimmed names the header check
    # matched, and a wrong header (which may repeat names) still has every row read and kept.
    positions = [f"column_{i + 1}" for i in range(len(header))]
    names = [positions[header.index(name)] for name in contract.raw_columns] if ok else positions
    # Serial parsing: only then does pyarrow number the rows it skips, which places the rows it keeps.
    read_options = pacsv.ReadOptions(
        block_size=BLOCK_BYTES, column_names=positions, skip_rows=1, use_threads=False
    )
    convert = pacsv.ConvertOptions(
        column_types=dict.fromkeys(names, pa.binary()),
        include_columns=names,
        strings_can_be_null=False,
        quoted_strings_can_be_null=False,
    )
    parse = pacsv.ParseOptions(newlines_in_values=True, invalid_row_handler=keep_malformed)
    data_rows = _DataRows()
    with raw.opener() as stream:
        reader = pacsv.open_csv(
            stream, read_options=read_options, parse_options=parse, convert_options=convert
        )
        for table in _coalesced(reader, BATCH_ROWS):
            # pyarrow numbers records from 1 with the header as record 1
            data_rows.skip([r.number - 1 for r in malformed])
            rejected: list[tuple[str, str, int | None]] = [
                ("malformed_row", r.text, r.number - 1) for r in malformed
            ]
            malformed.clear()
            source_rows = data_rows.take(table.num_rows)
            outcome.rows_in += table.num_rows + len(rejected)
            if ok:
                table = table.rename_columns(contract.raw_columns)
                yield RawBatch(table=table, source_rows=source_rows, rejected=rejected)
            else:
                if len(set(header)) == len(header):
                    table = table.rename_columns(header)
                texts = _records_as_text(table)
                rejected += [("header_mismatch", t, int(source_rows[i])) for i, t in enumerate(texts)]
                yield RawBatch(table=None, source_rows=_NO_ROWS, rejected=rejected)
        if malformed:
            outcome.rows_in += len(malformed)
            rejected = [("malformed_row", r.text, r.number - 1) for r in malformed]
            yield RawBatch(table=None, source_rows=_NO_ROWS, rejected=rejected)


_NO_ROWS = np.zeros(0, dtype=np.int64)


class _DataRows:
    """The data row of each row the CSV reader keeps, given the data rows of the rows it skipped."""

    def __init__(self) -> None:
        self.next = 1  # the first data row not yet placed
        self.skipped = _NO_ROWS  # skipped data rows from ``next`` on, sorted

    def skip(self, rows: list[int]) -> None:
        if rows:
            self.skipped = np.sort(np.concatenate([self.skipped, np.asarray(rows, dtype=np.int64)]))

    def take(self, n: int) -> np.ndarray:
        """The data rows of the next ``n`` kept rows: the first ``n`` from ``next`` on that were not skipped."""
        # kept[i]: how many kept rows come before skipped row i; kept row j lies after every skipped row i
        # with kept[i] <= j.
        kept = self.skipped - self.next - np.arange(len(self.skipped))
        j = np.arange(n, dtype=np.int64)
        rows = self.next + j + np.searchsorted(kept, j, side="right")
        if n:
            self.next = int(rows[-1]) + 1
            self.skipped = self.skipped[self.skipped >= self.next]
        return rows


def _coalesced(batches: Iterator[pa.RecordBatch], rows: int) -> Iterator[pa.Table]:
    pending: list[pa.RecordBatch] = []
    count = 0
    for batch in batches:
        pending.append(batch)
        count += batch.num_rows
        if count >= rows:
            yield pa.Table.from_batches(pending)
            pending, count = [], 0
    if pending:
        yield pa.Table.from_batches(pending)


def _as_text(table: pa.Table) -> pa.Table:
    columns = []
    for column in table.columns:
        if pa.types.is_string(column.type) or pa.types.is_binary(column.type):
            columns.append(column)
        elif pa.types.is_nested(column.type):
            columns.append(
                pa.chunked_array(
                    [
                        pa.array(
                            [json.dumps(v) if v is not None else None for v in column.to_pylist()],
                            pa.string(),
                        )
                    ]
                )
            )
        else:
            columns.append(column.cast(pa.string()))
    return pa.table(columns, names=table.column_names)


def _structured_batches(
    batches: Iterator[pa.RecordBatch], header: list[str], contract: Contract, outcome: FileOutcome
) -> Iterator[RawBatch]:
    header = [name.strip() for name in header]  # matched as a CSV header is
    ok = _check_header(header, contract, outcome)
    row = 1
    for batch in batches:
        table = _as_text(pa.Table.from_batches([batch])).rename_columns(header)
        outcome.rows_in += table.num_rows
        source_rows = np.arange(row, row + table.num_rows, dtype=np.int64)
        if ok:
            yield RawBatch(table=table.select(contract.raw_columns), source_rows=source_rows)
        else:
            texts = _records_as_text(table)
            yield RawBatch(
                table=None,
                source_rows=_NO_ROWS,
                rejected=[("header_mismatch", t, int(source_rows[i])) for i, t in enumerate(texts)],
            )
        row += table.num_rows


def _jsonl_batches(raw: RawObject, contract: Contract, outcome: FileOutcome) -> Iterator[RawBatch]:
    """JSON lines, parsed line by line (types may differ from line to line, so no schema is inferred):
    absent keys are nulls, extra keys are ignored, a line that is not a JSON object is a malformed row."""
    names = contract.raw_columns
    extra: set[str] = set()
    row = 0  # data rows so far: non-blank lines
    with raw.opener() as stream:
        # An S3 body is a urllib3 response. urllib3 1.x (botocore's on Python < 3.10, so in Glue) closes it
        # once read to the end, and TextIOWrapper then raises instead of seeing EOF: urllib3 documents
        # auto_close = False for reading a response through io.TextIOWrapper. (The with block closes it.)
        if hasattr(stream, "auto_close"):
            stream.auto_close = False
        lines = io.TextIOWrapper(stream, encoding="utf-8-sig", errors="backslashreplace", newline="\n")
        while True:
            chunk = list(itertools.islice(lines, JSONL_BATCH_ROWS))
            if not chunk:
                break
            columns: dict[str, list] = {name: [] for name in names}
            source_rows = []
            rejected: list[tuple[str, str, int | None]] = []
            for line in chunk:
                if not line.strip():
                    continue
                row += 1
                try:
                    record = json.loads(line)
                except (ValueError, RecursionError):  # not JSON, or nested too deep to parse
                    record = None
                if not isinstance(record, dict):
                    rejected.append(("malformed_row", line.rstrip("\n"), row))
                    continue
                extra.update(k for k in record if k not in names)
                for name in names:
                    columns[name].append(_json_text(record.get(name)))
                source_rows.append(row)
            table = pa.table({name: pa.array(values, pa.string()) for name, values in columns.items()})
            outcome.rows_in += table.num_rows + len(rejected)
            yield RawBatch(
                table=table, source_rows=np.asarray(source_rows, dtype=np.int64), rejected=rejected
            )
    outcome.extra_columns = sorted(extra)


def _json_text(value) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value)


def _parquet_batches(raw: RawObject, contract: Contract, outcome: FileOutcome) -> Iterator[RawBatch]:
    with raw.opener() as stream:
        data = stream if stream.seekable() else io.BytesIO(stream.read())
        parquet = pq.ParquetFile(data)
        yield from _structured_batches(
            parquet.iter_batches(batch_size=65_536), parquet.schema_arrow.names, contract, outcome
        )
