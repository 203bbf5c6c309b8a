"""Structured JSON logs: one object a line, every line inside a request carrying its request id.

Request lines double as CloudWatch embedded-metric-format records (see :mod:`app.serving.telemetry`), so a
log line and the metric derived from it can never disagree.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import sys
import time
from collections.abc import Callable, Iterable

import orjson

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = request_id_var.get()
        if request_id:
            payload["request_id"] = request_id
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                payload[key] = value
        if record.exc_info:
            # Tracebacks go to the log, never to a client.
            payload["exception"] = self.formatException(record.exc_info)
        return json.dumps(payload, default=str, separators=(",", ":"))


def configure_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("botocore", "boto3", "urllib3", "s3transfer"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


# ---- the hot path's writer ------------------------------------------------------------------------------
# Request lines are the log volume. They skip the logging machinery and are buffered: written together at
# most FLUSH_S after the first one waits (or once FLUSH_LINES wait), so a request costs no write syscall.
# The lifespan flushes on shutdown; a SIGKILL loses at most FLUSH_S of access lines.
FLUSH_S = 0.25
FLUSH_LINES = 512

_pending: list[str] = []
_before_flush: list[Callable[[], Iterable[dict]]] = []  # more lines for each flush (aggregated EMF records)


class Deferred:
    """Call ``fn`` once, ``delay_s`` after the first :meth:`soon` that finds nothing scheduled, on the running
    event loop; with no loop (a script, a unit test) nothing would come back, so call it at once. The hot
    path's buffers (access lines here, metric counts in telemetry) flush through it."""

    def __init__(self, fn: Callable[[], None], delay_s: float):
        self.fn, self.delay_s = fn, delay_s
        self._scheduled = False

    def soon(self) -> None:
        if self._scheduled:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.fn()
            return
        self._scheduled = True
        loop.call_later(self.delay_s, self._run)

    def _run(self) -> None:
        self._scheduled = False
        self.fn()


def on_flush(callback: Callable[[], Iterable[dict]]) -> None:
    _before_flush.append(callback)


def _line(payload: dict) -> str:
    # orjson: the access line is encoded once a request, and the standard encoder's cost showed up there.
    return orjson.dumps(payload, default=str).decode()


def write_line(payload: dict) -> None:
    """Queue one JSON line for stdout."""
    payload.setdefault("ts", round(time.time(), 3))
    _pending.append(_line(payload))
    if len(_pending) >= FLUSH_LINES:
        flush_lines()
    else:
        _deferred_flush.soon()


def flush_lines() -> None:
    for callback in _before_flush:
        _pending.extend(_line(p) for p in callback())
    if _pending:
        text = "\n".join(_pending) + "\n"
        _pending.clear()
        sys.stdout.write(text)
        sys.stdout.flush()


_deferred_flush = Deferred(flush_lines, FLUSH_S)
