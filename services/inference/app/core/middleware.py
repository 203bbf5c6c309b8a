"""One pure-ASGI middleware for what every request needs, kept off Starlette's slower BaseHTTPMiddleware:

- a request id (the caller's ``X-Request-Id`` when sane, else a new one), echoed in the response;
- the body size limit (413), enforced on the declared length and on the bytes actually streamed;
- the API key outside local mode (401), except on the liveness and readiness probes;
- a JSON ``Content-Type`` on the routes that take a JSON body (415), as FastAPI's own strict check has it:
  a body sent as ``text/plain`` or a form, or with no type at all, is never parsed (CVE-2021-32677);
- Prometheus counts and latency by route template (resolved here, up front, so requests answered before or
  outside FastAPI's routing — 401, 413, the docs — carry their route too), status, model version, variant;
- the fast path for ``POST /predict``: the hot route is answered here, by the same service call and the same
  response bytes as the FastAPI route (which stays registered for the OpenAPI document), without FastAPI's
  routing, dependency resolution and Response objects, which cost more than the model itself;
- one JSON access line per request (buffered), and prediction latencies and errors aggregated into
  CloudWatch EMF records written with each flush;
- any unhandled exception becomes a JSON 500 carrying the request id, with the traceback logged only.
"""

from __future__ import annotations

import itertools
import logging
import os
import re
import secrets
import time

from ..api.routes.predict import predict_fast
from ..serving import telemetry
from .errors import error_payload
from .logging import on_flush, request_id_var, write_line

log = logging.getLogger("prodml.inference.http")

OPEN_PATHS = frozenset({"/health", "/ready"})
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class BodyTooLarge(Exception):
    """Raised by the receive wrapper once the streamed body passes the limit (a chunked body declares no
    length): answered by this middleware on the fast path, by the app's exception handler inside FastAPI's
    stack (whose own error middleware would otherwise make a 500 of it before it got back here)."""

    def __init__(self, limit: int):
        super().__init__(f"request body exceeds {limit} bytes")


JSON_MEDIA_TYPE = b"application/json"


def is_json_content_type(value: bytes | None) -> bool:
    """FastAPI's rule for a JSON body: ``application/json`` or ``application/*+json``, any case, with any
    parameters (``; charset=utf-8``); a missing Content-Type is not JSON (its ``strict_content_type``)."""
    if value == JSON_MEDIA_TYPE:  # what nearly every client sends: one compare
        return True
    if not value:
        return False
    media = value.partition(b";")[0].strip().lower()
    return media == JSON_MEDIA_TYPE or (media.startswith(b"application/") and media.endswith(b"+json"))


class _RequestIds:
    """Unique request ids without a urandom call each: a random prefix per process plus a counter
    (re-drawn in a forked worker, so no two workers share a prefix)."""

    def __init__(self) -> None:
        self.reset()
        os.register_at_fork(after_in_child=self.reset)

    def reset(self) -> None:
        self._prefix = secrets.token_hex(10)
        self._counter = itertools.count(1)

    def next(self) -> str:
        return f"{self._prefix}{next(self._counter):012x}"


_ids = _RequestIds()


UNMATCHED = "unmatched"  # the route label of a path no route serves (404): bounded, whatever is requested
FAST_PATH = "/predict"


