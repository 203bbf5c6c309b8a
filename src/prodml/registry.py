"""The model registry client: SageMaker Model Registry, one model package group per dataset.

The champion is the highest-numbered Approved version. Rolling back rejects the champion, which makes the
previous Approved version the champion again. Training registers through this client and serving polls it;
neither talks to the registry any other way.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final, Literal

from botocore.exceptions import ClientError

if TYPE_CHECKING:
    from types_boto3_sagemaker import SageMakerClient

APPROVED: Final = "Approved"
REJECTED: Final = "Rejected"
PENDING: Final = "PendingManualApproval"
ApprovalStatus = Literal["Approved", "Rejected", "PendingManualApproval"]
STATUSES: tuple[ApprovalStatus, ...] = (APPROVED, REJECTED, PENDING)


@dataclass(frozen=True)
class ModelVersion:
    arn: str
    group: str
    version: int
    status: str
    created: datetime | None
    model_data_url: str | None
    metrics_uri: str | None = None
    description: str | None = None
    approval_description: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def is_champion_candidate(self) -> bool:
        return self.status == APPROVED


class RegistryError(RuntimeError):
    pass


def _checked_status(status: str) -> ApprovalStatus:
    for known in STATUSES:
        if status == known:
            return known
    raise RegistryError(f"unknown approval status {status!r}; use one of {', '.join(STATUSES)}")


class ModelRegistry:
    def __init__(self, sagemaker_client: SageMakerClient, group: str):
        self.sm = sagemaker_client
        self.group = group

    # ---- group ---------------------------------------------------------------------------------------
    def ensure_group(self, description: str = "") -> str:
        try:
            return self.sm.describe_model_package_group(ModelPackageGroupName=self.group)[
                "ModelPackageGroupArn"
            ]
        except ClientError:
            pass
        try:
            return self.sm.create_model_package_group(
                ModelPackageGroupName=self.group,
                ModelPackageGroupDescription=description[:1024] or f"prodml models for {self.group}",
            )["ModelPackageGroupArn"]
        except ClientError as exc:
            if "already exists" in str(exc).lower():
                return self.sm.describe_model_package_group(ModelPackageGroupName=self.group)[
                    "ModelPackageGroupArn"
                ]
            raise

    # ---- read ----------------------------------------------------------------------------------------
    def versions(self) -> list[ModelVersion]:
        """Every version in the group, newest first."""
        pages = self.sm.get_paginator("list_model_packages").paginate(
            ModelPackageGroupName=self.group, PaginationConfig={"PageSize": 100}
        )
        try:
            summaries = [s for page in pages for s in page["ModelPackageSummaryList"]]
        except ClientError as exc:
            raise RegistryError(f"cannot list model package group {self.group!r}: {exc}") from None
        versions = [self.describe(s["ModelPackageArn"]) for s in summaries]
        return sorted(versions, key=lambda v: v.version, reverse=True)

    def describe(self, arn_or_version: str | int) -> ModelVersion:
        arn = self._arn(arn_or_version)
        try:
            d = self.sm.describe_model_package(ModelPackageName=arn)
        except ClientError as exc:
            raise RegistryError(f"no model package {arn_or_version!r} in {self.group!r}: {exc}") from None
        containers = d.get("InferenceSpecification", {}).get("Containers", [])
        metrics_uri = d.get("ModelMetrics", {}).get("ModelQuality", {}).get("Statistics", {}).get("S3Uri")
        return ModelVersion(
            arn=d["ModelPackageArn"],
            group=d.get("ModelPackageGroupName", self.group),
            version=int(d.get("ModelPackageVersion") or 0),
            status=d.get("ModelApprovalStatus", PENDING),
            created=d.get("CreationTime"),
            model_data_url=containers[0].get("ModelDataUrl") if containers else None,
            metrics_uri=metrics_uri,
            description=d.get("ModelPackageDescription"),
            approval_description=d.get("ApprovalDescription"),
            metadata=d.get("CustomerMetadataProperties") or {},
        )

    def champion(self) -> ModelVersion | None:
        """The latest Approved version, or None before any model is approved."""
        approved = [v for v in self.versions() if v.status == APPROVED]
        return approved[0] if approved else None

    def _arn(self, arn_or_version: str | int) -> str:
        text = str(arn_or_version)
        if text.startswith("arn:"):
            return text
        if not text.isdigit():
            raise RegistryError(f"{arn_or_version!r} is neither a version number nor a model package ARN")
        for summary in self.sm.list_model_packages(ModelPackageGroupName=self.group, MaxResults=100)[
            "ModelPackageSummaryList"
        ]:
            if int(summary.get("ModelPackageVersion") or 0) == int(text):
                return summary["ModelPackageArn"]
        raise RegistryError(f"version {text} not found in model package group {self.group!r}")

    # ---- write ---------------------------------------------------------------------------------------
    def register(
        self,
        *,
        model_data_url: str,
        image_uri: str,
        metrics_uri: str,
        summary: dict[str, Any],
        metadata: dict[str, str],
        status: str = PENDING,
    ) -> ModelVersion:
        approval_status = _checked_status(status)
        arn = self.sm.create_model_package(
            ModelPackageGroupName=self.group,
            ModelPackageDescription=json.dumps(summary, sort_keys=True)[:1024],
            InferenceSpecification={
                "Containers": [{"Image": image_uri, "ModelDataUrl": model_data_url}],
                "SupportedContentTypes": ["application/json"],
                "SupportedResponseMIMETypes": ["application/json"],
            },
            ModelMetrics={
                "ModelQuality": {"Statistics": {"ContentType": "application/json", "S3Uri": metrics_uri}}
            },
            ModelApprovalStatus=approval_status,
            # Real SageMaker keeps these; moto drops them, so lineage.json also sits beside the artifact.
            # SageMaker refuses an empty value, so an unknown one is left out rather than sent as "".
            CustomerMetadataProperties={k: str(v)[:1024] for k, v in list(metadata.items())[:50] if str(v)},
        )["ModelPackageArn"]
        return self.describe(arn)

    def set_status(self, arn_or_version: str | int, status: str, reason: str) -> ModelVersion:
        approval_status = _checked_status(status)
        arn = self._arn(arn_or_version)
        self.sm.update_model_package(
            ModelPackageArn=arn, ModelApprovalStatus=approval_status, ApprovalDescription=reason[:1024]
        )
        return self.describe(arn)

    def rollback(self, reason: str = "rolled back") -> tuple[ModelVersion, ModelVersion]:
        """Reject the champion so the previous Approved version serves again. Returns (old, new)."""
        approved = [v for v in self.versions() if v.status == APPROVED]
        if len(approved) < 2:
            raise RegistryError(
                f"nothing to roll back to in {self.group!r}: {len(approved)} approved version(s)"
            )
        current, previous = approved[0], approved[1]
        self.set_status(current.arn, REJECTED, f"{reason} (rollback to version {previous.version})")
        return current, previous
