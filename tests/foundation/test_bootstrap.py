"""Local bootstrap against a real moto server: idempotent, and never by accident against real AWS."""

from __future__ import annotations

import boto3
import pytest

from prodml import bootstrap, naming
from tests.conftest import CHURN_CONTRACT

pytestmark = pytest.mark.integration


def test_bootstrap_creates_everything_once(aws_env):
    first = bootstrap.bootstrap(aws_env, ["customer_churn"])
    assert all(item.created for item in first)
    second = bootstrap.bootstrap(aws_env, ["customer_churn"])
    assert [(i.kind, i.name) for i in second] == [(i.kind, i.name) for i in first]
    assert not any(item.created for item in second)

    s3 = boto3.client("s3", endpoint_url=aws_env.endpoint_url)
    buckets = {b["Name"] for b in s3.list_buckets()["Buckets"]}
    assert buckets == {aws_env.bucket(zone) for zone in naming.ZONES}
    for bucket in buckets:
        assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
        block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
        assert all(block.values())
    glue = boto3.client("glue", endpoint_url=aws_env.endpoint_url, region_name="us-east-1")
    assert glue.get_database(Name="prodml_dev_catalog")["Database"]["Name"] == "prodml_dev_catalog"
    ecr = boto3.client("ecr", endpoint_url=aws_env.endpoint_url, region_name="us-east-1")
    repo = ecr.describe_repositories(repositoryNames=["prodml-dev-inference"])["repositories"][0]
    assert repo["imageTagMutability"] == "IMMUTABLE"
    logs = boto3.client("logs", endpoint_url=aws_env.endpoint_url, region_name="us-east-1")
    names = {g["logGroupName"] for g in logs.describe_log_groups()["logGroups"]}
    assert names == {"/prodml-dev-etl", "/prodml-dev-training", "/prodml-dev-inference"}
    sm = boto3.client("sagemaker", endpoint_url=aws_env.endpoint_url, region_name="us-east-1")
    assert sm.describe_model_package_group(ModelPackageGroupName="prodml-dev-customer-churn")


def test_bootstrap_cli_twice_reports_exists(aws_env, cli):
    first = cli("bootstrap", "-c", str(CHURN_CONTRACT))
    second = cli("bootstrap", "-c", str(CHURN_CONTRACT))
    assert first.returncode == second.returncode == 0
    assert "created" in first.stdout and "created" not in second.stdout


def test_bootstrap_refuses_real_aws_without_the_flag(cli):
    env = {"AWS_ENDPOINT_URL": "", "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE", "AWS_SECRET_ACCESS_KEY": "x"}
    result = cli("bootstrap", env=env)
    assert result.returncode == 2
    assert "--yes-real-aws" in result.stderr and "real AWS account" in result.stderr
    demo = cli("demo", env=env)
    assert demo.returncode == 2 and "refuses to run against real AWS" in demo.stderr
