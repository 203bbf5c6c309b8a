"""A SageMaker script-mode training job, executed as the framework container and SageMaker execute it.

- Each channel's ``S3Prefix`` is downloaded into ``/opt/ml/input/data/<channel>/`` of a per-job root shaped
  like the container's ``/opt/ml``; ``input/config`` holds ``hyperparameters.json`` (strings, exactly as
  the job was created with them), ``inputdataconfig.json`` and ``resourceconfig.json``.
- As the sagemaker-training toolkit does: each hyperparameter is JSON-decoded where it can be, the
  ``sagemaker_*`` ones select the program and the source, the rest become ``--name value`` arguments,
  ``SM_HPS`` and ``SM_HP_<NAME>``; the source is unpacked from ``sagemaker_submit_directory`` (the
  ``sourcedir.tar.gz`` the SDK uploads) and its ``requirements.txt`` decides the environment
  (:mod:`prodml.emulator.environments`); the ``SM_*`` environment points at the per-job root.
- ``/opt/ml/model`` is packed to ``<S3OutputPath>/<job>/output/model.tar.gz`` and ``/opt/ml/output/data``
  to ``output.tar.gz`` beside it; ``/opt/ml/output/failure`` becomes ``FailureReason``.
- The status goes ``InProgress`` → ``Completed`` / ``Failed`` (``SecondaryStatus`` Starting → Downloading →
  Training → Uploading → Completed / Failed); the log goes to ``/aws/sagemaker/TrainingJobs`` in stream
  ``<job>/algo-1-<epoch>``; every ``MetricDefinitions`` regex is applied to each log line, and the last
  value of each metric lands in ``FinalMetricDataList``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tarfile
import time
from pathlib import Path
from typing import Any

from moto.core.utils import utcnow

from prodml.emulator import environments, joblog
from prodml.emulator.executor import JobContext

LOG_GROUP = "/aws/sagemaker/TrainingJobs"
HOST = "algo-1"
_MAX_FAILURE = 1024
# The framework containers' Python, by image repository and tag prefix (SageMaker's published images).
IMAGE_PYTHON = {"sagemaker-scikit-learn": {"1.4-2": "3.10", "1.2-1": "3.9", "1.0-1": "3.7"}}


def image_python(image: str) -> str | None:
    repository, _, tag = image.rsplit("/", 1)[-1].partition(":")
    for prefix, version in IMAGE_PYTHON.get(repository, {}).items():
        if tag.startswith(prefix):
            return version
    return None


def decode(value: str) -> Any:
    """A hyperparameter as the toolkit reads it: JSON where it parses, else the string itself."""
    try:
        return json.loads(value)
    except (TypeError, ValueError):
        return value


def user_arguments(hps: dict[str, Any]) -> list[str]:
    """``--name value`` for every user hyperparameter, names sorted, as the toolkit's ``to_cmd_args``."""
    argv: list[str] = []
    for name in sorted(hps):
        value = hps[name]
        if isinstance(value, dict):
            value = ",".join(f"{k}={v}" for k, v in sorted(value.items()))
        argv += [f"--{name}" if len(name) > 1 else f"-{name}", str(value)]
    return argv


class _Metrics:
    def __init__(self, definitions: list[dict[str, str]]):
        self.patterns = [(d["Name"], re.compile(d["Regex"])) for d in definitions]
        self.last: dict[str, dict[str, Any]] = {}

    def scan(self, line: str) -> None:
        for name, pattern in self.patterns:
            match = pattern.search(line)
            if match and match.groups():
                try:
                    value = float(match.group(1))
                except ValueError:
                    continue
                self.last[name] = {"MetricName": name, "Value": value, "Timestamp": utcnow()}


