"""What is serving: version, backend, lineage and metrics of the champion (and the challenger)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from ...core.errors import ErrorResponse
from ..deps import ServiceDep
from .predict import error_response

router = APIRouter(prefix="/model", tags=["model"])


@router.get(
    "",
    summary="The serving model: version, lineage, metrics",
    responses={503: {"model": ErrorResponse}},
)
async def model_info(service: ServiceDep) -> dict[str, Any]:
    champion, challenger = service.store.champion, service.store.challenger
    if champion is None:
        return error_response(503, "not_ready", service.store.not_ready_reason)
    return {
        "registry_group": service.settings.group,
        "champion": champion.describe(),
        "challenger": challenger.describe() if challenger else None,
        "canary_fraction": service.settings.canary_fraction if challenger else 0.0,
        "swaps": service.store.swaps,
        "last_refresh": service.store.last_refresh,
        "cache": service.cache.kind if service.cache else "off",
    }
