"""`prodml serve`: the inference service, run locally exactly as its container runs it (gunicorn with
services/inference/gunicorn.conf.py), plus the demo step that serves the approved model and queries it."""

from __future__ import annotations

import copy
import http.client
import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Annotated, Any

import typer

from prodml import local_service
from prodml.cli._common import UserError, console, handle_errors, settings


def _client_headers() -> dict[str, str]:
    """The key a client sends when one is configured for the service (the demo's own requests)."""
    key = os.environ.get("PRODML_API_KEY")
    return {"X-API-Key": key} if key else {}


def http_json(
    method: str, url: str, body: dict | None = None, headers: dict | None = None
) -> tuple[int, dict | str]:
    """One request on a new connection, with the client's API key header: (status, the JSON answer, or the
    text when it is not JSON). An HTTP error status is an answer, not an exception."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        url,
        data=data,
        method=method,
        headers={"content-type": "application/json", **_client_headers(), **(headers or {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    text = raw.decode()
    try:
        return status, json.loads(text)
    except ValueError:
        return status, text


def json_object(answer: dict | str) -> dict:
    """A JSON object answer; the service answered something else when this raises."""
    if not isinstance(answer, dict):
        raise UserError(f"the service answered {str(answer)[:200]!r}, not a JSON object")
    return answer


class KeepAlive:
    """One kept-alive HTTP connection, as a client with a connection pool holds: its requests all reach the
    same gunicorn worker, so a repeated request meets that worker's in-memory prediction cache."""

    def __init__(self, url: str):
        parsed = urllib.parse.urlsplit(url)
        self.connection = http.client.HTTPConnection(parsed.hostname or "127.0.0.1", parsed.port, timeout=10)

    def __call__(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict | str]:
        data = json.dumps(body).encode() if body is not None else None
        headers = {"content-type": "application/json", **_client_headers()}
        self.connection.request(method, path, body=data, headers=headers)
        response = self.connection.getresponse()
        text = response.read().decode()
        try:
            return response.status, json.loads(text)
        except ValueError:
            return response.status, text

    def close(self) -> None:
        self.connection.close()


def wait_ready(process: subprocess.Popen, url: str, timeout: float) -> tuple[bool, float, str]:
    """(ready, seconds, last reason). /health first (the process is up), then /ready (a model is loaded)."""
    started = time.monotonic()
    reason = "not started"
    while time.monotonic() - started < timeout:
        if process.poll() is not None:
            return False, time.monotonic() - started, f"gunicorn exited with {process.returncode}"
        try:
            status, body = http_json("GET", url + "/ready")
            if status == 200:
                return True, time.monotonic() - started, ""
            reason = body.get("reason", str(body)) if isinstance(body, dict) else str(body)
        except (urllib.error.URLError, ConnectionError, OSError):
            pass
        time.sleep(0.1)
    return False, time.monotonic() - started, reason


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@handle_errors
def serve(
    dataset: Annotated[
        str, typer.Option("--dataset", "-d", help="Dataset whose champion model to serve.")
    ] = "customer_churn",
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1.")] = 8080,
    workers: Annotated[int | None, typer.Option(help="Gunicorn workers (default: one per CPU core).")] = None,
    canary_version: Annotated[int | None, typer.Option(help="Challenger model version for a canary.")] = None,
    canary_fraction: Annotated[float, typer.Option(help="Share of request keys the challenger gets.")] = 0.1,
) -> None:
    """Serve the registry's champion locally with gunicorn and the service's own gunicorn.conf.py.

    Ctrl-C, SIGTERM or SIGHUP stops gunicorn and all its workers: gracefully, then by force."""
    extra = {"PRODML_CANARY_FRACTION": str(canary_fraction)}
    if canary_version:
        extra["PRODML_CANARY_VERSION"] = str(canary_version)
    env, auth_line = local_service.server_env(settings(), dataset, port, workers, extra)
    console.print(
        f"serving {dataset} on http://127.0.0.1:{port} (docs at /docs); Ctrl-C stops", highlight=False
    )
    console.print(auth_line, highlight=False)
    bound = local_service.kill_bound_s(env)

    def stopping(signum: int) -> None:
        console.print(f"{signal.Signals(signum).name}: stopping gunicorn (killed after {bound:.0f}s)")

    raise typer.Exit(
        local_service.serve_until_stopped(lambda: local_service.start_server(env), bound, stopping)
    )


