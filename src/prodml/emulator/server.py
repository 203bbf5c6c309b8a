"""The emulator's process: moto server's WSGI app with moto's backends in this process, and the job
executor beside it, so Glue job runs and SageMaker training jobs started through the API are executed.

``python -m prodml.emulator.server --host 127.0.0.1 --port 4566 --work-dir DIR [--no-executor]``; the
``prodml emulator`` commands start and stop it. Besides every AWS API moto serves, it answers
``GET /_prodml/executor`` (the executor's state as JSON) and ``POST /_prodml/executor/start|stop``.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from collections.abc import Callable, Iterable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import make_server

from prodml.emulator import joblog, moto_hooks
from prodml.emulator.executor import JobExecutor

CONTROL_PREFIX = "/_prodml/executor"


class ControlApp:
    """moto's app, plus the executor's control routes."""

    def __init__(self, app: Callable[..., Iterable[bytes]], executor: JobExecutor):
        self.app, self.executor = app, executor

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if not path.startswith(CONTROL_PREFIX):
            return self.app(environ, start_response)
        method = environ.get("REQUEST_METHOD", "GET")
        action = path[len(CONTROL_PREFIX) :].strip("/")
        if method == "POST" and action in ("start", "stop"):
            self.executor.set_running(action == "start")
        elif method != "GET" or action:
            start_response("404 Not Found", [("Content-Type", "application/json")])
            return [json.dumps({"error": f"unknown executor route {method} {path}"}).encode()]
        body = json.dumps(asdict(self.executor.state())).encode()
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m prodml.emulator.server",
        description="moto server with prodml's job executor (Glue job runs, SageMaker training jobs).",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4566)
    parser.add_argument("--work-dir", type=Path, required=True, help="Scratch space for running jobs.")
    parser.add_argument("--no-executor", action="store_true", help="Start with the executor stopped.")
    args = parser.parse_args(argv)

    moto_hooks.install()
    url = f"http://{args.host}:{args.port}"
    executor = JobExecutor(url, args.work_dir, running=not args.no_executor)
    server = make_server(
        args.host,
        args.port,
        ControlApp(DomainDispatcherApplication(create_backend_app), executor),
        threaded=True,
        request_handler=MotoRequestHandler,
    )
    stopping = threading.Event()

    def stop(signum: int, frame: Any) -> None:
        if not stopping.is_set():
            stopping.set()
            threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    executor.start()
    print(
        f"prodml emulator serving {url} (executor {'stopped' if args.no_executor else 'running'})", flush=True
    )
    server.serve_forever()
    executor.shutdown()
    joblog.terminate_all()
    return 0


if __name__ == "__main__":
    sys.exit(main())
