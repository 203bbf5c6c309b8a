"""`prodml models promote` against a real moto server: an Approved dev version becomes an Approved prod
version, with its artifact and report copied to prod's bucket and the same image digest in prod's
repository; a second promotion is a no-op; what must not be promoted is refused."""

from __future__ import annotations

import json

import pytest

from prodml import aws
from prodml.bootstrap import bootstrap
from prodml.registry import APPROVED, PENDING, ModelRegistry
from prodml.release import record_image
from prodml.settings import Settings
from prodml.zones import Zones
from tests.conftest import CHURN_CONTRACT, run_prodml

pytestmark = pytest.mark.integration


@pytest.fixture
def dev_and_prod(aws_env, churn_contract):
    prod = Settings(env="prod")
    for settings in (aws_env, prod):
        bootstrap(settings, [churn_contract.name])
    return aws_env, prod


def _register_in_dev(dev: Settings, dataset: str, status: str, job: str = "job-1"):
    s3, zones = aws.client("s3", dev), Zones(dev)
    bucket = zones.bucket("artifacts")
    s3.put_object(Bucket=bucket, Key=zones.model_artifact_key(job), Body=b"model bytes " + job.encode())
    s3.put_object(Bucket=bucket, Key=zones.metrics_key(job), Body=b'{"test": {"roc_auc": 0.8}}')
    s3.put_object(Bucket=bucket, Key=zones.report_prefix(job) + "model_card.md", Body=b"# card")
    digest = record_image(dev)["digest"]
    return ModelRegistry(aws.client("sagemaker", dev), dev.model_package_group(dataset)).register(
        model_data_url=zones.uri("artifacts", zones.model_artifact_key(job)),
        image_uri=f"123456789012.dkr.ecr.us-east-1.amazonaws.com/{dev.ecr_repository}@{digest}",
        metrics_uri=zones.uri("artifacts", zones.metrics_key(job)),
        summary={"job": job},
        metadata={"training_job": job},
        status=status,
    )


def _promote(source_arn: str) -> tuple[int, str, str]:
    result = run_prodml(
        "models", "promote", source_arn, "--contract", str(CHURN_CONTRACT), "--reason", "reviewed", "--json",
        env={"PRODML_ENV": "prod"},
    )  # fmt: skip
    return result.returncode, result.stdout, result.stderr


def test_an_approved_dev_version_is_promoted_to_prod_once(dev_and_prod, churn_contract):
    dev, prod = dev_and_prod
    source = _register_in_dev(dev, churn_contract.name, APPROVED)
    prod_registry = ModelRegistry(
        aws.client("sagemaker", prod), prod.model_package_group(churn_contract.name)
    )
    assert prod_registry.champion() is None, "prod serves nothing a dev approval made"

    code, out, err = _promote(source.arn)
    assert code == 1 and "promote the image first" in err, "the image must reach prod's repository first"
    record_image(prod)  # the deploy workflow copies the image by digest; here, the same manifest

    code, out, err = _promote(source.arn)
    assert code == 0, out + err
    promoted = json.loads(out)
    assert promoted["already_promoted"] is False and promoted["status"] == APPROVED
    champion = prod_registry.champion()
    assert champion is not None and champion.arn == promoted["model_package_arn"]
    assert champion.model_data_url == Zones(prod).uri("artifacts", Zones.model_artifact_key("job-1"))
    s3 = aws.client("s3", prod)
    copied = s3.get_object(Bucket=prod.bucket("artifacts"), Key=Zones.model_artifact_key("job-1"))[
        "Body"
    ].read()
    assert copied == b"model bytes job-1"
    assert s3.head_object(Bucket=prod.bucket("artifacts"), Key=Zones.report_prefix("job-1") + "model_card.md")
    described = aws.client("sagemaker", prod).describe_model_package(ModelPackageName=champion.arn)
    image = described["InferenceSpecification"]["Containers"][0]["Image"]
    assert f"/{prod.ecr_repository}@sha256:" in image
    assert source.arn in champion.approval_description

    again = json.loads(_promote(source.arn)[1])
    assert again["already_promoted"] is True and again["model_package_arn"] == promoted["model_package_arn"]
    assert len(prod_registry.versions()) == 1


def test_what_must_not_be_promoted_is_refused(dev_and_prod, churn_contract):
    dev, prod = dev_and_prod
    record_image(prod)
    pending = _register_in_dev(dev, churn_contract.name, PENDING)
    code, _, err = _promote(pending.arn)
    assert code == 1 and "only an Approved version" in err
    prod_version = ModelRegistry(aws.client("sagemaker", prod), prod.model_package_group(churn_contract.name))
    own = _register_in_dev(prod, churn_contract.name, APPROVED, job="job-2")
    code, _, err = _promote(own.arn)
    assert code == 1 and "promotion goes between environments" in err
    assert [v.version for v in prod_version.versions()] == [own.version]