# ---- demo ---------------------------------------------------------------------------------------------
def _bad_request(example: dict, schema: dict) -> tuple[dict, str]:
    """Break one field the way a client would: an unknown category, else an out-of-range number."""
    properties = schema.get("properties", {})
    for name, spec in properties.items():
        if "enum" in json.dumps(spec):
            return {**example, name: "no-such-value"}, f"{name} = 'no-such-value'"
    for name, spec in properties.items():
        bound = json.dumps(spec)
        if '"maximum"' in bound:
            maximum = next(v for k, v in _walk(spec) if k == "maximum")
            return {**example, name: maximum + 1}, f"{name} = {maximum + 1}"
    required = schema.get("required", [])
    broken = {k: v for k, v in example.items() if k != (required[0] if required else None)}
    return broken, f"without {required[0] if required else 'anything'}"


def _walk(node):
    if isinstance(node, dict):
        for key, value in node.items():
            yield key, value
            yield from _walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from _walk(item)


def step_serve(ctx) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    state = Path(settings().state_dir).resolve() / "serving"
    state.mkdir(parents=True, exist_ok=True)
    log_path = state / "gunicorn.log"
    env, auth_line = local_service.server_env(
        settings(), ctx.contract.name, port, 2, {"PRODML_CAPTURE_FLUSH_S": "1"}
    )
    console.print(f"  {auth_line}", highlight=False)
    bound = local_service.kill_bound_s(env)
    try:
        with local_service.running(lambda: local_service.start_server(env, log_path), bound) as process:
            _query_the_service(process, url, log_path)
    finally:
        console.print("  service stopped")


def _query_the_service(process: subprocess.Popen, url: str, log_path: Path) -> None:
    """What the demo shows of the running service: its readiness, a few requests, the model and metrics."""
    ready, seconds, reason = wait_ready(process, url, timeout=60)
    if not ready:
        console.print(f"  service not ready after {seconds:.1f}s: {reason} (log: {log_path})")
        return
    console.print(f"  gunicorn up and ready in {seconds:.2f}s at {url}")
    openapi = json_object(http_json("GET", url + "/openapi.json")[1])
    body = openapi["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]
    schema = openapi["components"]["schemas"][body["schema"]["$ref"].rsplit("/", 1)[-1]]
    example = body["example"]
    respelled = copy.deepcopy(example)
    for key, value in respelled.items():
        if isinstance(value, str) and value.isalpha():
            respelled[key] = f"  {value.upper()} "
    bad, what = _bad_request(example, schema)
    requests: list[tuple[str, str, dict[str, Any]]] = [
        ("POST /predict (contract example)", "/predict", example),
        ("POST /predict (same row, categories re-spelled: a cache hit)", "/predict", respelled),
        ("POST /predict/batch (2 rows)", "/predict/batch", {"rows": [example, respelled]}),
        (f"POST /predict (bad: {what})", "/predict", bad),
    ]
    client = KeepAlive(url)
    try:
        for title, path, payload in requests:
            status, answer = client("POST", path, payload)
            console.print(f"  {title} → {status}")
            console.print("    " + json.dumps(answer)[:400], highlight=False)
    finally:
        client.close()
    model = json_object(http_json("GET", url + "/model")[1])
    champion = model["champion"]
    console.print(
        f"  GET /model → v{champion['version']} ({champion['backend']}), metrics: "
        + json.dumps(champion["metrics"].get("test", {}))[:200],
        highlight=False,
    )
    metrics = http_json("GET", url + "/metrics")[1]
    console.print("  /metrics highlights:")
    for line in str(metrics).splitlines():
        if line.startswith(
            (
                "prodml_requests_total",
                "prodml_cache_requests_total",
                "prodml_model_load_seconds_sum",
                "prodml_model_version",
            )
        ):
            console.print(f"    {line}", highlight=False)


def register(app: typer.Typer) -> None:
    app.command()(serve)


DEMO_STEPS = [(70, "serve", step_serve)]
