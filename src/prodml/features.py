"""Derived features, computed by this one function in ETL (when writing the processed zone) and in serving
(from a request), so training and serving can never compute them differently.

It must stay free of any dataset's column names: everything comes from the contract.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from prodml.contract import ARROW_TYPES, Contract, Derived


def _compute(derived: Derived, source: pa.ChunkedArray | pa.Array) -> pa.Array:
    if derived.transform == "epoch_days":
        micros = pc.cast(pc.cast(source, pa.timestamp("us", tz="UTC")), pa.int64())
        return pc.divide(pc.cast(micros, pa.float64()), 86_400_000_000.0)
    function = {
        "year": pc.year,
        "month": pc.month,
        "day_of_week": pc.day_of_week,
        "day_of_year": pc.day_of_year,
        "hour": pc.hour,
    }[derived.transform]
    return pc.cast(function(source), ARROW_TYPES[derived.type])


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
