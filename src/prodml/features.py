"""Derived features, computed by this one implementation in ETL (when writing the processed zone) and in
the model-input encoding (:mod:`prodml.encoding`, which training and serving both call), so no two stages
can ever compute them differently.

:func:`derive_values` is the implementation: numpy arithmetic on UTC microseconds since the epoch, the same
for a column of millions of rows (ETL, through :func:`derive_columns`; training's split) and for the one row
of a request (an Arrow compute kernel costs ~10 µs a call, whatever the length, more than a whole single-row
prediction should).

It must stay free of any dataset's column names: everything comes from the contract.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from prodml.contract import ARROW_TYPES, Contract, Derived

MICROS_TYPE = pa.timestamp("us", tz="UTC")
_HOUR = 3_600_000_000
_DAY = 24 * _HOUR


def derive_values(transform: str, micros: np.ndarray) -> np.ndarray:
    """``transform`` of UTC timestamps given as int64 microseconds since the epoch: int64 values (float64
    for ``epoch_days``), one per input, at any length. Fields are those of the UTC calendar; weeks start on
    Monday (0)."""
    if transform == "epoch_days":
        return micros / float(_DAY)
    if transform == "hour":
        return micros // _HOUR % 24
    if transform == "day_of_week":
        return (micros // _DAY + 3) % 7  # 1970-01-01 was a Thursday
    stamps = micros.astype(np.int64, copy=False).view("datetime64[us]")
    if transform == "month":
        return stamps.astype("datetime64[M]").astype(np.int64) % 12 + 1
    years = stamps.astype("datetime64[Y]")
    if transform == "year":
        return years.astype(np.int64) + 1970
    if transform == "day_of_year":
        day_of_year: np.ndarray = (stamps.astype("datetime64[D]") - years).astype(np.int64) + 1
        return day_of_year
    raise ValueError(f"unknown derived transform {transform!r}")


def _compute(derived: Derived, source: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray:
    arrow_type = ARROW_TYPES[derived.type]
    if isinstance(source, pa.Array):
        source = pa.chunked_array([source])
    chunks = []
    for chunk in pc.cast(source, MICROS_TYPE).chunks:
        micros = pc.cast(chunk, pa.int64())
        nulls = chunk.null_count
        if nulls:
            micros = pc.fill_null(micros, 0)
        values = derive_values(derived.transform, micros.to_numpy())
        mask = chunk.is_null().to_numpy(zero_copy_only=False) if nulls else None
        chunks.append(pa.array(values, type=arrow_type, mask=mask))
    return pa.chunked_array(chunks, type=arrow_type)


def derive_columns(contract: Contract, table: pa.Table) -> pa.Table:
    """``table`` with every derived feature of the contract set (appended, or replaced if present).

    Source columns must already be parsed timestamps; a null source gives a null derived value.
    """
    for derived in contract.derived:
        values = _compute(derived, table.column(derived.source))
        if derived.name in table.column_names:
            table = table.set_column(table.column_names.index(derived.name), derived.name, values)
        else:
            table = table.append_column(pa.field(derived.name, ARROW_TYPES[derived.type]), values)
    return table
