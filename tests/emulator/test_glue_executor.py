"""The emulator's executor runs Glue Python shell job runs with Glue's contract: the script from
ScriptLocation, DefaultArguments merged with the run's Arguments, --extra-py-files on the path, the state
machine with ErrorMessage and ExecutionTime, the logs, and MaxConcurrentRuns."""

from __future__ import annotations

import json

import pytest

from prodml import aws
from tests.emulator.helpers import log_lines, put, wait_glue, zip_of

pytestmark = pytest.mark.integration

BUCKET = "prodml-test-glue-code"
SCRIPT = """
import json, os, sys, time
import helper_module
args = sys.argv[1:]
print("ARGS " + json.dumps(args))
print("ENDPOINT " + os.environ.get("AWS_ENDPOINT_URL", ""))
print("HELPER " + helper_module.VALUE)
print("PYTHON %d.%d" % sys.version_info[:2])
if "--sleep" in args:
    time.sleep(float(args[args.index("--sleep") + 1]))
if "--fail" in args:
    print("some progress before the failure")
    print("Traceback (most recent call last): ...", file=sys.stderr)
    print("error: the input is broken: " + args[args.index("--fail") + 1], file=sys.stderr)
    sys.exit(3)
"""


@pytest.fixture
def glue_job(aws_env):
    script = put(aws_env, BUCKET, "code/job.py", SCRIPT.encode())
    library = put(aws_env, BUCKET, "code/lib.zip", zip_of({"helper_module.py": "VALUE = 'from the zip'\n"}))
    glue = aws.client("glue", aws_env)
    glue.create_job(
        Name="executor-test",
        Role="arn:aws:iam::123456789012:role/glue",
        Command={"Name": "pythonshell", "ScriptLocation": script, "PythonVersion": "3.9"},
        DefaultArguments={
            "--extra-py-files": library,
            "--additional-python-modules": "pyyaml>=6",  # satisfied by the project's environment
            "--mode": "default",
            "--kept": "from-defaults",
            "library-set": "none",
        },
        NonOverridableArguments={"--locked": "always"},
        ExecutionProperty={"MaxConcurrentRuns": 1},
        MaxCapacity=0.0625,
        Timeout=5,
    )
    return glue


def _args(lines: list[str]) -> dict[str, str]:
    (line,) = [line for line in lines if line.startswith("ARGS ")]
    argv = json.loads(line[5:])
    return dict(zip(argv[::2], argv[1::2], strict=True))


def test_a_run_gets_merged_arguments_extra_py_files_and_logs(aws_env, glue_job):
    run_id = glue_job.start_job_run(
        JobName="executor-test", Arguments={"--mode": "run", "--locked": "overridden?"}
    )["JobRunId"]
    run = wait_glue(glue_job, "executor-test", run_id)
    assert run["JobRunState"] == "SUCCEEDED", run.get("ErrorMessage")
    assert run["ExecutionTime"] >= 1 and "ErrorMessage" not in run and run["CompletedOn"] >= run["StartedOn"]
    assert run["LogGroupName"] == "/aws-glue/python-jobs"

    lines = log_lines(aws.client("logs", aws_env), "/aws-glue/python-jobs/output", run_id)
    args = _args(lines)
    # Glue's merge: the run's arguments win over the defaults, the non-overridable ones over both.
    assert args["--mode"] == "run" and args["--kept"] == "from-defaults" and args["--locked"] == "always"
    assert args["--JOB_NAME"] == "executor-test" and args["--JOB_RUN_ID"] == run_id
    # What Glue consumes itself is not passed to the script.
    assert not {"--extra-py-files", "--additional-python-modules", "library-set"} & set(args)
    assert "HELPER from the zip" in lines
    assert f"ENDPOINT {aws_env.endpoint_url}" in lines
    assert any("project's environment" in line for line in lines)


