"""Contract parsing: the churn contract loads, and each kind of bad contract names its problem."""

from __future__ import annotations

import copy

import pytest
import yaml

from prodml.contract import ContractError, FeatureType, Task, load_contract, parse_contract
from tests.conftest import CHURN_CONTRACT

BASE = {
    "name": "toy",
    "version": 1,
    "id": "row_id",
    "target": {"name": "label", "task": "binary_classification"},
    "features": [
        {"name": "age", "type": "int", "nullable": False, "min": 0, "max": 120},
        {"name": "plan", "type": "category", "values": ["basic", "pro"]},
        {"name": "seen_at", "type": "timestamp"},
    ],
    "split": {"train": 0.7, "validation": 0.15, "test": 0.15},
}


def with_changes(**changes) -> dict:
    data = copy.deepcopy(BASE)
    data.update(changes)
    return data


def test_churn_contract_loads_with_every_view_derived_from_it(churn_contract):
    assert churn_contract.name == "customer_churn"
    assert churn_contract.target.task is Task.BINARY
    assert churn_contract.target.metric == "roc_auc"
    assert churn_contract.raw_columns[0] == "customer_id"
    assert churn_contract.raw_columns[-1] == "churned"
    # timestamps enter the model only through derived features
    assert "signup_date" not in churn_contract.model_features
    assert {"signup_year", "signup_month", "autopay"} <= set(churn_contract.numeric_features)
    assert churn_contract.categorical_features == ["plan", "region"]
    schema = churn_contract.arrow_schema()
    assert schema.field("signup_date").type.tz == "UTC"


def test_minimal_contract_parses_and_fingerprint_is_stable():
    a, b = parse_contract(with_changes()), parse_contract(with_changes())
    assert a.fingerprint == b.fingerprint
    assert parse_contract(with_changes(version=2)).fingerprint != a.fingerprint
    assert a.feature("age").type is FeatureType.INT


def test_round_trip_through_yaml_keeps_the_contract(churn_contract):
    assert parse_contract(yaml.safe_load(churn_contract.to_yaml())).fingerprint == churn_contract.fingerprint


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            with_changes(features=[*BASE["features"], {"name": "x", "type": "decimal"}]),
            "unknown type 'decimal'",
        ),
        (
            with_changes(features=[*BASE["features"], {"name": "age", "type": "float"}]),
            "duplicate column 'age'",
        ),
        (with_changes(target=None), "missing target"),
        ({k: v for k, v in BASE.items() if k != "target"}, "missing target"),
        (with_changes(split={"train": 0.7, "validation": 0.2, "test": 0.2}), "split fractions must sum to 1"),
        (with_changes(id="age"), "duplicate column 'age'"),
        (with_changes(features=[{"name": "plan", "type": "category"}]), "needs a non-empty 'values' list"),
        (with_changes(features=[{"name": "t", "type": "string", "min": 1}]), "min/max only apply"),
        (with_changes(target={"name": "label", "task": "ranking"}), "unknown task 'ranking'"),
        (with_changes(colour="blue"), "colour"),
    ],
    ids=[
        "unknown-type",
        "duplicate-column",
        "null-target",
        "missing-target",
        "split-sum",
        "id-clashes",
        "category-without-values",
        "range-on-string",
        "unknown-task",
        "unknown-key",
    ],
)
def test_bad_contract_names_the_problem(data, message):
    with pytest.raises(ContractError) as excinfo:
        parse_contract(data, source="bad.yaml")
    assert message in str(excinfo.value)
    assert "bad.yaml" in str(excinfo.value)


def test_unreadable_contract_files_give_clear_errors(tmp_path):
    with pytest.raises(ContractError, match="contract file not found"):
        load_contract(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: [unclosed\n")
    with pytest.raises(ContractError, match=r"broken\.yaml"):
        load_contract(broken)


def test_contract_file_on_disk_is_the_shipped_one():
    assert load_contract(CHURN_CONTRACT).name == "customer_churn"
