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
