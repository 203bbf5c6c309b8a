"""Create, idempotently, what Terraform provisions on AWS, so local runs find the same resources.

Built from the same spec files Terraform reads: the Glue jobs from ``prodml/jobs/etl.yaml``; the closed
loop's state machines from the ASL templates of ``prodml/jobs/orchestration.yaml`` (rendered with
:func:`prodml.orchestration.state_machine_variables`, polling every
:data:`~prodml.orchestration.EMULATOR_POLL_SECONDS` second: the only difference from AWS's), each dataset's
drift alarm from ``prodml/jobs/monitoring.yaml`` and the EventBridge rule that starts retraining when the
alarm goes to ALARM from ``prodml/jobs/drift_alarm_event.json``. IAM is not enforced on the emulator: roles
are named by convention and not created.

Against real AWS this is a convenience for a sandbox account and needs explicit confirmation; Terraform
(``make apply``) is the way to provision a real environment.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from prodml import __version__, aws, naming, orchestration, paths
from prodml.jobs import etl_spec, monitoring_spec, state_machine_definition
from prodml.registry import ModelRegistry
from prodml.settings import Settings
from prodml.zones import Zones

# The release a new job points at until `prodml ship` points it at real code (Terraform's default too).
UNSHIPPED_RELEASE = "unshipped"
# What `prodml ship` owns in a Glue job's definition; reconciling the rest leaves these alone.
SHIPPED_ARGUMENTS = ("--extra-py-files", "--contract_uri")


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
        kwargs: dict[str, Any] = {"Bucket": name}
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


def glue_job_definition(settings: Settings, dataset: str, account_id: str) -> dict:
    """The dataset's Glue job as modules/glue_etl defines it, from the same spec (``prodml/jobs/etl.yaml``)."""
    spec, zones = etl_spec(), Zones(settings)
    script = spec.script.rsplit("/", 1)[-1]
    wheel = f"prodml-{__version__}-py3-none-any.whl"
    modules = paths.repo_path(spec.requirements).read_text().splitlines()
    values = {
        "dataset": dataset,
        "raw_uri": zones.uri("raw", f"{dataset}/"),
        "processed_uri": zones.uri("processed"),
        "contract_uri": zones.uri("artifacts", zones.contract_key(UNSHIPPED_RELEASE, dataset)),
        "glue_database": settings.glue_database,
    }
    return {
        "Role": f"arn:aws:iam::{account_id}:role/{naming.resource_name(settings.project, settings.env, 'etl')}",
        "Description": f"prodml ETL for the {dataset} dataset: raw -> processed.",
        "Command": {
            "Name": "pythonshell",
            "ScriptLocation": zones.uri("artifacts", zones.glue_script_key(UNSHIPPED_RELEASE, script)),
            "PythonVersion": spec.python_version,
        },
        "MaxCapacity": spec.max_capacity,
        "Timeout": spec.timeout_minutes,
        "ExecutionProperty": {"MaxConcurrentRuns": spec.max_concurrent_runs},
        "DefaultArguments": spec.default_arguments(
            values,
            extra_py_files=[zones.uri("artifacts", zones.wheel_key(UNSHIPPED_RELEASE, wheel))],
            python_modules=[m.split("#", 1)[0].strip() for m in modules if m.split("#", 1)[0].strip()],
        ),
    }


def _ensure_glue_job(glue, name: str, definition: dict) -> bool:
    """Create the job, or bring an existing one to the definition, keeping what `prodml ship` set."""
    try:
        job = glue.get_job(JobName=name)["Job"]
    except glue.exceptions.EntityNotFoundException:
        glue.create_job(Name=name, **definition)
        return True
    desired = {
        **definition,
        "Command": {**definition["Command"], "ScriptLocation": job["Command"]["ScriptLocation"]},
    }
    shipped = {k: v for k, v in job.get("DefaultArguments", {}).items() if k in SHIPPED_ARGUMENTS}
    desired["DefaultArguments"] = {**definition["DefaultArguments"], **shipped}
    if any(job.get(key) != value for key, value in desired.items()):
        glue.update_job(JobName=name, JobUpdate=desired)
    return False


def _ensure_state_machine(sfn: Any, name: str, definition: str, role_arn: str, arn: str) -> bool:
    """Create the state machine, or bring an existing one to ``definition``."""
    try:
        existing = sfn.describe_state_machine(stateMachineArn=arn)
    except sfn.exceptions.StateMachineDoesNotExist:
        sfn.create_state_machine(name=name, definition=definition, roleArn=role_arn, type="STANDARD")
        return True
    if existing["definition"] != definition or existing["roleArn"] != role_arn:
        sfn.update_state_machine(stateMachineArn=arn, definition=definition, roleArn=role_arn)
    return False


