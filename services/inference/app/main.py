"""Builds the FastAPI app: settings, lifespan (model load, poller, capture), middleware, routes, errors.

Run it as the Dockerfile does: ``gunicorn -c gunicorn.conf.py app.main:app`` from ``services/inference``.
Nothing heavy happens at import time; the model is loaded in the lifespan, in each worker.
"""

from __future__ import annotations

import gc
import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Route

from .api.routes import ask, health, metrics, model, predict
from .core.config import InferenceSettings, get_inference_settings
from .core.errors import ErrorResponse, error_payload
from .core.logging import configure_logging, flush_lines
from .core.middleware import OPEN_PATHS, BodyTooLarge, ServiceMiddleware
from .serving.schema import batch_model, example_row, row_model
from .serving.service import InferenceService
from .serving.telemetry import TALLY

log = logging.getLogger("prodml.inference")


class InferenceApp(FastAPI):
    """FastAPI with :class:`ServiceMiddleware` outside its whole stack, not inside its error middleware as
    ``add_middleware`` would put it: the middleware answers every request's id, limits, key check and
    metrics, and ``POST /predict`` on its fast path, so that request need not pass through three layers of
    FastAPI's own (server errors, OpenTelemetry exceptions, body limits) that only forward it."""

    service_middleware: dict | None = None

    def build_middleware_stack(self):
        stack = super().build_middleware_stack()
        if self.service_middleware is None:
            return stack
        return ServiceMiddleware(stack, **self.service_middleware)


def create_app(settings: InferenceSettings | None = None) -> FastAPI:
    settings = settings or get_inference_settings()
    configure_logging(settings.log_level)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        service = app.state.service
        await service.start()
        # What start-up built (the model, its request model, clients) stays: keep it out of full collections.
        gc.freeze()
        champion = service.store.champion
        log.info(
            "inference service started",
            extra={
                "registry_group": settings.group,
                "model_version": champion.version if champion else None,
                "ready": champion is not None,
                "reason": None if champion else service.store.not_ready_reason,
                "local_mode": settings.is_local,
                "cache": service.cache.kind if service.cache else "off",
                "knowledge_base": settings.knowledge_base,
                "knowledge_index_version": getattr(service.knowledge.champion, "version", None),
            },
        )
        try:
            yield
        finally:
            await service.stop()
            flush_lines()
            TALLY.flush()

    app = InferenceApp(
        title="prodml inference",
        description="Predictions from the registry's champion model; request schema generated from the data "
        "contract the model was trained on. Answers with citations from the promoted knowledge index (/ask).",
        version="1",
        lifespan=lifespan,
        # Requests are measured by our own Prometheus metrics and logs; FastAPI's native OpenTelemetry
        # hooks would only look up tracer and meter providers on every request.
        telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
    )
    app.state.service = InferenceService(settings)
    routers = (health.router, predict.router, ask.router, model.router, metrics.router)
    for router in routers:
        app.include_router(router)
    # Every path a route serves (ours and FastAPI's /openapi.json, /docs, /redoc): the middleware labels
    # requests by these templates before routing, so no answered request is counted as "unmatched".
    templates = {r.path for r in app.router.routes if isinstance(r, Route)}
    templates |= {r.path for router in routers for r in router.routes if isinstance(r, Route)}
    # The operations whose body is JSON (the predict routes mark theirs for the OpenAPI document): the
    # middleware refuses any other Content-Type there, and the document says so.
    json_bodies = frozenset(
        (method, r.path)
        for router in routers
        for r in router.routes
        if isinstance(r, APIRoute) and "x-prodml-body" in (r.openapi_extra or {})
        for method in r.methods or ()
    )
    app.service_middleware = {
        "max_body_bytes": settings.max_body_bytes,
        "service_name": settings.service_name,
        "access_log": settings.access_log,
        "route_templates": frozenset(t for t in templates if "{" not in t),
        "json_bodies": json_bodies,
        "fast_predict": settings.fast_predict,
    }
    _install_error_handlers(app)
    _install_openapi(app, json_bodies)
    return app


