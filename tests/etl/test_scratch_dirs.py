"""A run's local scratch (``<tmp>/prodml-etl-*``): a run removes all of it, and sweeps the scratch of runs
that died (killed, out of memory), never that of a run still going."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from prodml import sample_data
from prodml.bootstrap import bootstrap
from prodml.etl import publish
from prodml.ingest import ingest
from tests.conftest import REPO
from tests.etl.job_runs import job_argv, run_job

SCRATCH = "prodml-etl-*"
# A stand-in for a run: makes its scratch the way the job does, fills it, says where, and waits.
CHILD = (
    "from prodml.etl import publish; import time; "
    "path = publish.scratch_dir(); (path / 'run' / 'spill').mkdir(parents=True); "
    "(path / 'run' / 'spill' / 'bucket-00000.arrows').write_bytes(b'x' * 1024); "
    "print(path, flush=True); time.sleep(300)"
)


def start_run(tmp: Path) -> tuple[subprocess.Popen, Path]:
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD],
        cwd=REPO,
        env={**os.environ, "TMPDIR": str(tmp)},
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    return child, Path(child.stdout.readline().strip())


def test_a_run_sweeps_the_scratch_of_dead_runs_only(tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr("tempfile.tempdir", None)  # re-read TMPDIR
    live, live_dir = start_run(tmp_path)
    try:
        killed, killed_dir = start_run(tmp_path)
        killed.send_signal(signal.SIGKILL)
        killed.wait()
        unowned_fresh = tmp_path / "prodml-etl-fresh"  # as a run between creating it and naming its owner
        unowned_old = tmp_path / "prodml-etl-reports-old"  # left by a release that recorded no owner
        for path in (unowned_fresh, unowned_old):
            path.mkdir()
        day_ago = time.time() - 2 * 24 * 3600
        os.utime(unowned_old, (day_ago, day_ago))
        unrelated = tmp_path / "someone-elses"
        unrelated.mkdir()
        assert killed_dir.exists() and live_dir.exists()

        mine = publish.scratch_dir()
        assert mine.parent == tmp_path
        assert sorted(tmp_path.iterdir()) == sorted([live_dir, unowned_fresh, unrelated, mine])
        assert (live_dir / "run" / "spill" / "bucket-00000.arrows").exists()
    finally:
        live.kill()
        live.wait()


# ---- the job, end to end ---------------------------------------------------------------------------------


@pytest.mark.integration
def test_a_killed_runs_scratch_is_swept_and_a_finished_run_leaves_none(aws_env, churn_contract, tmp_path):
    bootstrap(aws_env, [churn_contract.name])
    data = tmp_path / "churn.csv"
    sample_data.write_sample(churn_contract, data, 3000)
    ingest(data, churn_contract, aws_env)
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = {**os.environ, "TMPDIR": str(tmp)}
    argv = job_argv(aws_env, churn_contract)

    job = subprocess.Popen(argv, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and job.poll() is None:
        if list(tmp.glob(f"{SCRATCH}/*/split=train/*.parquet")):  # output written, not yet committed
            job.send_signal(signal.SIGKILL)
            break
        time.sleep(0.01)
    job.wait(timeout=30)
    assert job.returncode == -signal.SIGKILL, "the job finished before it could be killed"
    assert list(tmp.glob(SCRATCH)), "the killed run left its scratch behind"

    assert run_job(argv, env)["status"] == "committed"
    assert list(tmp.iterdir()) == []
