"""Liveness and readiness: the load balancer's and the orchestrator's view of the service."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from ..deps import ServiceDep

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    ready: bool
    model_version: int | None = None
    challenger_version: int | None = None
    reason: str | None = None


@router.get("/health", response_model=Health, summary="Liveness: the process answers")
async def health() -> Health:
    return Health(status="ok")


@router.get(
    "/ready",
    response_model=Readiness,
    summary="Readiness: 200 only when a model is loaded",
    responses={503: {"model": Readiness, "description": "No model loaded yet; `reason` says why."}},
)
async def ready(service: ServiceDep):
    champion, challenger = service.store.champion, service.store.challenger
    if champion is None:
        body = Readiness(ready=False, reason=service.store.not_ready_reason)
        return JSONResponse(body.model_dump(), status_code=503)
    return Readiness(
        ready=True,
        model_version=champion.version,
        challenger_version=challenger.version if challenger else None,
    )
