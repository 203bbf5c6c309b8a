"""Each AWS job's definition, written once as a spec file beside this module and read by everyone.

``etl.yaml`` is the Glue ETL job, ``training.yaml`` the SageMaker training job, ``processing.yaml`` the
SageMaker Processing jobs (batch scoring, drift, the retraining pipeline's steps), ``monitoring.yaml`` the
drift metric and its alarm, and ``orchestration.yaml`` the Step Functions state machines (their definitions
are the ``*.asl.json`` templates). Terraform reads the same files with ``yamldecode(file(...))`` and
``templatefile()``; Python reads them here: bootstrap on the emulator, ``prodml ship``, the
stage commands and the Glue job's own argument parser. Nothing else writes a job argument, a capacity or a
metric definition. Runs on Glue's Python 3.9 too (the ETL job parses its arguments with it).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import yaml

# Values a deployment knows and the ETL spec's arguments may name with ``from:`` (Terraform builds the same
# keys in modules/glue_etl).
# A job reports progress and its result as ``PRODML_EVENT <json>`` lines on stdout (the log, on AWS).
EVENT_PREFIX = "PRODML_EVENT "
ETL_DEPLOYMENT_VALUES = ("dataset", "raw_uri", "processed_uri", "contract_uri", "glue_database")


def _load(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(
        resources.files(__name__).joinpath(name).read_text(encoding="utf-8")
    )
    return loaded


@dataclass(frozen=True)
class JobArgument:
    name: str
    source: str | None  # a deployment value (ETL_DEPLOYMENT_VALUES), or None for a plain default
    default: str | None

    @property
    def required(self) -> bool:
        return self.source is not None


@dataclass(frozen=True)
class EtlJobSpec:
    script: str
    python_version: str
    requirements: str
    wheel_project: str
    max_capacity: float
    timeout_minutes: int
    max_concurrent_runs: int
    schedule: str | None
    glue_arguments: dict[str, str]
    arguments: list[JobArgument]

    def default_arguments(
        self, values: Mapping[str, str], *, extra_py_files: list[str], python_modules: list[str]
    ) -> dict[str, str]:
        """The job's ``DefaultArguments``: Glue's own, the code it installs, and every ``from:`` argument."""
        missing = [a.source for a in self.arguments if a.source and a.source not in values]
        if missing:
            raise ValueError(f"the ETL job needs deployment values {missing}")
        arguments = dict(self.glue_arguments)
        arguments["--extra-py-files"] = ",".join(extra_py_files)
        arguments["--additional-python-modules"] = ",".join(python_modules)
        for argument in self.arguments:
            if argument.source:
                arguments[f"--{argument.name}"] = str(values[argument.source])
        return arguments


@dataclass(frozen=True)
class TrainingJobSpec:
    framework: str
    framework_version: str
    python_version: str
    source_dir: str
    entry_point: str
    instance_type: str
    instance_count: int
    volume_size_gb: int
    max_runtime_seconds: int
    metric_splits: list[str]
    metric_names: dict[str, list[str]]
    metric_value_regex: str

    def metric_definitions(self, task: str) -> list[dict[str, str]]:
        """SageMaker ``MetricDefinitions`` for a task (a contract Task value)."""
        return [
            {"Name": f"{split}:{name}", "Regex": f"metric {split}:{name}={self.metric_value_regex}"}
            for split in self.metric_splits
            for name in self.metric_names[task]
        ]


@cache
def etl_spec() -> EtlJobSpec:
    raw = _load("etl.yaml")
    arguments = []
    for name, entry in raw["arguments"].items():
        source = entry.get("from")
        if source is not None and source not in ETL_DEPLOYMENT_VALUES:
            raise ValueError(f"etl.yaml: argument {name} comes from unknown value {source!r}")
        default = entry.get("default")
        arguments.append(JobArgument(name, source, None if default is None else str(default)))
    return EtlJobSpec(
        script=raw["script"],
        python_version=str(raw["python_version"]),
        requirements=raw["requirements"],
        wheel_project=raw["wheel_project"],
        max_capacity=float(raw["max_capacity"]),
        timeout_minutes=int(raw["timeout_minutes"]),
        max_concurrent_runs=int(raw["max_concurrent_runs"]),
        schedule=raw.get("schedule"),
        glue_arguments={k: str(v) for k, v in raw["glue_arguments"].items()},
        arguments=arguments,
    )


@cache
def training_spec() -> TrainingJobSpec:
    raw = _load("training.yaml")
    return TrainingJobSpec(
        framework=raw["framework"],
        framework_version=str(raw["framework_version"]),
        python_version=str(raw["python_version"]),
        source_dir=raw["source_dir"],
        entry_point=raw["entry_point"],
        instance_type=raw["instance_type"],
        instance_count=int(raw["instance_count"]),
        volume_size_gb=int(raw["volume_size_gb"]),
        max_runtime_seconds=int(raw["max_runtime_seconds"]),
        metric_splits=list(raw["metric_splits"]),
        metric_names={task: list(names) for task, names in raw["metric_names"].items()},
        metric_value_regex=raw["metric_value_regex"],
    )


@dataclass(frozen=True)
class ProcessingJobSpec:
    instance_type: str
    instance_count: int
    volume_size_gb: int
    max_runtime_seconds: int
    local_root: str


@cache
def processing_spec() -> ProcessingJobSpec:
    raw = _load("processing.yaml")
    return ProcessingJobSpec(
        instance_type=raw["instance_type"],
        instance_count=int(raw["instance_count"]),
        volume_size_gb=int(raw["volume_size_gb"]),
        max_runtime_seconds=int(raw["max_runtime_seconds"]),
        local_root=raw["local_root"],
    )


@dataclass(frozen=True)
class MonitoringSpec:
    namespace: str
    metric_name: str
    dimensions: list[str]
    feature_dimension: str
    alarm_statistic: str
    alarm_period_seconds: int
    alarm_evaluation_periods: int
    alarm_comparison_operator: str
    alarm_threshold: float
    alarm_treat_missing_data: str
    window_hours: int

    def metric_dimensions(self, dataset: str, feature: str | None = None) -> list[dict[str, str]]:
        """The CloudWatch dimensions of the overall score (or of ``feature``'s score) for ``dataset``."""
        values = {"Dataset": dataset}
        unknown = [d for d in self.dimensions if d not in values]
        if unknown:
            raise ValueError(f"monitoring.yaml: no value for metric dimensions {unknown}")
        dims = [{"Name": d, "Value": values[d]} for d in self.dimensions]
        if feature is not None:
            dims.append({"Name": self.feature_dimension, "Value": feature})
        return dims


@cache
def monitoring_spec() -> MonitoringSpec:
    raw = _load("monitoring.yaml")
    metric, alarm = raw["metric"], raw["alarm"]
    return MonitoringSpec(
        namespace=metric["namespace"],
        metric_name=metric["name"],
        dimensions=list(metric["dimensions"]),
        feature_dimension=metric["feature_dimension"],
        alarm_statistic=alarm["statistic"],
        alarm_period_seconds=int(alarm["period_seconds"]),
        alarm_evaluation_periods=int(alarm["evaluation_periods"]),
        alarm_comparison_operator=alarm["comparison_operator"],
        alarm_threshold=float(alarm["threshold"]),
        alarm_treat_missing_data=alarm["treat_missing_data"],
        window_hours=int(raw["window_hours"]),
    )


@dataclass(frozen=True)
class StateMachineSpec:
    kind: str
    definition: str  # the ASL template's file name, beside this module
    schedule: str | None


@dataclass(frozen=True)
class OrchestrationSpec:
    state_machines: dict[str, StateMachineSpec]
    poll_seconds: int
    variables: list[str]


@cache
def orchestration_spec() -> OrchestrationSpec:
    raw = _load("orchestration.yaml")
    return OrchestrationSpec(
        state_machines={
            kind: StateMachineSpec(kind, entry["definition"], entry.get("schedule"))
            for kind, entry in raw["state_machines"].items()
        },
        poll_seconds=int(raw["poll_seconds"]),
        variables=list(raw["variables"]),
    )


# Terraform's templatefile() syntax, the subset the ASL templates may use: ${name} interpolations, and the
# escapes $${ and %%{. A %{ directive or any other ${...} expression is refused, not guessed at.
_TEMPLATE_TOKEN = re.compile(r"\$\$\{|%%\{|\$\{([^}]*)\}|%\{")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def render_template(text: str, variables: Mapping[str, object], source: str = "<template>") -> str:
    """Render ``text`` as Terraform's ``templatefile()`` renders it, for the subset the ASL templates use."""

    def substitute(match: re.Match[str]) -> str:
        token = match.group(0)
        if token == "$${":
            return "${"
        if token == "%%{":
            return "%{"
        if token == "%{":
            raise ValueError(f"{source}: template directives (%{{ ... }}) are not supported")
        name = match.group(1).strip()
        if not _IDENTIFIER.match(name):
            raise ValueError(f"{source}: only ${{name}} interpolations are supported, not ${{{name}}}")
        if name not in variables:
            raise ValueError(f"{source}: no value for template variable {name!r}")
        return str(variables[name])

    return _TEMPLATE_TOKEN.sub(substitute, text)


def state_machine_template(kind: str) -> str:
    spec = orchestration_spec().state_machines[kind]
    return resources.files(__name__).joinpath(spec.definition).read_text(encoding="utf-8")


def state_machine_definition(kind: str, variables: Mapping[str, object]) -> str:
    """The ASL definition of state machine ``kind`` (orchestration.yaml), rendered as Terraform renders it."""
    expected = set(orchestration_spec().variables)
    unknown = sorted(set(variables) - expected)
    missing = sorted(expected - set(variables))
    if unknown or missing:
        raise ValueError(f"state machine variables: missing {missing}, unknown {unknown}")
    return render_template(
        state_machine_template(kind), variables, orchestration_spec().state_machines[kind].definition
    )
