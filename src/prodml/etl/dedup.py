"""Duplicates and splits, in bounded memory, deterministically.

**Row order.** Every valid row gets a sequence number ``_seq``: objects in landing order (the landing
record's ``ingested_at``, then sha256; objects without a record come after, by name), rows in file order.

**Exact duplicates** are rows whose every contract column is equal *after* coercion and normalisation
(``" PRO "`` and ``pro`` are the same value), compared by a 64-bit hash of the row's values. One copy is
kept, the others are counted and dropped.

**Duplicate ids** (same id, other values) are resolved by ``quality.duplicate_id_policy``: ``keep_last``
keeps the row with the highest ``_seq`` (the newest landing, then the lowest row in the file), ``keep_first``
the lowest. Exact copies are resolved first, keeping the copy the id policy would pick, so "the last row
landed for an id wins" holds even when that row repeats an older one.

**Bounded memory.** Pass 1 spills valid rows to local Arrow IPC files, one per hash bucket of the id
(``id_hash % buckets``), so all rows of an id share a bucket. Pass 2 resolves one bucket at a time in
memory. The bucket count is chosen from the raw size so a bucket stays near ``bucket_bytes``.

**Split.** ``id_hash`` is FNV-1a (64-bit) over the id's UTF-8 bytes, finished with the splitmix64 mixer.
Its top 53 bits as a fraction in [0, 1) pick the split against the contract's cumulative fractions, so a
row keeps its split across reruns and appends.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc as ipc

from prodml.contract import Contract

FNV_OFFSET = np.uint64(0xCBF29CE484222325)
FNV_PRIME = np.uint64(0x100000001B3)
SEQ = "_seq"
ID_HASH = "_id_hash"


def _splitmix64(h: np.ndarray) -> np.ndarray:
    h = h.copy()
    h ^= h >> np.uint64(30)
    h *= np.uint64(0xBF58476D1CE4E5B9)
    h ^= h >> np.uint64(27)
    h *= np.uint64(0x94D049BB133111EB)
    h ^= h >> np.uint64(31)
    return h


def id_hash(ids: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Stable 64-bit hash of each id (no nulls), vectorised over the Arrow buffers."""
    if isinstance(ids, pa.ChunkedArray):
        ids = ids.combine_chunks()
    ids = ids.cast(pa.large_string())
    n = len(ids)
    if n == 0:
        return np.zeros(0, dtype=np.uint64)
    offsets = np.frombuffer(ids.buffers()[1], dtype=np.int64)[ids.offset : ids.offset + n + 1]
    data = np.frombuffer(ids.buffers()[2], dtype=np.uint8) if ids.buffers()[2] else np.zeros(0, np.uint8)
    starts, lengths = offsets[:-1], np.diff(offsets)
    h = np.full(n, FNV_OFFSET, dtype=np.uint64)
    with np.errstate(over="ignore"):
        if lengths.min() == lengths.max():  # the common case: fixed-width ids, no masking
            width = int(lengths[0])
            matrix = data[starts[0] : starts[0] + n * width].reshape(n, width)  # (n, 0) for empty ids
            for j in range(width):
                h ^= matrix[:, j].astype(np.uint64)
                h *= FNV_PRIME
        else:
            for j in range(int(lengths.max())):
                rows = np.flatnonzero(lengths > j)
                h[rows] = (h[rows] ^ data[starts[rows] + j].astype(np.uint64)) * FNV_PRIME
        return _splitmix64(h)


def unit_interval(hashes: np.ndarray) -> np.ndarray:
    """The top 53 bits as a float in [0, 1)."""
    return (hashes >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))


def assign_split(hashes: np.ndarray, fractions: dict[str, float]) -> np.ndarray:
    """The split name of each row, from its id hash and the contract's fractions (in contract order)."""
    u = unit_interval(hashes)
    names = list(fractions)
    edges = np.cumsum([fractions[name] for name in names])[:-1]
    return np.asarray(names, dtype=object)[np.searchsorted(edges, u, side="right")]


def sample_key(hashes: np.ndarray) -> np.ndarray:
    """A second, independent hash: the profile's deterministic sample keeps the rows with the smallest."""
    return _splitmix64(hashes ^ np.uint64(0x9E3779B97F4A7C15))


def bucket_count(raw_bytes: int, bucket_bytes: int) -> int:
    return max(1, min(4096, math.ceil(raw_bytes / max(bucket_bytes, 1))))


