"""The naming convention, `{project}-{env}-{purpose}`, computed in one place."""

from __future__ import annotations

import pytest

from prodml import naming
from prodml.settings import Settings


def test_every_resource_follows_project_env_purpose():
    assert naming.bucket_name("prodml", "dev", "raw") == "prodml-dev-raw"
    assert naming.glue_database_name("prodml", "prod") == "prodml_prod_catalog"
    assert naming.ecr_repository_name("prodml", "dev") == "prodml-dev-inference"
    assert naming.log_group_name("prodml", "dev", "etl") == "/prodml-dev-etl"
    assert naming.model_package_group_name("prodml", "dev", "customer_churn") == "prodml-dev-customer-churn"
    assert naming.glue_job_name("prodml", "dev", "customer_churn") == "prodml-dev-etl-customer-churn"


def test_settings_use_the_convention():
    s = Settings(project="acme", env="prod", endpoint_url="http://127.0.0.1:4566")
    assert s.bucket("capture") == "acme-prod-capture"
    assert s.model_package_group("customer_churn") == "acme-prod-customer-churn"
    assert s.glue_database == "acme_prod_catalog"


@pytest.mark.parametrize(
    ("project", "env", "purpose", "message"),
    [
        ("prodml", "dev", "x" * 70, "at most 63"),
        ("", "dev", "raw", "not usable"),
        ("prodml", "-", "raw", "not usable"),
    ],
)
def test_illegal_names_are_refused(project, env, purpose, message):
    with pytest.raises(ValueError, match=message):
        naming.resource_name(project, env, purpose)


def test_unknown_zone_and_log_purpose_are_refused():
    with pytest.raises(ValueError, match="unknown zone"):
        naming.bucket_name("prodml", "dev", "gold")
    with pytest.raises(ValueError, match="unknown log group purpose"):
        naming.log_group_name("prodml", "dev", "web")


def test_slug_makes_segments_aws_safe():
    assert naming.slug("Customer_Churn v2") == "customer-churn-v2"