def run(context: JobContext, job: Any) -> None:
    started = time.monotonic()
    name = job.training_job_name
    root = context.work_dir / "sagemaker" / name / "opt" / "ml"
    logs = joblog.client(context, "logs")
    log = joblog.LogStream(logs, LOG_GROUP, f"{name}/{HOST}-{int(time.time())}")
    metrics = _Metrics(job.algorithm_specification.get("MetricDefinitions") or [])
    job.training_start_time = utcnow()

    def on_line(line: str) -> None:
        log.write(line)
        metrics.scan(line)

    status, reason = "Failed", None
    try:
        _secondary(job, "Downloading", "Downloading input data")
        hps_raw = {k: str(v) for k, v in (job.hyper_parameters or {}).items()}
        channels = _layout(context, job, root, hps_raw)
        decoded = {k: decode(v) for k, v in hps_raw.items()}
        framework = {k: v for k, v in decoded.items() if k.startswith("sagemaker_")}
        user = {k: v for k, v in decoded.items() if not k.startswith("sagemaker_")}
        code = _source(context, framework, root)
        program = str(framework.get("sagemaker_program") or "")
        if not program or not (code / program).is_file():
            raise ValueError(f"the entry point {program!r} is not in the source directory")
        requirements = code / "requirements.txt"
        env = environments.environment_for(
            requirements.read_text().splitlines() if requirements.is_file() else [],
            image_python(job.algorithm_specification.get("TrainingImage", "")),
        )
        on_line(f"prodml emulator: running {program} with {env.description}")
        _secondary(job, "Training", "Training image download completed. Training in progress.")
        timeout = (job.stopping_condition or {}).get("MaxRuntimeInSeconds")
        code_ = joblog.run_process(
            [env.python, program, *user_arguments(user)],
            cwd=code,
            env=joblog.job_environment(
                context, {**_sm_environment(root, job, user, framework, channels), "PYTHONPATH": str(code)}
            ),
            stdout=[on_line],
            timeout=float(timeout) if timeout else None,
        )
        failure = root / "output" / "failure"
        if code_ == 0:
            _secondary(job, "Uploading", "Uploading generated training model")
            _upload(context, job, root, with_model=True)
            status = "Completed"
        elif code_ is None:
            status, reason = "Stopped", f"MaxRuntimeExceeded: the job ran longer than {timeout} seconds"
        else:
            text = failure.read_text().strip() if failure.is_file() else ""
            reason = "AlgorithmError: " + (text or f"the entry point exited with code {code_}")
            _upload(context, job, root, with_model=False)
    except Exception as exc:  # whatever stops the job is its failure, with the reason
        reason = f"ClientError: {exc}"
        on_line(reason)
    finally:
        log.flush()
        shutil.rmtree(root.parent.parent, ignore_errors=True)
        seconds = max(1, round(time.monotonic() - started))
        job.training_end_time = job.last_modified_time = utcnow()
        job.training_time_in_seconds = job.billable_time_in_seconds = seconds
        job.final_metric_data_list = list(metrics.last.values()) or None
        job.failure_reason = reason[:_MAX_FAILURE] if reason else None
        secondary = "MaxRuntimeExceeded" if reason and reason.startswith("MaxRuntimeExceeded") else status
        _secondary(job, secondary, reason or "Training job completed")
        job.training_job_status = status


def _secondary(job: Any, status: str, message: str) -> None:
    now = utcnow()
    transitions = list(job.secondary_status_transitions or [])
    if transitions and not transitions[-1].get("EndTime"):
        transitions[-1] = {**transitions[-1], "EndTime": now}
    transitions.append({"Status": status, "StartTime": now, "StatusMessage": message})
    job.secondary_status_transitions = transitions
    job.secondary_status = status


def _layout(context: JobContext, job: Any, root: Path, hps: dict[str, str]) -> list[str]:
    s3 = joblog.client(context, "s3")
    shutil.rmtree(root, ignore_errors=True)
    for path in ("model", "output/data", "input/config", "code"):
        (root / path).mkdir(parents=True, exist_ok=True)
    channels: dict[str, Any] = {}
    for channel in job.input_data_config or []:
        source = channel["DataSource"].get("S3DataSource") or {}
        if source.get("S3DataType", "S3Prefix") != "S3Prefix":
            raise ValueError(f"channel {channel['ChannelName']}: only S3Prefix data sources are supported")
        if not joblog.download_prefix(s3, source["S3Uri"], root / "input" / "data" / channel["ChannelName"]):
            raise ValueError(
                f'Data download failed:No S3 objects found under S3 URL "{source["S3Uri"]}" given in input '
                f"data source for channel {channel['ChannelName']}."
            )
        channels[channel["ChannelName"]] = {
            "TrainingInputMode": channel.get("InputMode") or "File",
            "S3DistributionType": source.get("S3DataDistributionType", "FullyReplicated"),
            "RecordWrapperType": channel.get("RecordWrapperType", "None"),
        }
    config = root / "input" / "config"
    (config / "hyperparameters.json").write_text(json.dumps(hps))
    (config / "inputdataconfig.json").write_text(json.dumps(channels))
    (config / "resourceconfig.json").write_text(
        json.dumps({"current_host": HOST, "hosts": [HOST], "network_interface_name": "eth0"})
    )
    return sorted(channels)


