"""The emulator's process: moto server's WSGI app with moto's backends in this process, and the job
executor beside it, so Glue job runs, SageMaker training and processing jobs started through the API are
executed, CloudWatch alarms are evaluated, and Step Functions executions run (moto's ASL interpreter,
calling this same server; an execution running when the emulator stopped is failed on restore).

``python -m prodml.emulator.server --host 127.0.0.1 --port 4566 --work-dir DIR [--state-file FILE [--fresh]]
[--no-executor]``; the ``prodml emulator`` commands start and stop it. With a state file the state survives
a stop (:mod:`prodml.emulator.persistence`). Besides every AWS API moto serves, it answers
``GET /_prodml/executor`` (the executor's state as JSON), ``POST /_prodml/executor/start|stop`` and
``GET /_prodml/state`` (where the state is kept, whether it was restored, when it was last saved).
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

from prodml.emulator import joblog, moto_hooks, persistence
from prodml.emulator.executor import JobExecutor

CONTROL_PREFIX = "/_prodml/executor"
STATE_PATH = "/_prodml/state"


def _json(start_response: Callable[..., Any], status: str, document: object) -> list[bytes]:
    body = json.dumps(document).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


class ControlApp:
    """moto's app, plus the executor's control routes and the state route; every AWS call marks the state
    changed for the snapshotter."""

    def __init__(
        self,
        app: Callable[..., Iterable[bytes]],
        executor: JobExecutor,
        state: persistence.StateInfo | None,
        on_change: Callable[[], None],
    ):
        self.app, self.executor, self.state, self.on_change = app, executor, state, on_change

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET")
        if path == STATE_PATH and method == "GET":
            return _json(start_response, "200 OK", self.state.as_dict() if self.state else {"path": None})
        if not path.startswith(CONTROL_PREFIX):
            answer = self.app(environ, start_response)
            # After the call, which is when moto has applied it: marked before, a snapshot taken while the
            # request ran would clear the mark and leave its change unsaved.
            if not path.startswith("/moto-api/data.json"):
                self.on_change()
            return answer
        action = path[len(CONTROL_PREFIX) :].strip("/")
        if method == "POST" and action in ("start", "stop"):
            self.executor.set_running(action == "start")
        elif method != "GET" or action:
            return _json(
                start_response, "404 Not Found", {"error": f"unknown executor route {method} {path}"}
            )
        return _json(start_response, "200 OK", asdict(self.executor.state()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m prodml.emulator.server",
        description="moto server with prodml's job executor (Glue job runs, SageMaker training jobs).",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4566)
    parser.add_argument("--work-dir", type=Path, required=True, help="Scratch space for running jobs.")
    parser.add_argument("--no-executor", action="store_true", help="Start with the executor stopped.")
    parser.add_argument("--state-file", type=Path, help="Keep the state here across stops (none: in memory).")
    parser.add_argument(
        "--fresh", action="store_true", help="Start empty (the old state file is moved aside)."
    )
    args = parser.parse_args(argv)

    args.work_dir = args.work_dir.resolve()  # jobs run with their own working directories
    moto_hooks.install()
    moto_hooks.execute_state_machines(args.port)
    state = persistence.restore(args.state_file, fresh=args.fresh) if args.state_file else None
    if state and state.restored:
        moto_hooks.fail_interrupted_executions(persistence.INTERRUPTED)
    snapshotter = persistence.Snapshotter(args.state_file, state) if args.state_file and state else None
    url = f"http://{args.host}:{args.port}"
    on_change = snapshotter.touch if snapshotter else lambda: None
    executor = JobExecutor(url, args.work_dir, running=not args.no_executor, on_change=on_change)
    server = make_server(
        args.host,
        args.port,
        ControlApp(
            DomainDispatcherApplication(create_backend_app),
            executor,
            state,
            on_change,
        ),
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
    if snapshotter:
        snapshotter.start()
    kept = f"state in {args.state_file}" if args.state_file else "state in memory"
    if state and (state.restored or state.note):
        kept += f" ({state.note or f'restored {state.backends} services'})"
    running = "stopped" if args.no_executor else "running"
    print(f"prodml emulator serving {url} (executor {running}; {kept})", flush=True)
    server.serve_forever()
    executor.shutdown()
    joblog.terminate_all()
    if snapshotter:
        snapshotter.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
