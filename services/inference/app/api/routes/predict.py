"""Predictions. The body is validated against the serving model's own contract-generated request model
(see :mod:`app.serving.schema`), so the routes read raw bytes and let the service parse them; the OpenAPI
request schema is filled in from the same model by ``app.main``."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel

from ...core.errors import ErrorResponse, error_payload
from ...serving.service import InvalidRequest, NotReady, Prediction
from ..deps import ServiceDep

router = APIRouter(prefix="/predict", tags=["predict"])

# The routes' own answers; the middleware's (401, 413, 415) are added to the document by app.main.
ERRORS: dict[int | str, dict[str, Any]] = {
    422: {"model": ErrorResponse, "description": "The body does not match the contract: each field and why."},
    503: {"model": ErrorResponse, "description": "No model loaded yet."},
}


class PredictionOut(BaseModel):
    prediction: Any
    probability: float | None = None
    probabilities: dict[str, float] | None = None


class PredictResponse(PredictionOut):
    model_version: int
    variant: str
    cached: bool
    request_id: str


class BatchResponse(BaseModel):
    predictions: list[PredictionOut]
    model_version: int
    variant: str
    request_id: str


def error_response(status: int, code: str, message: str, request_id: str | None = None, details=None):
    return Response(
        error_payload(code, message, request_id, details), status_code=status, media_type="application/json"
    )


def render_prediction(prediction: Prediction, extra: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    """A prediction's JSON body and headers (shared by the route and the middleware's fast path)."""
    version = str(prediction.model.version)
    body = {**prediction.body, "model_version": prediction.model.version, "variant": prediction.variant}
    body.update(extra)
    headers = {"x-model-version": version, "x-model-variant": prediction.variant}
    return orjson.dumps(body), headers


def render_failure(exc: InvalidRequest | NotReady, request_id: str | None) -> tuple[int, bytes]:
    if isinstance(exc, InvalidRequest):
        return 422, error_payload("validation_error", str(exc), request_id, exc.details)
    return 503, error_payload(exc.code, str(exc), request_id)


def label(scope, exc_or_prediction) -> None:
    """Tell the middleware which model version and variant answered (for metrics and the access line)."""
    info = scope.get("prodml")
    if info is None:
        return
    if isinstance(exc_or_prediction, Prediction):
        info["model_version"], info["variant"] = (
            str(exc_or_prediction.model.version),
            exc_or_prediction.variant,
        )
    elif isinstance(exc_or_prediction, InvalidRequest):
        info["model_version"], info["variant"] = (
            str(exc_or_prediction.model_version),
            exc_or_prediction.variant,
        )


async def predict_fast(
    service, scope, body: bytes, key: str | None, request_id: str
) -> tuple[int, bytes, dict[str, str]]:
    """``POST /predict`` for the middleware's fast path: the same service call and the same bytes as
    :func:`predict` below, without FastAPI's routing, dependency resolution and Response objects."""
    try:
        prediction = await service.predict_one(body, key, request_id)
    except (InvalidRequest, NotReady) as exc:
        label(scope, exc)
        status, payload = render_failure(exc, request_id)
        return status, payload, {}
    label(scope, prediction)
    payload, headers = render_prediction(prediction, {"cached": prediction.cached, "request_id": request_id})
    return 200, payload, headers


def _answer(request: Request, prediction: Prediction, extra: dict[str, Any]) -> Response:
    label(request.scope, prediction)
    body, headers = render_prediction(prediction, extra)
    return Response(body, media_type="application/json", headers=headers)


def _failure(request: Request, exc: InvalidRequest | NotReady) -> Response:
    label(request.scope, exc)
    status, body = render_failure(exc, request.scope.get("prodml_request_id"))
    return Response(body, status_code=status, media_type="application/json")


@router.post(
    "",
    summary="Predict one row",
    response_model=PredictResponse,
    responses=ERRORS,
    openapi_extra={"x-prodml-body": "row"},
)
async def predict(request: Request, service: ServiceDep) -> Response:
    request_id = request.scope.get("prodml_request_id")
    key = request.headers.get(service.settings.canary_key_header)
    try:
        prediction = await service.predict_one(await request.body(), key, request_id)
    except (InvalidRequest, NotReady) as exc:
        return _failure(request, exc)
    return _answer(request, prediction, {"cached": prediction.cached, "request_id": request_id})


@router.post(
    "/batch",
    summary="Predict many rows at once (vectorised; at most PRODML_MAX_BATCH_ROWS)",
    response_model=BatchResponse,
    responses=ERRORS,
    openapi_extra={"x-prodml-body": "batch"},
)
async def predict_batch(request: Request, service: ServiceDep) -> Response:
    request_id = request.scope.get("prodml_request_id")
    key = request.headers.get(service.settings.canary_key_header)
    try:
        prediction = await service.predict_batch(await request.body(), key, request_id)
    except (InvalidRequest, NotReady) as exc:
        return _failure(request, exc)
    return _answer(request, prediction, {"request_id": request_id})
