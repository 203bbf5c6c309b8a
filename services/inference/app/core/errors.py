"""The one error shape every non-2xx response has, and nothing else: no stack trace ever reaches a client.

{"error": {"code": "validation_error", "message": "...", "details": [{"field", "reason", "type"}]},
 "request_id": "..."}
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel


class ErrorDetail(BaseModel):
    field: str
    reason: str
    type: str


class ErrorBody(BaseModel):
    code: str
    message: str
    details: list[ErrorDetail] | None = None


class ErrorResponse(BaseModel):
    error: ErrorBody
    request_id: str | None = None


def error_payload(
    code: str, message: str, request_id: str | None, details: list[dict[str, Any]] | None = None
) -> bytes:
    error: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        error["details"] = details
    return json.dumps({"error": error, "request_id": request_id}, separators=(",", ":")).encode()
