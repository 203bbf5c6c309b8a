"""Predictions. The body is validated against the serving model's own contract-generated request model
(see :mod:`app.serving.schema`), so the routes read raw bytes and let the service parse them; the OpenAPI
request schema is filled in from the same model by ``app.main``.

``?explain=true`` adds each prediction's explanation (:mod:`app.serving.explain`), on ``/predict`` and on
``/predict/batch`` alike (one a row there). The query is read here, by :func:`explain_requested`, on the
middleware's fast path and the FastAPI route alike, so both refuse the same values the same way: only
``true`` or ``false``, given at most once (a 422 naming ``query.explain``, before any model is consulted).
"""

from __future__ import annotations

from typing import Any, Literal
from urllib.parse import parse_qsl

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from ...core.errors import ErrorResponse, error_payload
from ...serving.service import InvalidRequest, NotReady, Prediction
from ..deps import ServiceDep

router = APIRouter(prefix="/predict", tags=["predict"])

# The routes' own answers; the middleware's (401, 413, 415) are added to the document by app.main.
ERRORS: dict[int | str, dict[str, Any]] = {
    422: {"model": ErrorResponse, "description": "The body does not match the contract: each field and why."},
    503: {"model": ErrorResponse, "description": "No model loaded yet."},
}


EXPLAIN = "explain"
EXPLAIN_PARAMETER = {
    "name": EXPLAIN,
    "in": "query",
    "required": False,
    "schema": {"type": "boolean", "default": False},
    "description": "Add each prediction's explanation: per-feature attributions (keyed by the contract's "
    "model features) that sum, with the base value, to the prediction's margin.",
}


class BadQuery(ValueError):
    """A query parameter this API takes, given a value it does not (answered 422 like a bad body)."""

    def __init__(self, reason: str):
        super().__init__("query does not match the API")
        self.details = [{"field": f"query.{EXPLAIN}", "reason": reason, "type": "bool_parsing"}]


def explain_requested(query_string: bytes) -> bool:
    """Whether ``?explain=true`` was asked for; :class:`BadQuery` for any value but ``true`` or ``false``."""
    if not query_string:
        return False
    given = [v for k, v in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True) if k == EXPLAIN]
    if not given:
        return False
    if len(given) > 1:
        raise BadQuery("given more than once")
    if given[0] not in ("true", "false"):
        raise BadQuery("must be true or false")
    return given[0] == "true"


class Explanation(BaseModel):
    output: Literal["log_odds", "probability", "value"] = Field(
        description="What the margin is: log_odds (gradient boosting, logistic regression), probability "
        "(random forest classifier), value (regressors)."
    )
    base_value: float
    margin: float = Field(description="The explained model's output: base_value + sum(attributions).")
    attributions: dict[str, float] = Field(description="Each model feature's share of the margin.")
    class_: str | None = Field(default=None, alias="class", description="The class explained (classifiers).")


class PredictionOut(BaseModel):
    prediction: Any
    probability: float | None = None
    probabilities: dict[str, float] | None = None
    explanation: Explanation | None = None


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


def render_failure(exc: InvalidRequest | NotReady | BadQuery, request_id: str | None) -> tuple[int, bytes]:
    if isinstance(exc, InvalidRequest | BadQuery):
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
        explain = explain_requested(scope.get("query_string", b""))
        prediction = await service.predict_one(body, key, request_id, explain)
    except (InvalidRequest, NotReady, BadQuery) as exc:
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


def _failure(request: Request, exc: InvalidRequest | NotReady | BadQuery) -> Response:
    label(request.scope, exc)
    status, body = render_failure(exc, request.scope.get("prodml_request_id"))
    return Response(body, status_code=status, media_type="application/json")


@router.post(
    "",
    summary="Predict one row",
    response_model=PredictResponse,
    responses=ERRORS,
    openapi_extra={"x-prodml-body": "row", "parameters": [EXPLAIN_PARAMETER]},
)
async def predict(request: Request, service: ServiceDep) -> Response:
    request_id = request.scope.get("prodml_request_id")
    key = request.headers.get(service.settings.canary_key_header)
    try:
        explain = explain_requested(request.scope.get("query_string", b""))
        prediction = await service.predict_one(await request.body(), key, request_id, explain)
    except (InvalidRequest, NotReady, BadQuery) as exc:
        return _failure(request, exc)
    return _answer(request, prediction, {"cached": prediction.cached, "request_id": request_id})


@router.post(
    "/batch",
    summary="Predict many rows at once (vectorised; at most PRODML_MAX_BATCH_ROWS)",
    response_model=BatchResponse,
    responses=ERRORS,
    openapi_extra={"x-prodml-body": "batch", "parameters": [EXPLAIN_PARAMETER]},
)
async def predict_batch(request: Request, service: ServiceDep) -> Response:
    request_id = request.scope.get("prodml_request_id")
    key = request.headers.get(service.settings.canary_key_header)
    try:
        explain = explain_requested(request.scope.get("query_string", b""))
        prediction = await service.predict_batch(await request.body(), key, request_id, explain)
    except (InvalidRequest, NotReady, BadQuery) as exc:
        return _failure(request, exc)
    return _answer(request, prediction, {"request_id": request_id})
