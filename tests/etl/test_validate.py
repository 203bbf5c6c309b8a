"""Validation and coercion: each column type, null, range and category rule, with its reason code."""

from __future__ import annotations

import pyarrow as pa
import pytest

from prodml.contract import FeatureType
from prodml.etl import validate as v


def text(*values):
    return pa.array(values, pa.string())


def test_int_parsing_accepts_plain_integers_only():
    out, failures = v.coerce_column(
        text("12", "-3", "1.5", "abc", "99999999999999999999", None), FeatureType.INT, nullable=True
    )
    assert out.to_pylist() == [12, -3, None, None, None, None]
    assert [(code, mask.tolist()) for code, mask in failures] == [
        ("invalid_int", [False, False, True, True, True, False])
    ]


def test_float_parsing_rejects_non_finite_and_garbage():
    out, failures = v.coerce_column(
        text("1.5", "1e3", "nan", "inf", "12..5", "1,2.3"), FeatureType.FLOAT, nullable=True
    )
    assert out.to_pylist() == [1.5, 1000.0, None, None, None, None]
    assert failures[0][0] == "invalid_float" and failures[0][1].sum() == 4


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("true", True), ("F", False), ("YES", True), ("n", False), ("1", True), ("0", False), ("maybe", None)],
)
def test_bool_tokens(raw, expected):
    out, failures = v.coerce_column(text(raw), FeatureType.BOOL, nullable=True)
    assert out.to_pylist() == [expected]
    assert bool(failures) == (expected is None)


def test_timestamps_iso8601_utc_by_default_and_offsets_applied():
    out, failures = v.coerce_column(
        text(
            "2020-01-02T03:04:05Z",
            "2020-01-02",
            "2020-01-02 03:04:05",
            "2020-01-02T05:04:05+02:00",
            "2021-13-45",
            "yesterday",
            "2021-02-31",
        ),
        FeatureType.TIMESTAMP,
        nullable=True,
    )
    values = [x.isoformat() if x else None for x in out.to_pylist()]
    assert values[:4] == [
        "2020-01-02T03:04:05+00:00",
        "2020-01-02T00:00:00+00:00",
        "2020-01-02T03:04:05+00:00",
        "2020-01-02T03:04:05+00:00",
    ]
    assert values[4:] == [None, None, None]
    assert failures[0][0] == "invalid_timestamp" and failures[0][1].tolist() == [False] * 4 + [True] * 3


def test_categories_are_trimmed_and_casefolded_like_serving():
    out, failures = v.coerce_column(
        text(" PRO ", "Basic", "platinum", None),
        FeatureType.CATEGORY,
        nullable=False,
        categories=["basic", "pro"],
    )
    assert out.to_pylist() == ["pro", "basic", None, None]
    assert {code: mask.tolist() for code, mask in failures} == {
        "null_not_allowed": [False, False, False, True],
        "unknown_category": [False, False, True, False],
    }


def test_range_checks():
    _, failures = v.coerce_column(
        text("-1", "5", "11"), FeatureType.INT, nullable=False, minimum=0, maximum=10
    )
    assert {code: mask.tolist() for code, mask in failures} == {
        "below_min": [True, False, False],
        "above_max": [False, False, True],
    }


def test_blank_is_null():
    assert v.blank_to_null(text("", "  ", " x ")).to_pylist() == [None, None, "x"]


def test_invalid_utf8_is_flagged_and_kept_as_escapes():
    raw = pa.array([b"ok", b"caf\xe9"], pa.binary())
    decoded, bad = v.decode_utf8(raw)
    assert decoded.to_pylist() == ["ok", None] and bad.tolist() == [False, True]
    assert v.escape_bytes(raw, bad).to_pylist() == ["ok", "caf\\xe9"]


def test_try_cast_nulls_only_the_bad_values():
    values = pa.array([str(i) for i in range(1000)] + ["x"] + ["7"], pa.string())
    out = v.try_cast(values, pa.int64())
    assert out.null_count == 1 and out[1000].as_py() is None and out[1001].as_py() == 7


def test_validate_batch_reports_every_failed_check_and_the_first_as_primary(churn_contract):
    raw = pa.table(
        {
            "customer_id": ["C1", ""],
            "tenure_months": ["1", "-5"],
            "plan": ["basic", "gold"],
            "monthly_spend": ["1", "1"],
            "signup_date": ["2020-01-01", "2020-01-01"],
            "region": ["na", "na"],
            "support_tickets_90d": ["0", "0"],
            "autopay": ["true", "true"],
            "last_login_days": ["1", "1"],
            "churned": ["false", "perhaps"],
        }
    )
    batch = v.validate_batch(churn_contract, raw)
    assert batch.valid.tolist() == [True, False]
    assert batch.primary_reason().tolist() == [None, "customer_id:null_not_allowed"]
    assert batch.all_reasons([1]) == [
        "customer_id:null_not_allowed; tenure_months:below_min; plan:unknown_category; churned:invalid_bool"
    ]
    assert batch.table.schema.field("signup_date").type == pa.timestamp("us", tz="UTC")


