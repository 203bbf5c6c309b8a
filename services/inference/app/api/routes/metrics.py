"""Prometheus exposition, aggregated over every gunicorn worker."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from ...serving.telemetry import render_metrics

router = APIRouter(prefix="/metrics", tags=["operations"])


@router.get("", summary="Prometheus metrics", response_class=Response)
async def metrics() -> Response:
    body, content_type = render_metrics()
    return Response(body, media_type=content_type)