def _install_error_handlers(app: FastAPI) -> None:
    from fastapi.responses import Response

    def respond(
        request: Request, status: int, code: str, message: str, details=None, headers=None
    ) -> Response:
        body = error_payload(code, message, request.scope.get("prodml_request_id"), details)
        return Response(body, status_code=status, media_type="application/json", headers=headers)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        # The exception's headers are part of the answer: a 405's Allow names the methods the path takes.
        return respond(request, exc.status_code, code, str(exc.detail), headers=exc.headers)

    @app.exception_handler(BodyTooLarge)
    async def body_too_large(request: Request, exc: BodyTooLarge):
        # A route read a streamed (chunked) body past the limit; the declared length was checked up front.
        return respond(request, 413, "body_too_large", str(exc))

    @app.exception_handler(Exception)
    async def server_error(request: Request, exc: Exception):
        # The answer only: ServiceMiddleware, outside, logs the exception with its traceback.
        return respond(
            request, 500, "internal_error", "internal error; quote the request id when reporting it"
        )

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError):
        details = [
            {"field": ".".join(str(p) for p in e["loc"]), "reason": e["msg"], "type": e["type"]}
            for e in exc.errors()
        ]
        return respond(request, 422, "validation_error", "request is not valid", details)


def _error_response(description: str) -> dict:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}},
    }


# What ServiceMiddleware answers before any route runs, documented from the same sets it decides by.
API_KEY_SCHEME = "APIKeyHeader"
REFUSED_WITHOUT_KEY = {"401": _error_response("Missing or wrong X-API-Key.")}
REFUSED_BODY = {
    "413": _error_response("Body larger than PRODML_MAX_BODY_BYTES (declared or streamed)."),
    "415": _error_response(
        "Content-Type is not JSON (application/json, or application/*+json), or there is none."
    ),
}


def _install_openapi(app: FastAPI, json_bodies: frozenset[tuple[str, str]]) -> None:
    """The predict bodies are validated by hand against the serving model's generated request model;
    this puts that same model into the OpenAPI document, regenerated when the serving contract changes,
    and adds the answers the middleware gives before any route runs (401, 413, 415)."""
    cached: dict[str, dict] = {}

    def openapi() -> dict:
        service: InferenceService = app.state.service
        champion = service.store.champion
        contract = champion.contract if champion else service.store.pinned_contract
        fingerprint = contract.fingerprint if contract else "none"
        if fingerprint in cached:
            return cached[fingerprint]
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        bodies: dict[str, dict] = {}
        if contract is not None:
            row = champion.request_model if champion else row_model(contract)
            batch = batch_model(row, service.settings.max_batch_rows)
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            for model_cls in (row, batch):
                generated = model_cls.model_json_schema(ref_template="#/components/schemas/{model}")
                components.update(generated.pop("$defs", {}))
                components[model_cls.__name__] = generated
            example = example_row(contract)
            bodies = {
                "row": {"schema": {"$ref": f"#/components/schemas/{row.__name__}"}, "example": example},
                "batch": {
                    "schema": {"$ref": f"#/components/schemas/{batch.__name__}"},
                    "example": {"rows": [example]},
                },
            }
        components = schema.setdefault("components", {})
        error_schema = ErrorResponse.model_json_schema(ref_template="#/components/schemas/{model}")
        components.setdefault("schemas", {}).update(error_schema.pop("$defs", {}))
        components["schemas"]["ErrorResponse"] = error_schema
        keyed = not service.settings.is_local  # in local mode no key is asked for, so no 401 either
        if keyed:
            components["securitySchemes"] = {
                API_KEY_SCHEME: {"type": "apiKey", "in": "header", "name": "X-API-Key"}
            }
        for path, item in schema.get("paths", {}).items():
            for method, operation in item.items():
                kind = operation.pop("x-prodml-body", None)
                # A body FastAPI declared itself (/ask's) stays; the predict routes' comes from the contract.
                if kind and (kind in bodies or "requestBody" not in operation):
                    content = bodies.get(kind, {"schema": {"type": "object"}})
                    operation["requestBody"] = {"required": True, "content": {"application/json": content}}
                responses = operation.setdefault("responses", {})
                if keyed and path not in OPEN_PATHS:
                    operation["security"] = [{API_KEY_SCHEME: []}]
                    responses.update(REFUSED_WITHOUT_KEY)
                if (method.upper(), path) in json_bodies:
                    responses.update(REFUSED_BODY)
        cached.clear()
        cached[fingerprint] = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way to customise the schema


def __getattr__(name: str):
    # `app.main:app` is built on first access, so importing this module (tests, tools) needs no settings.
    if name == "app":
        application = create_app()
        globals()["app"] = application
        return application
    raise AttributeError(name)
