"""Create, idempotently, what Terraform provisions on AWS, so local runs find the same resources.

Against real AWS this is a convenience for a sandbox account and needs explicit confirmation; Terraform
(``make apply``) is the way to provision a real environment.
"""

from __future__ import annotations

from dataclasses import dataclass

from botocore.exceptions import ClientError

from prodml import aws, naming
from prodml.registry import ModelRegistry
from prodml.settings import Settings


@dataclass(frozen=True)
class Provisioned:
    kind: str
    name: str
    created: bool


def _ensure_bucket(s3, name: str, region: str) -> bool:
    created = False
    try:
        s3.head_bucket(Bucket=name)
    except ClientError as exc:
        if exc.response["Error"]["Code"] not in ("404", "NoSuchBucket", "NotFound"):
            raise
        kwargs = {"Bucket": name}
        if region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
        s3.create_bucket(**kwargs)
        created = True
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    s3.put_public_access_block(
        Bucket=name,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )
    return created


def _ensure_glue_database(glue, name: str) -> bool:
    try:
        glue.get_database(Name=name)
        return False
    except glue.exceptions.EntityNotFoundException:
        glue.create_database(DatabaseInput={"Name": name, "Description": "prodml data catalog"})
        return True


def _ensure_ecr(ecr, name: str) -> bool:
    try:
        ecr.describe_repositories(repositoryNames=[name])
        return False
    except ecr.exceptions.RepositoryNotFoundException:
        ecr.create_repository(
            repositoryName=name,
            imageTagMutability="IMMUTABLE",
            imageScanningConfiguration={"scanOnPush": True},
        )
        return True


def _ensure_log_group(logs, name: str, retention_days: int = 30) -> bool:
    existing = logs.describe_log_groups(logGroupNamePrefix=name).get("logGroups", [])
    if any(group["logGroupName"] == name for group in existing):
        return False
    logs.create_log_group(logGroupName=name)
    logs.put_retention_policy(logGroupName=name, retentionInDays=retention_days)
    return True


def bootstrap(settings: Settings, datasets: list[str]) -> list[Provisioned]:
    """Everything prodml needs in one account and region. Safe to run any number of times."""
    done: list[Provisioned] = []
    s3 = aws.client("s3", settings)
    for zone in naming.ZONES:
        name = settings.bucket(zone)
        done.append(Provisioned("s3 bucket", name, _ensure_bucket(s3, name, settings.region)))
    glue_db = settings.glue_database
    done.append(
        Provisioned("glue database", glue_db, _ensure_glue_database(aws.client("glue", settings), glue_db))
    )
    repo = settings.ecr_repository
    done.append(Provisioned("ecr repository", repo, _ensure_ecr(aws.client("ecr", settings), repo)))
    logs = aws.client("logs", settings)
    for purpose in naming.LOG_GROUP_PURPOSES:
        name = settings.log_group(purpose)
        done.append(Provisioned("log group", name, _ensure_log_group(logs, name)))
    sm = aws.client("sagemaker", settings)
    for dataset in datasets:
        group = settings.model_package_group(dataset)
        registry = ModelRegistry(sm, group)
        existed = _group_exists(sm, group)
        registry.ensure_group(f"prodml models for dataset {dataset}")
        done.append(Provisioned("model package group", group, not existed))
    return done


def _group_exists(sm, group: str) -> bool:
    try:
        sm.describe_model_package_group(ModelPackageGroupName=group)
        return True
    except ClientError:
        return False