def test_a_failing_script_fails_the_run_with_its_own_message(aws_env, glue_job):
    run_id = glue_job.start_job_run(JobName="executor-test", Arguments={"--fail": "row 7"})["JobRunId"]
    run = wait_glue(glue_job, "executor-test", run_id)
    assert run["JobRunState"] == "FAILED"
    assert run["ErrorMessage"] == "error: the input is broken: row 7"
    logs = aws.client("logs", aws_env)
    assert "some progress before the failure" in log_lines(logs, "/aws-glue/python-jobs/output", run_id)
    errors = log_lines(logs, "/aws-glue/python-jobs/error", run_id)
    assert errors[-1] == "error: the input is broken: row 7" and errors[0].startswith("Traceback")


def test_a_missing_script_fails_the_run_and_says_where_it_looked(aws_env, glue_job):
    job = glue_job.get_job(JobName="executor-test")["Job"]
    glue_job.create_job(
        Name="no-script",
        Role=job["Role"],
        Command={**job["Command"], "ScriptLocation": f"s3://{BUCKET}/code/missing.py"},
    )
    run = wait_glue(glue_job, "no-script", glue_job.start_job_run(JobName="no-script")["JobRunId"])
    assert run["JobRunState"] == "FAILED" and f"s3://{BUCKET}/code/missing.py" in run["ErrorMessage"]


def test_max_concurrent_runs_is_enforced_until_the_run_ends(aws_env, glue_job):
    first = glue_job.start_job_run(JobName="executor-test", Arguments={"--sleep": "2"})["JobRunId"]
    with pytest.raises(glue_job.exceptions.ConcurrentRunsExceededException):
        glue_job.start_job_run(JobName="executor-test")
    assert glue_job.get_job_run(JobName="executor-test", RunId=first)["JobRun"]["JobRunState"] in (
        "STARTING",
        "RUNNING",
    )
    assert wait_glue(glue_job, "executor-test", first)["JobRunState"] == "SUCCEEDED"
    second = glue_job.start_job_run(JobName="executor-test")["JobRunId"]
    assert wait_glue(glue_job, "executor-test", second)["JobRunState"] == "SUCCEEDED"


def test_update_job_replaces_the_definition_as_glue_does(aws_env, glue_job):
    job = glue_job.get_job(JobName="executor-test")["Job"]
    glue_job.update_job(
        JobName="executor-test",
        JobUpdate={
            "Role": job["Role"],
            "Command": {**job["Command"], "ScriptLocation": f"s3://{BUCKET}/code/other.py"},
            "DefaultArguments": {"--only": "this"},
        },
    )
    updated = glue_job.get_job(JobName="executor-test")["Job"]
    assert updated["Command"]["ScriptLocation"] == f"s3://{BUCKET}/code/other.py"
    assert updated["DefaultArguments"] == {"--only": "this"}


def test_modules_the_project_lacks_are_installed_once_into_a_cached_environment(aws_env, glue_job):
    """Pins the project's environment does not satisfy get an environment of their own, keyed by their hash
    and built with the job's Python version when this machine has it; a second run reuses it."""
    from prodml.emulator.environments import find_python

    job = glue_job.get_job(JobName="executor-test")["Job"]
    arguments = {**job["DefaultArguments"], "--additional-python-modules": "six==1.16.0"}
    glue_job.create_job(Name="pinned", Role=job["Role"], Command=job["Command"], DefaultArguments=arguments)
    logs = aws.client("logs", aws_env)
    environments = []
    for _ in range(2):
        run_id = glue_job.start_job_run(JobName="pinned")["JobRunId"]
        run = wait_glue(glue_job, "pinned", run_id, timeout=300)
        assert run["JobRunState"] == "SUCCEEDED", run.get("ErrorMessage")
        lines = log_lines(logs, "/aws-glue/python-jobs/output", run_id)
        environments.append(next(x for x in lines if "running" in x))
        python = next(x for x in lines if x.startswith("PYTHON "))
    assert "cached environment" in environments[0] and environments[0] == environments[1]
    if find_python("3.9") is None:
        assert "no Python 3.9 on this machine" in environments[0]
    else:
        assert python == "PYTHON 3.9"