class ServiceMiddleware:
    def __init__(
        self,
        app,
        *,
        max_body_bytes: int,
        service_name: str,
        access_log: bool,
        route_templates: frozenset[str] = frozenset(),
        json_bodies: frozenset[tuple[str, str]] = frozenset(),
        fast_predict: bool = True,
    ):
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.service_name = service_name
        self.access_log = access_log
        self.route_templates = route_templates  # the app's route paths (none has a path parameter)
        self.json_bodies = json_bodies  # (method, path) of the operations that take a JSON body
        self.fast_predict = fast_predict and FAST_PATH in route_templates
        self.emf = telemetry.EmfBatch(service_name)
        on_flush(self.emf.drain)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = dict(scope["headers"])
        given = headers.get(b"x-request-id", b"").decode("latin-1")
        request_id = given if given and _REQUEST_ID.match(given) else _ids.next()
        token = request_id_var.set(request_id)
        path = scope["path"]
        route = path if path in self.route_templates else None
        info = {"model_version": "none", "variant": "none"}
        scope["prodml"] = info
        scope["prodml_request_id"] = request_id
        status_holder = [500]
        response_started = False
        id_header = (b"x-request-id", request_id.encode())

        async def send_wrapper(message):
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
                status_holder[0] = message["status"]
                message["headers"] = [*message.get("headers", []), id_header]
            await send(message)

        async def reply(status: int, code: str, message: str):
            await send_wrapper(
                {
                    "type": "http.response.start",
                    "status": status,
                    "headers": [(b"content-type", b"application/json")],
                }
            )
            await send_wrapper(
                {"type": "http.response.body", "body": error_payload(code, message, request_id)}
            )

        try:
            length = headers.get(b"content-length")
            if length is not None and (not length.isdigit() or int(length) > self.max_body_bytes):
                await reply(413, "body_too_large", str(BodyTooLarge(self.max_body_bytes)))
                return
            service = scope["app"].state.service if "app" in scope else None
            if (
                service is not None
                and path not in OPEN_PATHS
                and not service.authorised(headers.get(b"x-api-key", b"").decode("latin-1") or None)
            ):
                await reply(401, "unauthorized", "missing or invalid API key (send it in X-API-Key)")
                return
            if (scope["method"], path) in self.json_bodies and not is_json_content_type(
                headers.get(b"content-type")
            ):
                await reply(
                    415,
                    "unsupported_media_type",
                    "the body must be JSON: send Content-Type: application/json",
                )
                return
            received = 0
            limit = self.max_body_bytes

            async def limited_receive():
                nonlocal received
                message = await receive()
                if message["type"] == "http.request":
                    received += len(message.get("body", b""))
                    if received > limit:
                        raise BodyTooLarge(limit)
                return message

            if self.fast_predict and path == FAST_PATH and scope["method"] == "POST" and service is not None:
                await self._predict(scope, limited_receive, send_wrapper, headers, service, request_id)
                return
            await self.app(scope, limited_receive, send_wrapper)
        except BodyTooLarge as exc:
            if not response_started:
                await reply(413, "body_too_large", str(exc))
        except Exception:
            log.exception("unhandled error", extra={"path": scope["path"]})
            if not response_started:
                await reply(500, "internal_error", "internal error; quote the request id when reporting it")
        finally:
            request_id_var.reset(token)
            if route is None:  # a route with a path parameter, should one be added: FastAPI matched it
                route = getattr(scope.get("route"), "path", None) or UNMATCHED
            self._observe(scope, route, info, status_holder[0], time.perf_counter() - started, request_id)

    async def _predict(self, scope, receive, send, headers: dict, service, request_id: str) -> None:
        chunks = []
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        key_header = service.settings.canary_key_header.lower().encode("latin-1")
        key = headers.get(key_header)
        status, body, extra = await predict_fast(
            service,
            scope,
            b"".join(chunks),
            key.decode("latin-1") if key is not None else None,
            request_id,
        )
        response_headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ]
        response_headers += [(k.encode(), v.encode()) for k, v in extra.items()]
        await send({"type": "http.response.start", "status": status, "headers": response_headers})
        await send({"type": "http.response.body", "body": body})

    def _observe(self, scope, path: str, info: dict, status: int, seconds: float, request_id: str) -> None:
        status_text = str(status)
        version, variant = info["model_version"], info["variant"]
        tally = telemetry.TALLY
        tally.count(telemetry.REQUESTS, (path, scope["method"], status_text, version, variant))
        tally.observe(telemetry.LATENCY, (path, status_text, version, variant), seconds)
        if not self.access_log:
            return
        latency_ms = seconds * 1000
        # Predictions a model answered (or refused: 422), and every server error; a 401 or 413 is refused
        # before any model is involved.
        if status >= 500 or (variant != "none" and path.startswith("/predict")):
            self.emf.add(variant, latency_ms, status >= 500)
        write_line(
            {
                "level": "info" if status < 500 else "error",
                "message": "request",
                "request_id": request_id,
                "method": scope["method"],
                "route": path,
                "status": status,
                "model_version": version,
                "variant": variant,
                "latency_ms": round(latency_ms, 3),
            }
        )