def _source(context: JobContext, framework: dict[str, Any], root: Path) -> Path:
    code = root / "code"
    submit = str(framework.get("sagemaker_submit_directory") or "")
    if submit.startswith("s3://"):
        bucket, _, key = submit.removeprefix("s3://").partition("/")
        tarball = root / "sourcedir.tar.gz"
        joblog.client(context, "s3").download_file(bucket, key, str(tarball))
        with tarfile.open(tarball) as archive:
            archive.extractall(code, filter="data")
        tarball.unlink()
    elif submit:
        raise ValueError(f"sagemaker_submit_directory must be an s3:// URI, got {submit!r}")
    return code


def _sm_environment(
    root: Path, job: Any, user: dict[str, Any], framework: dict[str, Any], channels: list[str]
) -> dict[str, str]:
    program = str(framework.get("sagemaker_program") or "")
    env = {
        "SM_MODEL_DIR": str(root / "model"),
        "SM_OUTPUT_DIR": str(root / "output"),
        "SM_OUTPUT_DATA_DIR": str(root / "output" / "data"),
        "SM_INPUT_DIR": str(root / "input"),
        "SM_INPUT_DATA_DIR": str(root / "input" / "data"),
        "SM_INPUT_CONFIG_DIR": str(root / "input" / "config"),
        "SM_INPUT_DATA_CONFIG": (root / "input" / "config" / "inputdataconfig.json").read_text(),
        "SM_RESOURCE_CONFIG": (root / "input" / "config" / "resourceconfig.json").read_text(),
        "SM_CHANNELS": json.dumps(channels),
        "SM_HPS": json.dumps(user, sort_keys=True),
        "SM_HOSTS": json.dumps([HOST]),
        "SM_CURRENT_HOST": HOST,
        "SM_CURRENT_INSTANCE_TYPE": (job.resource_config or {}).get("InstanceType", ""),
        "SM_NUM_CPUS": str(os.cpu_count() or 1),
        "SM_NUM_GPUS": "0",
        "SM_MODULE_NAME": program.removesuffix(".py"),
        "SM_MODULE_DIR": str(framework.get("sagemaker_submit_directory") or ""),
        "SM_USER_ENTRY_POINT": program,
        "SM_USER_ARGS": json.dumps(user_arguments(user)),
        "SM_LOG_LEVEL": str(framework.get("sagemaker_container_log_level", 20)),
        "TRAINING_JOB_NAME": job.training_job_name,
        "TRAINING_JOB_ARN": job.arn,
    }
    for channel in channels:
        env[f"SM_CHANNEL_{channel.upper()}"] = str(root / "input" / "data" / channel)
    for name, value in user.items():
        env[f"SM_HP_{name.upper()}"] = value if isinstance(value, str) else json.dumps(value)
    return env


def _upload(context: JobContext, job: Any, root: Path, *, with_model: bool) -> None:
    s3 = joblog.client(context, "s3")
    output = (job.output_data_config or {}).get("S3OutputPath", "").rstrip("/")
    bucket, _, prefix = output.removeprefix("s3://").partition("/")
    base = "/".join(p for p in (prefix, job.training_job_name, "output") if p)
    archives = [("output.tar.gz", root / "output" / "data")]
    if with_model:
        archives.insert(0, ("model.tar.gz", root / "model"))
    for name, directory in archives:
        if name == "output.tar.gz" and not any(directory.iterdir()):
            continue
        tarball = root / name
        with tarfile.open(tarball, "w:gz") as archive:
            for path in sorted(directory.rglob("*")):
                archive.add(path, arcname=str(path.relative_to(directory)), recursive=False)
        s3.upload_file(str(tarball), bucket, f"{base}/{name}")
