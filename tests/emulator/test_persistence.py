"""The emulator keeps its state: across `prodml emulator down` / `up`, the last snapshot across a crash, an
empty start with --fresh; a job interrupted by the stop says so; a running service keeps serving (and
capturing) across a restart."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest

from prodml import aws
from prodml.bootstrap import bootstrap
from prodml.emulator import Emulator
from prodml.emulator.persistence import INTERRUPTED
from prodml.registry import ModelRegistry
from prodml.settings import Settings
from tests.conftest import free_port, point_at
from tests.emulator.helpers import put
from tests.inference.conftest import Platform, build_artifact, start_service

pytestmark = pytest.mark.integration


@pytest.fixture
def own_emulator(tmp_path, monkeypatch):
    """An emulator of the test's own (the session's is shared), keeping its state in tmp_path."""
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    point_at(endpoint, monkeypatch, tmp_path / ".prodml")
    monkeypatch.setenv("PRODML_EMULATOR_SNAPSHOT_SECONDS", "0.5")
    emulator = Emulator(Settings(endpoint_url=endpoint), port=port, state_dir=tmp_path / "emulator")
    emulator.up()
    yield emulator, Settings()
    emulator.down()


def _objects(settings: Settings, bucket: str) -> list[str]:
    s3 = aws.client("s3", settings)
    return [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]


def test_state_survives_down_and_up_and_fresh_starts_empty(own_emulator, churn_contract):
    emulator, settings = own_emulator
    bootstrap(settings, [churn_contract.name])
    bucket = settings.bucket("raw")
    put(settings, bucket, "customer_churn/a.csv", b"a,b\n1,2\n")
    sm = aws.client("sagemaker", settings)
    registry = ModelRegistry(sm, settings.model_package_group(churn_contract.name))
    registry.register(
        model_data_url=f"s3://{bucket}/x/model.tar.gz",
        image_uri="img",
        metrics_uri=f"s3://{bucket}/x/metrics.json",
        summary={},
        metadata={},
        status="Approved",
    )
    # A Glue run still running when the emulator stops cannot resume: it is failed, and says why.
    script = put(settings, "prodml-test-persist-code", "sleep.py", b"import time\ntime.sleep(60)\n")
    glue = aws.client("glue", settings)
    glue.create_job(Name="sleeper", Role="r", Command={"Name": "pythonshell", "ScriptLocation": script})
    run_id = glue.start_job_run(JobName="sleeper")["JobRunId"]
    deadline = time.monotonic() + 30
    while glue.get_job_run(JobName="sleeper", RunId=run_id)["JobRun"]["JobRunState"] != "RUNNING":
        assert time.monotonic() < deadline
        time.sleep(0.1)

    assert emulator.down()
    emulator.up()
    assert emulator.state()["restored"] is True
    assert _objects(settings, bucket) == ["customer_churn/a.csv"]
    assert aws.client("s3", settings).get_object(Bucket=bucket, Key="customer_churn/a.csv")[
        "Body"
    ].read() == (b"a,b\n1,2\n")
    (version,) = ModelRegistry(aws.client("sagemaker", settings), registry.group).versions()
    assert version.status == "Approved" and version.version == 1
    run = glue.get_job_run(JobName="sleeper", RunId=run_id)["JobRun"]
    assert (run["JobRunState"], run["ErrorMessage"]) == ("FAILED", INTERRUPTED)

    emulator.down()
    emulator.up(fresh=True)
    state = emulator.state()
    assert state["restored"] is False and "moved to" in state["note"]
    assert aws.client("s3", settings).list_buckets()["Buckets"] == []


def test_a_crash_keeps_the_last_snapshot(own_emulator):
    emulator, settings = own_emulator
    bucket = "prodml-test-crash"
    put(settings, bucket, "before-snapshot", b"1")
    done = time.time()
    deadline = time.monotonic() + 30
    while (emulator.state()["saved_at"] or 0) <= done:  # a snapshot of the state as of after the put
        assert time.monotonic() < deadline, "no snapshot was taken"
        time.sleep(0.1)
    os.killpg(emulator.status().pid, signal.SIGKILL)  # no chance to save on the way out
    deadline = time.monotonic() + 10
    while emulator.responding():
        assert time.monotonic() < deadline
        time.sleep(0.1)
    emulator.up()
    assert emulator.state()["restored"] is True
    assert _objects(settings, bucket) == ["before-snapshot"]


def test_a_running_service_keeps_serving_and_capturing_across_a_restart(
    own_emulator, churn_contract, tmp_path
):
    emulator, settings = own_emulator
    bootstrap(settings, [churn_contract.name])
    platform = Platform(
        settings,
        churn_contract,
        ModelRegistry(aws.client("sagemaker", settings), settings.model_package_group(churn_contract.name)),
    )
    platform.publish(build_artifact(churn_contract, tmp_path / "model", n_estimators=5, seed=1))
    server = start_service(
        {
            "PRODML_DATASET": churn_contract.name,
            "PRODML_POLL_INTERVAL_S": "0.5",
            "PRODML_CAPTURE_FRACTION": "1",
            "PRODML_CAPTURE_FLUSH_S": "0.5",
        },
        tmp_path,
    )
    try:
        server.wait_ready(version=1)
        example = server.get("/openapi.json").json()["paths"]["/predict"]["post"]["requestBody"]["content"][
            "application/json"
        ]["example"]
        statuses: list[int] = []
        stop = threading.Event()

        def probe() -> None:
            while not stop.is_set():
                statuses.append(server.get("/ready").status_code)
                time.sleep(0.05)

        prober = threading.Thread(target=probe)
        prober.start()
        try:
            emulator.down()
            emulator.up()
            for _ in range(20):
                assert server.post("/predict", example).status_code == 200
            capture = settings.bucket("capture")
            deadline = time.monotonic() + 30
            while not _objects(settings, capture):
                assert time.monotonic() < deadline, "nothing was captured after the restart"
                time.sleep(0.2)
        finally:
            stop.set()
            prober.join()
        assert statuses and set(statuses) == {200}, f"/ready answered {sorted(set(statuses))}"
        assert "NoSuchBucket" not in server.logs()
    finally:
        server.stop()


def test_the_emulator_works_in_absolute_paths_whatever_the_state_dir(tmp_path, monkeypatch):
    """`make demo` keeps state in the relative .prodml/; the jobs run in other working directories, so a
    relative work dir once doubled the script's path (a Glue run failed with "can't open file")."""
    monkeypatch.chdir(tmp_path)
    emulator = Emulator(Settings(endpoint_url="http://127.0.0.1:4599"), state_dir=Path(".prodml"))
    assert emulator.dir == tmp_path / ".prodml" / "emulator"
    assert emulator.work_dir.is_absolute() and emulator.state_file.is_absolute()
