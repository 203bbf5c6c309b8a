"""Each AWS job's definition, written once as a spec file beside this module and read by everyone.

``etl.yaml`` is the Glue ETL job and ``training.yaml`` the SageMaker training job. Terraform reads the same
files with ``yamldecode(file(...))``; Python reads them here: bootstrap on the emulator, ``prodml ship``, the
stage commands and the Glue job's own argument parser. Nothing else writes a job argument, a capacity or a
metric definition. Runs on Glue's Python 3.9 too (the ETL job parses its arguments with it).
"""

from __future__ import annotations

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
