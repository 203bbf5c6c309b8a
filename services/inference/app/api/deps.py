"""Dependency aliases for the routes. Tests swap ``get_service`` with ``app.dependency_overrides``."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from ..core.config import InferenceSettings
from ..serving.service import InferenceService


# Async on purpose: FastAPI runs a sync dependency in the thread pool, a thread hop on every request.
async def get_service(request: Request) -> InferenceService:
    return request.app.state.service


async def get_settings(service: Annotated[InferenceService, Depends(get_service)]) -> InferenceSettings:
    return service.settings


ServiceDep = Annotated[InferenceService, Depends(get_service)]
SettingsDep = Annotated[InferenceSettings, Depends(get_settings)]
