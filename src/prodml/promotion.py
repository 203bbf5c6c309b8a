"""Promote an approved model version from one environment's registry to another's (dev → prod).

An environment's service serves only its own registry's champion, so a model reaches prod only through this
step, which the train workflow runs behind the ``prod`` environment's reviewers: a dev auto-approval never
reaches prod by itself. The promoted version is a copy: its artifact and report files are copied to the same
keys in the target environment's artifacts bucket (never overwriting different bytes), and the model package
names the same image digest in the target's ECR repository (the deploy workflow promotes images by digest).
It is registered Approved, without re-running the gate: the reviewer's approval is the decision. Promoting
the same source twice is a no-op.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from botocore.exceptions import ClientError

from prodml import aws, naming
from prodml.registry import APPROVED, ModelRegistry, ModelVersion, RegistryError
from prodml.settings import Settings
from prodml.zones import Zones

PROMOTED_FROM = "promoted_from"  # the key in a promoted package's description (summary JSON)


@dataclass(frozen=True)
class Promotion:
    source_model_package_arn: str
    model_package_arn: str
    group: str
    version: int
    status: str
    already_promoted: bool

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _summary(version: ModelVersion) -> dict[str, Any]:
    try:
        loaded = json.loads(version.description or "{}")
    except ValueError:
        return {}
    return loaded if isinstance(loaded, dict) else {}


def _copy(s3: Any, source_uri: str, target_bucket: str) -> str:
    """Copy an object to the same key in ``target_bucket``; refuses to replace different bytes."""
    bucket, key = aws.split_s3_uri(source_uri)
    source = s3.head_object(Bucket=bucket, Key=key)
    try:
        existing = s3.head_object(Bucket=target_bucket, Key=key)
    except ClientError as exc:
        if exc.response["Error"]["Code"] not in ("404", "NoSuchKey", "NotFound"):
            raise
        existing = None
    if existing is not None:
        if existing["ETag"] != source["ETag"]:
            raise RegistryError(
                f"s3://{target_bucket}/{key} exists with other bytes; refusing to overwrite it"
            )
    else:
        s3.copy_object(Bucket=target_bucket, Key=key, CopySource={"Bucket": bucket, "Key": key})
        if s3.head_object(Bucket=target_bucket, Key=key)["ETag"] != source["ETag"]:
            raise RegistryError(f"the copy of {source_uri} does not match its source")
    return f"s3://{target_bucket}/{key}"


def _target_image(settings: Settings, source_image: str) -> str:
    """The same image digest in the target environment's repository; it must be there already."""
    if "@" not in source_image:
        raise RegistryError(f"the source names its image by tag ({source_image}), not by digest")
    digest = source_image.split("@", 1)[1]
    ecr = aws.client("ecr", settings)
    try:
        found = ecr.describe_images(
            repositoryName=settings.ecr_repository, imageIds=[{"imageDigest": digest}]
        )
    except ClientError as exc:
        raise RegistryError(
            f"image {digest} is not in {settings.ecr_repository}: promote the image first "
            f"(the deploy workflow copies it by digest) ({exc.response['Error'].get('Code')})"
        ) from None
    detail = found["imageDetails"][0]
    return (
        f"{detail['registryId']}.dkr.ecr.{settings.region}.amazonaws.com/{settings.ecr_repository}@{digest}"
    )


def promote(
    source_arn: str,
    settings: Settings,
    dataset: str,
    *,
    reason: str,
    promoted_by: str = "",
    run_url: str = "",
) -> Promotion:
    """Promote ``source_arn`` (an Approved version of another environment's group for ``dataset``) into
    this environment's group."""
    sm = aws.client("sagemaker", settings)
    target = ModelRegistry(sm, settings.model_package_group(dataset))
    try:
        described = sm.describe_model_package(ModelPackageName=source_arn)
    except ClientError as exc:
        raise RegistryError(
            f"no model package {source_arn}: {exc.response['Error'].get('Message')}"
        ) from None
    source_group = described.get("ModelPackageGroupName", "")
    source = ModelRegistry(sm, source_group).describe(source_arn)
    suffix = "-" + naming.slug(dataset)
    if source.group == target.group:
        raise RegistryError(f"{source_arn} is already in {target.group}: promotion goes between environments")
    if not (source.group.startswith(naming.slug(settings.project) + "-") and source.group.endswith(suffix)):
        raise RegistryError(f"{source_arn} belongs to {source.group}, not to another environment's {dataset}")
    if source.status != APPROVED:
        raise RegistryError(f"{source.group} v{source.version} is {source.status}; only an Approved version")
    target.ensure_group(f"prodml models for dataset {dataset}")
    for existing in target.versions():
        if _summary(existing).get(PROMOTED_FROM) == source_arn:
            return Promotion(source_arn, existing.arn, target.group, existing.version, existing.status, True)
    if not source.model_data_url:
        raise RegistryError(f"{source.group} v{source.version} names no model artifact")

    s3, zones = aws.client("s3", settings), Zones(settings)
    bucket = zones.bucket("artifacts")
    model_uri = _copy(s3, source.model_data_url, bucket)
    metrics_uri = _copy(s3, source.metrics_uri, bucket) if source.metrics_uri else ""
    job = Zones.job_from_artifact_key(source.model_data_url)
    if job:  # the report registration published beside it: lineage, plots, the model card
        src_bucket, _ = aws.split_s3_uri(source.model_data_url)
        pages = s3.get_paginator("list_objects_v2").paginate(
            Bucket=src_bucket, Prefix=zones.report_prefix(job)
        )
        for page in pages:
            for obj in page.get("Contents", []):
                _copy(s3, f"s3://{src_bucket}/{obj['Key']}", bucket)
    image = _target_image(settings, described["InferenceSpecification"]["Containers"][0]["Image"])
    summary = {**_summary(source), PROMOTED_FROM: source_arn, "promoted_by": promoted_by, "run": run_url}
    registered = target.register(
        model_data_url=model_uri,
        image_uri=image,
        metrics_uri=metrics_uri or model_uri,
        summary=summary,
        metadata={
            **source.metadata,
            "prodml:source_model_package_arn": source_arn,
            "prodml:promoted_by": promoted_by,
        },
        status=APPROVED,
    )
    approved = target.set_status(registered.arn, APPROVED, f"promoted from {source_arn}: {reason}")
    return Promotion(source_arn, approved.arn, target.group, approved.version, approved.status, False)
