"""The emulator executes Step Functions state machines with moto's ASL interpreter, whose tasks call this
same emulator: a Glue run through the native .sync integration, a SageMaker Processing job through the
aws-sdk integration and a Wait/describe/Choice loop, and the intrinsics and fields the team's templates use."""

from __future__ import annotations

import json
import re
import time

import pytest

from prodml import aws
from tests.emulator.helpers import ecr_image, put, wait_glue

pytestmark = pytest.mark.integration

BUCKET = "prodml-test-sfn"
ROLE = "arn:aws:iam::123456789012:role/sfn"
SCRIPT = """
import sys
args = dict(zip(sys.argv[1::2], sys.argv[2::2]))
print("dataset " + args["--dataset"])
sys.exit(0 if args["--dataset"] != "broken" else 4)
"""
SFN_DONE = {"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"}


def run_state_machine(sfn, name: str, definition: dict, execution_input: dict, timeout: float = 60) -> dict:
    arn = sfn.create_state_machine(name=name, definition=json.dumps(definition), roleArn=ROLE)[
        "stateMachineArn"
    ]
    execution = sfn.start_execution(stateMachineArn=arn, input=json.dumps(execution_input))["executionArn"]
    return wait_execution(sfn, execution, timeout)


def wait_execution(sfn, execution_arn: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        described = sfn.describe_execution(executionArn=execution_arn)
        if described["status"] in SFN_DONE:
            return described
        time.sleep(0.2)
    raise AssertionError(f"{execution_arn} still {described['status']} after {timeout}s")


def test_a_glue_run_is_a_sync_task(aws_env):
    script = put(aws_env, BUCKET, "code/job.py", SCRIPT.encode())
    glue = aws.client("glue", aws_env)
    glue.create_job(
        Name="sfn-etl",
        Role=ROLE,
        Command={"Name": "pythonshell", "ScriptLocation": script, "PythonVersion": "3.9"},
        DefaultArguments={"--dataset": "none"},
    )
    definition = {
        "StartAt": "Etl",
        "States": {
            "Etl": {
                "Type": "Task",
                "Resource": "arn:aws:states:::glue:startJobRun.sync",
                "Parameters": {"JobName": "sfn-etl", "Arguments": {"--dataset.$": "$.dataset"}},
                "ResultSelector": {"state.$": "$.JobRunState", "run.$": "$.Id"},
                "ResultPath": "$.etl",
                "End": True,
            }
        },
    }
    sfn = aws.client("stepfunctions", aws_env)
    done = run_state_machine(sfn, "sfn-glue", definition, {"dataset": "churn"})
    assert done["status"] == "SUCCEEDED", (
        done,
        sfn.get_execution_history(executionArn=done["executionArn"])["events"][-4:],
    )
    output = json.loads(done["output"])
    assert output["etl"]["state"] == "SUCCEEDED" and output["dataset"] == "churn"
    # The task waited for the run the executor really ran.
    assert wait_glue(glue, "sfn-etl", output["etl"]["run"])["JobRunState"] == "SUCCEEDED"

    failed = run_state_machine(sfn, "sfn-glue-fail", definition, {"dataset": "broken"})
    assert failed["status"] == "FAILED" and failed.get("error") == "States.TaskFailed", failed


# A processing step as the team's templates write one: the image from SSM, a run id from the entry time and
# a UUID, the job started with aws-sdk:sagemaker:createProcessingJob and polled with Wait, describe, Choice.
PROCESSING_LOOP = {
    "StartAt": "GetImage",
    "States": {
        "GetImage": {
            "Type": "Task",
            "Resource": "arn:aws:states:::aws-sdk:ssm:getParameter",
            "Parameters": {"Name": "/prodml-test/image"},
            "ResultSelector": {"uri.$": "$.Parameter.Value"},
            "ResultPath": "$.image",
            "Next": "RunId",
        },
        "RunId": {
            "Type": "Pass",
            "Parameters": {
                "image.$": "$.image.uri",
                "exit_code.$": "$.exit_code",
                "start.$": "States.StringSplit($$.State.EnteredTime, '-T:.Z+')",
                "uuid.$": "States.StringSplit(States.UUID(), '-')",
            },
            "ResultPath": "$",
            "Next": "RunIdFormat",
        },
        "RunIdFormat": {
            "Type": "Pass",
            "Parameters": {
                "image.$": "$.image",
                "exit_code.$": "$.exit_code",
                "run_id.$": "States.Format('{}{}{}-{}{}{}-{}', States.ArrayGetItem($.start, 0), "
                "States.ArrayGetItem($.start, 1), States.ArrayGetItem($.start, 2), States.ArrayGetItem($.start, 3), "
                "States.ArrayGetItem($.start, 4), States.ArrayGetItem($.start, 5), States.ArrayGetItem($.uuid, 1))",
            },
            "ResultPath": "$",
            "Next": "JobName",
        },
        "JobName": {
            "Type": "Pass",
            "Parameters": {"job.$": "States.Format('sfn-proc-{}', $.run_id)"},
            "ResultPath": "$.names",
            "Next": "Create",
        },
        "Create": {
            "Type": "Task",
            "Resource": "arn:aws:states:::aws-sdk:sagemaker:createProcessingJob",
            "Parameters": {
                "ProcessingJobName.$": "$.names.job",
                "RoleArn": ROLE,
                "AppSpecification": {
                    "ImageUri.$": "$.image",
                    "ContainerEntrypoint.$": "States.Array('python', '-c', 'import sys; print(sys.argv); "
                    "sys.exit(int(sys.argv[1]))', $.exit_code)",
                },
                "ProcessingResources": {
                    "ClusterConfig": {
                        "InstanceCount": 1,
                        "InstanceType": "ml.m5.xlarge",
                        "VolumeSizeInGB": 30,
                    }
                },
                "StoppingCondition": {"MaxRuntimeInSeconds": 300},
                "Environment": {"PRODML_ENV": "dev"},
            },
            "ResultPath": None,
            "Next": "Wait",
        },
        "Wait": {"Type": "Wait", "Seconds": 1, "Next": "Describe"},
        "Describe": {
            "Type": "Task",
            "Resource": "arn:aws:states:::aws-sdk:sagemaker:describeProcessingJob",
            "Parameters": {"ProcessingJobName.$": "$.names.job"},
            "ResultSelector": {
                "name.$": "$.ProcessingJobName",
                "status.$": "$.ProcessingJobStatus",
                "description.$": "$",
            },
            "ResultPath": "$.job",
            "Next": "Done?",
        },
        "Done?": {
            "Type": "Choice",
            "Choices": [
                {"Variable": "$.job.status", "StringEquals": "Completed", "Next": "Missing"},
                {"Variable": "$.job.status", "StringEquals": "Failed", "Next": "JobFailed"},
                {"Variable": "$.job.status", "StringEquals": "Stopped", "Next": "JobFailed"},
            ],
            "Default": "Wait",
        },
        # A task that fails (no such job) and is caught: the error lands in the state and the run goes on.
        "Missing": {
            "Type": "Task",
            "Resource": "arn:aws:states:::aws-sdk:sagemaker:describeProcessingJob",
            "Parameters": {"ProcessingJobName": "no-such-job"},
            "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.caught", "Next": "Succeeded"}],
            "Next": "Succeeded",
        },
        "Succeeded": {
            "Type": "Pass",
            "Parameters": {"run_id.$": "$.run_id", "job.$": "$.job.name", "caught.$": "$.caught.Error"},
            "End": True,
        },
        "JobFailed": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.job.description.FailureReason", "IsPresent": True, "Next": "Reason"}],
            "Default": "Fail",
        },
        "Reason": {
            "Type": "Pass",
            "Parameters": {
                "cause.$": "States.Format('processing job {} {}: {}', $.job.name, $.job.status, "
                "$.job.description.FailureReason)"
            },
            "ResultPath": "$.failure",
            "Next": "Fail",
        },
        "Fail": {"Type": "Fail", "Error": "JobFailed", "CausePath": "$.failure.cause"},
    },
}