def drift_alarm_definition(settings: Settings, dataset: str) -> dict[str, Any]:
    """The dataset's drift alarm as modules/cloudwatch defines it, from the same spec (monitoring.yaml)."""
    spec = monitoring_spec()
    return {
        "AlarmName": naming.drift_alarm_name(settings.project, settings.env, dataset),
        "AlarmDescription": f"DriftScore of the {dataset} dataset's captured requests against the serving "
        f"model's baseline reached {spec.alarm_threshold} (a statistic at its contract threshold).",
        "Namespace": spec.namespace,
        "MetricName": spec.metric_name,
        "Dimensions": spec.metric_dimensions(dataset),
        "Statistic": spec.alarm_statistic,
        "Period": spec.alarm_period_seconds,
        "EvaluationPeriods": spec.alarm_evaluation_periods,
        "ComparisonOperator": spec.alarm_comparison_operator,
        "Threshold": spec.alarm_threshold,
        "TreatMissingData": spec.alarm_treat_missing_data,
    }


def _ensure_drift_alarm(cloudwatch: Any, definition: dict[str, Any]) -> tuple[bool, str]:
    """Put the alarm (PutMetricAlarm replaces one of the same name); whether it is new, and its ARN."""
    name = definition["AlarmName"]
    existed = bool(cloudwatch.describe_alarms(AlarmNames=[name])["MetricAlarms"])
    cloudwatch.put_metric_alarm(**definition)
    return not existed, cloudwatch.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]["AlarmArn"]


def _ensure_retrain_rule(
    events: Any, name: str, pattern: dict[str, Any], target_arn: str, role_arn: str, dataset: str
) -> bool:
    """The rule on the drift alarm's change to ALARM, with the retrain state machine as its one target."""
    try:
        events.describe_rule(Name=name)
        existed = True
    except events.exceptions.ResourceNotFoundException:
        existed = False
    events.put_rule(
        Name=name,
        EventPattern=json.dumps(pattern),
        State="ENABLED",
        Description=f"Retrain the {dataset} dataset's model when its drift alarm goes to ALARM.",
    )
    events.put_targets(Rule=name, Targets=[{"Id": "retrain", "Arn": target_arn, "RoleArn": role_arn}])
    return not existed


def provision_loop(settings: Settings, datasets: list[str], account_id: str) -> list[Provisioned]:
    """Each dataset's state machines, drift alarm and the alarm's retraining rule."""
    done: list[Provisioned] = []
    p, e = settings.project, settings.env
    sfn = orchestration.untyped_client("stepfunctions", settings)
    cloudwatch = orchestration.untyped_client("cloudwatch", settings)
    events = orchestration.untyped_client("events", settings)
    # Roles by modules/orchestration's names (IAM is not enforced here): one per dataset's state machines,
    # and the role the EventBridge rules start executions with.
    triggers_role = f"arn:aws:iam::{account_id}:role/{naming.resource_name(p, e, 'orchestration-triggers')}"
    for dataset in datasets:
        variables = orchestration.state_machine_variables(
            settings, dataset, account_id, poll_seconds=orchestration.EMULATOR_POLL_SECONDS
        )
        for kind in orchestration.KINDS:
            name = naming.state_machine_name(p, e, dataset, kind)
            created = _ensure_state_machine(
                sfn,
                name,
                state_machine_definition(kind, variables),
                f"arn:aws:iam::{account_id}:role/{naming.job_name_prefix(p, e, dataset)}-states",
                orchestration.state_machine_arn(settings, dataset, kind, account_id),
            )
            done.append(Provisioned("state machine", name, created))
        alarm = drift_alarm_definition(settings, dataset)
        created, alarm_arn = _ensure_drift_alarm(cloudwatch, alarm)
        done.append(Provisioned("drift alarm", alarm["AlarmName"], created))
        # Named after the state machine it starts, as modules/orchestration names it.
        rule = naming.state_machine_name(p, e, dataset, "retrain")
        created = _ensure_retrain_rule(
            events,
            rule,
            orchestration.drift_alarm_event_pattern(alarm_arn),
            orchestration.state_machine_arn(settings, dataset, "retrain", account_id),
            triggers_role,
            dataset,
        )
        done.append(Provisioned("eventbridge rule", rule, created))
    return done


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
    glue = aws.client("glue", settings)
    account_id = aws.client("sts", settings).get_caller_identity()["Account"]
    for dataset in datasets:
        name = naming.glue_job_name(settings.project, settings.env, dataset)
        created = _ensure_glue_job(glue, name, glue_job_definition(settings, dataset, account_id))
        done.append(Provisioned("glue job", name, created))
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
    done += provision_loop(settings, datasets, account_id)
    return done


def _group_exists(sm, group: str) -> bool:
    try:
        sm.describe_model_package_group(ModelPackageGroupName=group)
        return True
    except ClientError:
        return False
