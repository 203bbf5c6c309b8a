"""Liveness and readiness: the load balancer's and the orchestrator's view of the service."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from ...serving.store import Source
from ..deps import ServiceDep

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    ready: bool
    model_version: int | None = None
    challenger_version: int | None = None
    model_source: Source | None = Field(
        default=None,
        description="registry: the registry's current champion. last_known_good: a hash-verified local copy "
        "of the champion this task last served, because the registry is unreachable or its champion cannot "
        "be loaded.",
    )
    registry_reachable: bool | None = Field(
        default=None,
        description="Whether this worker's last registry poll was answered (null: not asked yet).",
    )
    registry_unreachable_since: datetime | None = None
    reason: str | None = Field(
        default=None, description="Why not ready (503), or what is degraded while ready (200)."
    )
    knowledge_index_version: str | None = Field(
        default=None,
        description="The promoted knowledge index /ask answers from (null: no knowledge base configured, or "
        "not loaded yet; readiness is the model's alone).",
    )
    knowledge_challenger_version: str | None = None


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
    store = service.store
    champion, challenger = store.champion, store.challenger
    since = store.registry_unreachable_since
    registry = {
        "registry_reachable": store.registry_reachable,
        "registry_unreachable_since": datetime.fromtimestamp(since, UTC) if since is not None else None,
    }
    knowledge = service.knowledge
    registry["knowledge_index_version"] = getattr(knowledge.champion, "version", None)
    registry["knowledge_challenger_version"] = getattr(knowledge.challenger, "version", None)
    if champion is None:
        body = Readiness(ready=False, reason=store.not_ready_reason, **registry)
        return JSONResponse(body.model_dump(mode="json"), status_code=503)
    return Readiness(
        ready=True,
        model_version=champion.version,
        challenger_version=challenger.version if challenger else None,
        model_source=store.sources.get("champion"),
        reason=store.note(),
        **registry,
    )
