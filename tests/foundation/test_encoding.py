"""The one model-input encoding (:mod:`prodml.encoding`): rows given one mapping a row (as serving has them)
and the same rows as Arrow's numpy columns (as training reads a split) encode to the same arrays, and the
joblib frame and the ONNX feed are two forms of those arrays."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pytest

from prodml.contract import parse_contract
from prodml.encoding import InputEncoding
from prodml.features import derive_columns

UTC = dt.UTC
CONTRACT = parse_contract(
    {
        "name": "house_sales",
        "version": 1,
        "id": "listing_id",
        "target": {"name": "price", "task": "regression"},
        "features": [
            {"name": "rooms", "type": "int"},
            {"name": "area", "type": "float"},
            {"name": "listed_at", "type": "timestamp"},
            {"name": "city", "type": "category", "values": ["Paris", "Lyon", "Nice"]},
            {"name": "garden", "type": "bool"},
            {"name": "notes", "type": "string"},
            {"name": "sold_at", "type": "timestamp"},
        ],
        "derived": [
            {"name": "sold_year", "source": "sold_at", "transform": "year"},
            {"name": "listed_month", "source": "listed_at", "transform": "month"},
            {"name": "sold_epoch_days", "source": "sold_at", "transform": "epoch_days"},
        ],
        "split": {"train": 0.8, "validation": 0.1, "test": 0.1},
    }
)
ROWS = [
    {
        "rooms": 3,
        "area": 70.1,
        "listed_at": dt.datetime(2024, 3, 5, 10, tzinfo=UTC),
        "city": "paris",
        "garden": True,
        "notes": "never a model input",
        "sold_at": None,
    },
    {
        "rooms": None,
        "area": None,
        "listed_at": None,
        "city": None,
        "garden": None,
        "notes": None,
        "sold_at": dt.datetime(1969, 12, 31, 23, 30, tzinfo=UTC),
    },
    {
        # Through float64, then float32 (ties to even: 2**60); rounded straight to float32 it is 2**60 + 2**37.
        "rooms": 2**60 + 2**36 + 1,
        "area": 1e-3,
        "listed_at": dt.datetime(2100, 12, 31, tzinfo=UTC),
        "city": "lyon",
        "garden": False,
        "notes": "",
        "sold_at": dt.datetime(2024, 2, 29, 11, 5, tzinfo=UTC),
    },
]


def as_split(rows: list[dict]) -> pa.Table:
    """``rows`` as ETL writes a processed split: typed by the contract, derived columns appended."""
    schema = CONTRACT.arrow_schema(with_target=False, with_derived=False)
    table = pa.Table.from_pylist([{"listing_id": str(i), **r} for i, r in enumerate(rows)], schema=schema)
    return derive_columns(CONTRACT, table)


def same(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal bit for bit (NaN included), in the same dtype and shape."""
    if a.dtype == object:
        return a.dtype == b.dtype and a.shape == b.shape and a.tolist() == b.tolist()
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def test_rows_and_arrow_columns_encode_to_the_same_arrays():
    encoding = InputEncoding(CONTRACT)
    table = as_split(ROWS)
    table = pa.concat_tables([table.slice(0, 1), table.slice(1)])  # a split of two parquet parts
    from_rows = encoding.encode_rows(ROWS)
    from_columns = encoding.encode(
        {name: table.column(name).to_numpy() for name in encoding.source_features}, table.num_rows
    )
    assert same(from_rows.numeric, from_columns.numeric)
    assert from_rows.categorical.keys() == from_columns.categorical.keys()
    for name, column in from_rows.categorical.items():
        assert same(column, from_columns.categorical[name]), name
    # derived features are the processed zone's derived columns, as the float32 the model takes
    for derived in CONTRACT.derived:
        stored = table.column(derived.name).to_numpy(zero_copy_only=False).astype(np.float64)
        assert same(from_rows.columns()[derived.name], stored.astype(np.float32).astype(np.float64))


def test_the_joblib_frame_and_the_onnx_feed_are_two_forms_of_one_encoding():
    inputs = InputEncoding(CONTRACT).encode_rows(ROWS)
    frame, feed = inputs.frame(), inputs.onnx_feed()
    assert list(frame.columns) == CONTRACT.model_features == list(feed)
    for name in CONTRACT.numeric_features:
        assert feed[name].dtype == np.float32 and feed[name].shape == (3, 1), name  # tensor(float) [None, 1]
        assert same(frame[name].to_numpy(), feed[name].reshape(-1).astype(np.float64)), name
    for name in CONTRACT.categorical_features:
        assert feed[name].dtype == object and feed[name].shape == (3, 1)  # tensor(string) [None, 1]
        assert frame[name].tolist() == feed[name].reshape(-1).tolist()
    # the documented values: bool as 0/1, NaN or "" for missing, float32-representable numbers
    assert frame["garden"].tolist()[::2] == [1.0, 0.0] and np.isnan(frame["garden"][1])
    assert frame["city"].tolist() == ["paris", "", "lyon"]
    assert frame["rooms"][2] == 2.0**60 and frame["area"][2] == float(np.float32(1e-3))
    assert np.isnan(frame["sold_year"][0]) and frame["sold_year"].tolist()[1:] == [1969.0, 2024.0]
    assert np.isnan(frame["listed_month"][1]) and "notes" not in feed and "sold_at" not in feed


def test_edges_no_rows_one_source_and_a_missing_field():
    encoding = InputEncoding(CONTRACT)
    empty = encoding.encode_rows([])
    assert empty.numeric.shape == (len(CONTRACT.numeric_features), 0) and len(empty.frame()) == 0
    assert all(v.shape == (0, 1) for v in empty.onnx_feed().values())
    single = parse_contract(
        {**CONTRACT.model_dump(mode="json"), "features": [{"name": "rooms", "type": "int"}], "derived": []}
    )
    assert InputEncoding(single).encode_rows([{"rooms": 4}, {"rooms": None}]).columns()["rooms"][0] == 4.0
    with pytest.raises(KeyError, match="city"):
        encoding.encode_rows([{k: v for k, v in ROWS[0].items() if k != "city"}])


def test_numbers_beyond_float32_are_clipped_to_its_largest_finite_value():
    """Not made infinite: sklearn refuses infinity (a joblib model answered 500), and a linear model would
    make inf - inf a NaN. NaN stays the missing value."""
    biggest = float(np.finfo(np.float32).max)
    rows = [{**ROWS[0], "area": 1e300}, {**ROWS[0], "area": -1e39}, {**ROWS[0], "area": None}]
    area = InputEncoding(CONTRACT).encode_rows(rows).columns()["area"]
    assert area[0] == biggest and area[1] == -biggest and np.isnan(area[2])
