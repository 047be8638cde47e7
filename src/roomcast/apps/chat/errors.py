"""The chat's refusals: the one error shape of roomcast's acks, for events and HTTP alike.

Events raise ``roomcast.EventRejected(code, message)``; HTTP answers
``{"_rc_error": {"code", "message", "details"}}`` with a status (``http_error``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from pydantic import ValidationError

import roomcast

NOT_FOUND: Final = "not_found"
FORBIDDEN: Final = "forbidden"
UNAUTHORIZED: Final = "unauthorized"
NAME_TAKEN: Final = "name_taken"
BAD_CREDENTIALS: Final = "bad_credentials"
VALIDATION_FAILED: Final = "validation_failed"
RATE_LIMITED: Final = "rate_limited"


def http_error(
    status: int,
    code: str,
    message: str,
    details: Any = None,
    headers: Mapping[str, str] | None = None,
) -> roomcast.HttpResponse:
    error = {"_rc_error": {"code": code, "message": message, "details": details}}
    if status == 401:
        headers = {"WWW-Authenticate": "Bearer", **(headers or {})}
    return roomcast.json_response(error, status, headers)


def invalid(exc: ValidationError | ValueError) -> roomcast.HttpResponse:
    """400 for a body that is not JSON or does not match its model."""
    if not isinstance(exc, ValidationError):
        return http_error(400, VALIDATION_FAILED, "the body is not JSON")
    details = [
        {"loc": list(error["loc"]), "msg": error["msg"], "type": error["type"]}
        for error in exc.errors(include_url=False, include_input=False)
    ]
    first = details[0]
    where = ".".join(str(part) for part in first["loc"]) or "body"
    return http_error(400, VALIDATION_FAILED, f"{where}: {first['msg']}", details)


def not_found(what: str) -> roomcast.EventRejected:
    return roomcast.EventRejected(NOT_FOUND, f"no such {what}")


def forbidden(message: str) -> roomcast.EventRejected:
    return roomcast.EventRejected(FORBIDDEN, message)