def _typed_edge_column(feature, n: int, rng) -> pa.Array:
    """``n`` values of ``feature``'s typed-parquet type: edge cases first, then mostly valid random ones."""
    ftype = feature.type
    if ftype is FeatureType.FLOAT:
        edges = [0.1, -0.0, 5e-324, 1e300, -1e300, float("nan"), float("inf"), float("-inf"), None]
        values = edges + [float(x) for x in rng.normal(50, 20, n - len(edges))]
        return pa.array(values, pa.float64())
    if ftype is FeatureType.INT:
        edges = [10**18, 10**18 - 1, -(10**18), -(10**18) + 1, 2**63 - 1, -(2**63), 0, -1, None]
        return pa.array(edges + [int(x) for x in rng.integers(-2, 150, n - len(edges))], pa.int64())
    if ftype is FeatureType.BOOL:
        return pa.array([None] + [bool(x) for x in rng.integers(0, 2, n - 1)], pa.bool_())
    if ftype is FeatureType.TIMESTAMP:
        first, last = -62167219200000000, 253402300799999999  # 0000-01-01, 9999-12-31T23:59:59.999999
        edges = [first, first - 1, first + 366 * 86400 * 10**6, last, last + 1, 0, 1, -1, None]
        random = [int(x) for x in rng.integers(-(10**16), 4 * 10**15, n - len(edges))]
        return pa.array(edges + random, pa.timestamp("us", tz="UTC"))
    variants = [*feature.categories, *(f" {c.upper()} " for c in feature.categories), "", "unknown", None]
    return pa.array([variants[i % len(variants)] for i in range(n)], pa.string())


def test_typed_columns_validate_exactly_as_their_text_does(churn_contract):
    """A typed parquet column skips the text round trip (coerce_typed); every value, failed check and
    quarantined text must be what the same values written as text give."""
    import numpy as np

    rng = np.random.default_rng(7)
    n = 400
    columns = {churn_contract.id: pa.array([f"C{i}" if i % 50 else " " for i in range(n)], pa.string())}
    for feature in churn_contract.features:
        columns[feature.name] = _typed_edge_column(feature, n, rng)
    typed = pa.table(columns)
    text = pa.table({name: column.cast(pa.string()) for name, column in columns.items()})

    fast = v.validate_batch(churn_contract, typed, with_target=False)
    slow = v.validate_batch(churn_contract, text, with_target=False)

    assert {
        f.name
        for f in churn_contract.features
        if v.coerce_typed(typed.column(f.name).combine_chunks(), f.type, nullable=True) is not None
    }, "no column took the typed path"
    assert fast.table.equals(slow.table)
    assert [(code, mask.tolist()) for code, mask in fast.reasons] == [
        (code, mask.tolist()) for code, mask in slow.reasons
    ]
    assert fast.valid.tolist() == slow.valid.tolist() and not fast.valid.all() and fast.valid.any()
    rows = pa.array(np.arange(n))
    for name in columns:
        assert fast.raw_values(name, rows).equals(slow.raw_values(name, rows)), name


def test_an_int_beyond_float_precision_is_range_checked_not_a_crash():
    """The contract's bounds are floats; 999999999999999999 has no exact float64 (ETL used to raise)."""
    out, failures = v.coerce_column(
        text("999999999999999999", "5", "-999999999999999999"),
        FeatureType.INT,
        nullable=True,
        minimum=0.0,
        maximum=10.0,
    )
    assert out.to_pylist() == [999999999999999999, 5, -999999999999999999]
    assert [(code, mask.tolist()) for code, mask in failures] == [
        ("below_min", [False, False, True]),
        ("above_max", [True, False, False]),
    ]


@pytest.mark.parametrize("kind", [pa.int8(), pa.int32(), pa.uint32(), pa.int64()])
def test_narrower_ints_and_ints_for_a_float_take_the_typed_path_with_the_texts_outcome(kind):
    """Spark writes int32; a float feature may be stored as ints: widened or cast as their text would parse
    (an int beyond 2**53 rounds to the nearest float, as its digits do)."""
    big = 2**53 + 1 if pa.types.is_signed_integer(kind) and kind.bit_width == 64 else 100
    raw = pa.array([0, 7, 100, None, big], kind)
    for ftype in (FeatureType.INT, FeatureType.FLOAT):
        typed = v.coerce_typed(raw, ftype, nullable=False, minimum=1.0, maximum=99.0)
        assert typed is not None, (kind, ftype)
        text = v.coerce_column(
            v.blank_to_null(raw.cast(pa.string())), ftype, nullable=False, minimum=1.0, maximum=99.0
        )
        assert typed[0].equals(text[0]), (kind, ftype)
        assert [(c, m.tolist()) for c, m in typed[1]] == [(c, m.tolist()) for c, m in text[1]], (kind, ftype)
    assert v.coerce_typed(pa.array([1], pa.uint64()), FeatureType.INT, nullable=True) is None  # past int64
