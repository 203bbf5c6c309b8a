"""End to end on a real moto server: ingest → ETL → train → register → approve; a worse candidate is not
approved; rollback restores the previous champion. Plus the second contract (regression) through the same
path, and bad input that registers nothing."""

from __future__ import annotations

import pytest

from prodml import aws
from prodml.contract import load_contract
from prodml.registry import ModelRegistry
from prodml.sample_data import write_sample
from tests.conftest import CHURN_CONTRACT, run_prodml
from tests.training.conftest import HOUSE_CONTRACT, publish_dataset

pytestmark = pytest.mark.integration


def ok(*args: str) -> str:
    result = run_prodml(*args)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_ingest_etl_train_register_gate_and_rollback(training_env, tmp_path, cli):
    """The issue's acceptance path. Ingest, ETL and training run as separate `prodml` processes, as a user
    runs them; the registry commands run in-process to keep the default run short."""
    contract = str(CHURN_CONTRACT)

    def registry_cmd(*args: str) -> str:
        result = cli(*args)
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    data = tmp_path / "churn.csv"
    write_sample(load_contract(CHURN_CONTRACT), data, rows=2500, seed=3)
    ok("ingest", str(data), "--contract", contract)
    ok("etl", "--contract", contract)

    # a weak first model: approved because it clears the floor
    ok("train", "--contract", contract, "--n-estimators", "5", "--max-depth", "2")
    first = registry_cmd("register", "--contract", contract)
    assert "Approved" in first and "first model" in first, first
    # a clearly better one: approved, and now the champion
    ok("train", "--contract", contract, "--n-estimators", "40", "--max-depth", "3")
    better = registry_cmd("register", "--contract", contract)
    assert "Approved" in better and "champion v1" in better
    # a worse one: rejected, the champion is unchanged
    # (the weak configuration again: above the floor, below the champion)
    ok("train", "--contract", contract, "--n-estimators", "5", "--max-depth", "2", "--seed", "7")
    worse = registry_cmd("register", "--contract", contract)
    assert "Rejected" in worse and "worse than the champion" in worse, worse

    registry = ModelRegistry(
        aws.client("sagemaker", training_env), training_env.model_package_group("customer_churn")
    )
    versions = {v.version: v for v in registry.versions()}
    assert [versions[n].status for n in (1, 2, 3)] == ["Approved", "Approved", "Rejected"]
    assert "worse than the champion" in versions[3].approval_description
    assert registry.champion().version == 2

    listing = registry_cmd("models", "list", "--contract", contract)
    assert "roc_auc (test)" in listing and "Rejected" in listing
    assert "roc_auc" in registry_cmd("models", "show", "2", "--contract", contract)

    registry_cmd("models", "rollback", "--contract", contract)
    assert registry.champion().version == 1
    # a person can still approve the rejected one by hand
    registry_cmd("models", "approve", "3", "--reason", "tested in staging", "--contract", contract)
    assert registry.champion().version == 3
    assert registry.describe(3).approval_description == "tested in staging"
    # registering the same job twice is refused
    again = cli("register", "--contract", contract)
    assert again.returncode == 1 and "already registered" in again.stderr


def test_regression_contract_trains_and_registers(training_env, house_contract):
    publish_dataset(training_env, house_contract, rows=2000)
    out = ok("train", "--contract", str(HOUSE_CONTRACT), "--n-estimators", "30")
    assert "metric test:rmse=" in out and "onnx: kept" in out
    registered = ok("register", "--contract", str(HOUSE_CONTRACT))
    assert "Approved" in registered and "rmse" in registered


@pytest.mark.parametrize(
    ("args", "transform", "message", "job_status"),
    [
        (("--family", "xgboost"), None, "unknown model family 'xgboost'", None),
        (
            (),
            lambda split, t: t.slice(0, 0) if split == "train" else t,
            "AlgorithmError: the train split is empty",
            "Failed",
        ),
    ],
)
def test_bad_training_input_registers_nothing(
    training_env, churn_contract, args, transform, message, job_status
):
    """A bad option fails before any job starts; bad data fails the job, whose FailureReason (the
    entrypoint's failure file) is the command's error."""
    publish_dataset(training_env, churn_contract, rows=300, transform=transform)
    result = run_prodml("train", "--contract", str(CHURN_CONTRACT), *args)
    assert result.returncode == 1
    assert message in result.stderr and "Traceback" not in result.stderr
    sm = aws.client("sagemaker", training_env)
    jobs = sm.list_training_jobs()["TrainingJobSummaries"]
    assert [j["TrainingJobStatus"] for j in jobs] == ([job_status] if job_status else [])
    nothing = run_prodml("register", "--contract", str(CHURN_CONTRACT))
    assert nothing.returncode == 1 and "no completed training job" in nothing.stderr
    assert ModelRegistry(sm, training_env.model_package_group(churn_contract.name)).versions() == []


def test_a_channel_with_no_objects_fails_the_job_as_sagemaker_does(training_env, churn_contract):
    publish_dataset(training_env, churn_contract, rows=300, splits=("train", "test"))
    result = run_prodml("train", "--contract", str(CHURN_CONTRACT))
    assert result.returncode == 1
    assert "No S3 objects found" in result.stderr and "channel validation" in result.stderr


def test_only_committed_versions_are_trained_on(training_env, churn_contract):
    publish_dataset(training_env, churn_contract, rows=300, commit=False)
    result = run_prodml("train", "--contract", str(CHURN_CONTRACT))
    assert result.returncode == 1 and "run `prodml etl` first" in result.stderr