def test_a_processing_job_is_started_and_polled_with_the_aws_sdk_integration(aws_env):
    aws.client("ssm", aws_env).put_parameter(
        Name="/prodml-test/image", Value=ecr_image(aws_env), Type="String"
    )
    sfn = aws.client("stepfunctions", aws_env)
    done = run_state_machine(sfn, "sfn-processing", PROCESSING_LOOP, {"exit_code": "0"})
    assert done["status"] == "SUCCEEDED", done
    output = json.loads(done["output"])
    # The run id: the entry time's date and time, and 4 hex digits of a UUID.
    assert re.fullmatch(r"\d{8}-\d{6}-[0-9a-f]{4}", output["run_id"]), output
    assert output["job"] == f"sfn-proc-{output['run_id']}"
    # Caught; moto names it sagemaker.sagemakerException where AWS says SageMaker.AmazonSageMakerException, so
    # templates catch States.ALL / States.TaskFailed, never a service's own error name.
    assert output["caught"].lower().startswith("sagemaker."), output
    job = aws.client("sagemaker", aws_env).describe_processing_job(ProcessingJobName=output["job"])
    assert job["ProcessingJobStatus"] == "Completed" and job["Environment"] == {"PRODML_ENV": "dev"}

    failed = sfn.describe_execution(
        executionArn=sfn.start_execution(
            stateMachineArn=done["stateMachineArn"], input=json.dumps({"exit_code": "3"})
        )["executionArn"]
    )
    failed = wait_execution(sfn, failed["executionArn"])
    assert failed["status"] == "FAILED" and failed["error"] == "JobFailed", failed
    assert re.fullmatch(
        r"processing job sfn-proc-\S+ Failed: AlgorithmError: the container exited with code 3",
        failed["cause"],
    ), failed["cause"]
