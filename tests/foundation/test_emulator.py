"""`prodml emulator up|down|status` and `prodml emulator executor status|start|stop` as a user runs them:
separate processes, a real moto server."""

from __future__ import annotations

import http.server
import json
import threading

import pytest

from tests.conftest import free_port, run_prodml

pytestmark = pytest.mark.integration


def test_up_is_idempotent_and_down_stops_it(tmp_path, cli):
    port = str(free_port())
    env = {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}"}
    state = ["--state-dir", str(tmp_path)]
    try:
        first = run_prodml("emulator", "up", *state, env=env)
        assert first.returncode == 0 and "started" in first.stdout, first.stderr
        pid_file = tmp_path / "emulator" / f"moto-{port}.pid"
        assert pid_file.exists() and (tmp_path / "emulator" / f"moto-{port}.log").exists()
        second = run_prodml("emulator", "up", *state, env=env)
        assert second.returncode == 0 and "already up" in second.stdout
        assert pid_file.read_text() in second.stdout  # the same process, not a second one
        status = cli("emulator", "status", *state, env=env)
        assert status.returncode == 0 and "is serving" in status.stdout
    finally:
        down = run_prodml("emulator", "down", *state, env=env)
    assert down.returncode == 0 and "stopped" in down.stdout
    assert not pid_file.exists()
    again = cli("emulator", "status", *state, env=env)
    assert "nothing is serving" in again.stdout


def test_a_foreign_endpoint_is_used_not_replaced(tmp_path, cli):
    # Something else (a user's LocalStack, say) already serves the port: prodml must not start moto.
    server = http.server.HTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    try:
        env = {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}"}
        result = cli("emulator", "up", "--state-dir", str(tmp_path), env=env)
        assert result.returncode == 0 and "did not start" in result.stdout
        assert not (tmp_path / "emulator" / f"moto-{port}.pid").exists()
        remote = cli("emulator", "up", env={"AWS_ENDPOINT_URL": "https://localstack.example:4566"})
        assert "does not start the emulator" in remote.stdout
        # Only prodml's emulator has a job executor; asking another endpoint for one is an error, not a crash.
        executor = cli("emulator", "executor", "status", "--state-dir", str(tmp_path), env=env)
        assert executor.returncode == 1 and "no prodml job executor" in executor.stderr
    finally:
        server.shutdown()


def test_the_executor_stops_and_starts(tmp_path, cli):
    port = str(free_port())
    env = {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}"}
    state = ["--state-dir", str(tmp_path)]

    def executor(action: str) -> dict:
        result = cli("emulator", "executor", action, *state, "--json", env=env)
        assert result.returncode == 0, result.stdout + result.stderr
        return json.loads(result.stdout)

    try:
        up = run_prodml("emulator", "up", *state, env=env)
        assert up.returncode == 0 and "started" in up.stdout, up.stderr
        assert executor("status") == {"running": True, "active": [], "finished": 0}
        assert executor("stop")["running"] is False
        assert executor("status")["running"] is False
        stopped = run_prodml("emulator", "executor", "status", *state, env=env)
        assert stopped.returncode == 0 and "executor stopped" in stopped.stdout, stopped.stderr
        assert executor("start")["running"] is True
        assert executor("status")["running"] is True
    finally:
        run_prodml("emulator", "down", *state, env=env)


def test_up_no_executor_starts_it_stopped(tmp_path, cli):
    port = str(free_port())
    env = {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}"}
    state = ["--state-dir", str(tmp_path)]
    try:
        up = run_prodml("emulator", "up", "--no-executor", *state, env=env)
        assert up.returncode == 0 and "started" in up.stdout, up.stderr
        status = cli("emulator", "executor", "status", *state, "--json", env=env)
        assert json.loads(status.stdout)["running"] is False
    finally:
        run_prodml("emulator", "down", *state, env=env)
