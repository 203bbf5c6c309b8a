"""The one naming convention for every resource: ``{project}-{env}-{purpose}``.

Terraform builds the same names (``modules/*/`` via ``local.name_prefix``); ``tests/terraform`` holds the
two against each other. Never format a resource name anywhere else.
"""

from __future__ import annotations

import re

ZONES = ("raw", "processed", "curated", "artifacts", "capture")
LOG_GROUP_PURPOSES = ("etl", "training", "inference")
ECR_PURPOSE = "inference"
CATALOG_PURPOSE = "catalog"

_SEGMENT = re.compile(r"^[a-z][a-z0-9-]*[a-z0-9]$|^[a-z]$")


def slug(text: str) -> str:
    """A name segment safe for S3, ECR and SageMaker: lowercase, hyphens, no underscores."""
    return re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")


def resource_name(project: str, env: str, purpose: str) -> str:
    """``{project}-{env}-{purpose}``, validated so it is legal as an S3 bucket and a SageMaker name."""
    parts = []
    for original in (project, env, purpose):
        part = slug(original)
        if not part or not _SEGMENT.match(part):
            raise ValueError(f"name segment {original!r} is not usable in a resource name")
        parts.append(part)
    name = "-".join(parts)
    if len(name) > 63:
        raise ValueError(f"resource name {name!r} is {len(name)} characters; AWS allows at most 63")
    return name


def bucket_name(project: str, env: str, zone: str) -> str:
    if zone not in ZONES:
        raise ValueError(f"unknown zone {zone!r}; zones are {', '.join(ZONES)}")
    return resource_name(project, env, zone)


def glue_database_name(project: str, env: str) -> str:
    # Athena only takes underscores in database names, so the Glue catalog swaps the hyphens.
    return resource_name(project, env, CATALOG_PURPOSE).replace("-", "_")


def ecr_repository_name(project: str, env: str) -> str:
    return resource_name(project, env, ECR_PURPOSE)


def log_group_name(project: str, env: str, purpose: str) -> str:
    if purpose not in LOG_GROUP_PURPOSES:
        raise ValueError(f"unknown log group purpose {purpose!r}; use one of {', '.join(LOG_GROUP_PURPOSES)}")
    return "/" + resource_name(project, env, purpose)


def model_package_group_name(project: str, env: str, dataset: str) -> str:
    return resource_name(project, env, dataset)


def glue_job_name(project: str, env: str, dataset: str) -> str:
    return resource_name(project, env, f"etl-{dataset}")


def training_job_name(project: str, env: str, dataset: str, stamp: str) -> str:
    """SageMaker job names are unique per account and at most 63 characters; ``stamp`` makes them unique."""
    return resource_name(project, env, f"{dataset}-{stamp}")


def image_parameter_name(project: str, env: str) -> str:
    """The SSM parameter holding the platform image URI (the inference image) that jobs run: the deploy
    workflow writes it after a push, ``prodml image record`` on the emulator."""
    return f"/{resource_name(project, env, ECR_PURPOSE)}/image-uri"


def job_name_prefix(project: str, env: str, dataset: str) -> str:
    """Prefix of a dataset's processing and pipeline job names; a job appends ``-<step>-<run id>``."""
    return resource_name(project, env, dataset)


def processing_job_name(project: str, env: str, dataset: str, step: str, run_id: str) -> str:
    """``{project}-{env}-{dataset}-{step}-{run_id}``: a SageMaker Processing job (at most 63 characters)."""
    return resource_name(project, env, f"{dataset}-{step}-{run_id}")


def state_machine_name(project: str, env: str, dataset: str, kind: str) -> str:
    """The Step Functions state machine of ``kind`` (retrain, drift) for ``dataset``."""
    return resource_name(project, env, f"{dataset}-{kind}")


def processing_role_name(project: str, env: str) -> str:
    return resource_name(project, env, "processing")


def drift_alarm_name(project: str, env: str, dataset: str) -> str:
    """The CloudWatch alarm on ``dataset``'s overall DriftScore; its change to ALARM starts the retrain state
    machine (the EventBridge rule's pattern is ``prodml/jobs/drift_alarm_event.json``)."""
    return resource_name(project, env, f"{dataset}-drift")


def knowledge_queue_name(project: str, env: str) -> str:
    """The SQS queue the raw bucket's knowledge landing events go to; the ingestion worker consumes it."""
    return resource_name(project, env, "knowledge-ingest")


def knowledge_dead_letter_queue_name(project: str, env: str) -> str:
    """Where a document that cannot be ingested goes, with its reason (and what SQS redrives)."""
    return resource_name(project, env, "knowledge-ingest-dlq")