class BucketSpill:
    """Pass 1: valid rows land in one local IPC file per id-hash bucket (memory: one batch at a time)."""

    def __init__(self, directory: Path, buckets: int, schema: pa.Schema):
        self.directory = directory
        self.buckets = buckets
        fields = [pa.field(f.name, f.type) for f in schema]  # validated batches carry nullable fields
        self.schema = pa.schema([*fields, pa.field(SEQ, pa.int64()), pa.field(ID_HASH, pa.uint64())])
        directory.mkdir(parents=True, exist_ok=True)
        self._writers: dict[int, ipc.RecordBatchStreamWriter] = {}
        self._options = ipc.IpcWriteOptions(compression="lz4")

    def path(self, bucket: int) -> Path:
        return self.directory / f"bucket-{bucket:05d}.arrows"

    def add(self, table: pa.Table, seq: np.ndarray, hashes: np.ndarray) -> None:
        table = table.append_column(SEQ, pa.array(seq, pa.int64())).append_column(
            ID_HASH, pa.array(hashes, pa.uint64())
        )
        bucket = (hashes % np.uint64(self.buckets)).astype(np.int64)
        order = np.argsort(bucket, kind="stable")
        table = table.take(order).cast(self.schema)
        bounds = np.searchsorted(bucket[order], np.arange(self.buckets + 1))
        for b in np.flatnonzero(np.diff(bounds)).tolist():  # int keys, not numpy scalars
            writer = self._writers.get(b)
            if writer is None:
                writer = self._writers[b] = ipc.new_stream(
                    str(self.path(b)), self.schema, options=self._options
                )
            writer.write_table(table.slice(bounds[b], bounds[b + 1] - bounds[b]))

    def close(self) -> None:
        for writer in self._writers.values():
            writer.close()
        self._writers.clear()

    def read(self, bucket: int) -> pa.Table | None:
        path = self.path(bucket)
        if not path.exists():
            return None
        with ipc.open_stream(str(path)) as reader:
            table = reader.read_all()
        path.unlink()  # pass 2 frees disk as it goes
        return table


def row_hash(table: pa.Table) -> np.ndarray:
    """A 64-bit hash of each row's values (nulls distinct from any value), vectorised column by column.
    Exact duplicates are rows with equal hashes: one numpy sort instead of a wide multi-column group-by,
    which needs several times the memory."""
    h = np.zeros(table.num_rows, dtype=np.uint64)
    for i, column in enumerate(table.columns):
        values = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
        nulls = np.asarray(values.is_null(), dtype=np.uint64)
        if pa.types.is_string(values.type) or pa.types.is_large_string(values.type):
            part = id_hash(values.fill_null(""))
        elif pa.types.is_floating(values.type):
            part = np.asarray(values.fill_null(0.0), dtype=np.float64).view(np.uint64)
        elif pa.types.is_boolean(values.type):
            part = np.asarray(values.fill_null(False), dtype=np.uint64)
        else:  # ints and timestamps
            part = np.asarray(pc.cast(values, pa.int64()).fill_null(0), dtype=np.int64).view(np.uint64)
        with np.errstate(over="ignore"):
            h = _splitmix64(h ^ (part + nulls * np.uint64(0x9E3779B97F4A7C15) + np.uint64(i)))
    return h


def resolve_duplicates(contract: Contract, table: pa.Table) -> tuple[pa.Table, int, int]:
    """Rows of one bucket → (kept rows in ``_seq`` order, exact duplicates dropped, duplicate ids dropped)."""
    keep_last = contract.quality.duplicate_id_policy == "keep_last"
    pick = "max" if keep_last else "min"
    hashes = row_hash(table.select(contract.raw_columns))
    seq = table.column(SEQ).to_numpy()
    order = np.lexsort((seq, hashes))  # by row hash, then landing order
    ordered = hashes[order]
    boundary = ordered[1:] != ordered[:-1]
    chosen = np.concatenate([boundary, [True]]) if keep_last else np.concatenate([[True], boundary])
    unique = table.take(pa.array(np.sort(order[chosen])))
    per_id = unique.group_by([contract.id], use_threads=False).aggregate([(SEQ, pick)])
    kept = unique.filter(pc.is_in(unique[SEQ], per_id[f"{SEQ}_{pick}"]))
    kept = kept.sort_by(SEQ)
    return kept, table.num_rows - unique.num_rows, unique.num_rows - kept.num_rows
