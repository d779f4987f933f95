"""RFC 9457 problem details: the one place where domain errors meet HTTP status codes.

Every error response is ``application/problem+json`` with a stable ``type`` URI
(``urn:ywt:problem:<code>``), so clients can branch on it without parsing prose.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException

from core.errors import (
    ConfigurationError,
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    TooLarge,
    TooManyRequests,
    TryLater,
    Unauthenticated,
    YwtError,
)

log = logging.getLogger("ywt.api")

PROBLEM_JSON = "application/problem+json"
TYPE_PREFIX = "urn:ywt:problem:"

#: Base classes -> HTTP status, most specific first. Domain subclasses inherit their status;
#: the few that need another status are listed in ``OVERRIDES`` by class name.
STATUS_BY_BASE: list[tuple[type[YwtError], int]] = [
    (TooLarge, 413),
    (TooManyRequests, 429),
    (Unauthenticated, 401),
    (Forbidden, 403),
    (NotFound, 404),
    (Conflict, 409),
    (TryLater, 503),
    (InvalidInput, 400),
    (ConfigurationError, 500),
]
OVERRIDES: dict[str, int] = {
    "ShareExpired": 410,  # license: the share existed and is over (RFC 9110 §15.5.11 Gone)
    "ShareRevoked": 410,
    "IdempotencyKeyReused": 422,  # draft-ietf-httpapi-idempotency-key-header §2.7
    "VerificationFailed": 422,  # identity: the base data said "no" (semantically invalid request)
    "Throttled": 429,  # identity: too many attempts (logins, SMS codes) from one address or for one phone
}


def status_for(exc: YwtError) -> int:
    for cls in type(exc).__mro__:
        if cls.__name__ in OVERRIDES:
            return OVERRIDES[cls.__name__]
    for base, status in STATUS_BY_BASE:
        if isinstance(exc, base):
            return status
    return 400


def problem(status: int, code: str, title: str, detail: str | None = None, **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {"type": TYPE_PREFIX + code, "title": title, "status": status}
    if detail:
        body["detail"] = detail
    body.update({k: v for k, v in extra.items() if k not in body})
    headers: dict[str, str] = {}
    if status in (503, 429):  # RFC 9110 §10.2.3; RFC 6585 §4
        headers["Retry-After"] = str(body.pop("retry_after", 5))
    if status == 401:
        headers["WWW-Authenticate"] = str(body.pop("www_authenticate", "Bearer"))
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers or None)


def install(app: FastAPI) -> None:
    @app.exception_handler(YwtError)
    async def _ywt(request: Request, exc: YwtError) -> JSONResponse:
        status = status_for(exc)
        if status >= 500:
            log.error("operational error on %s: %s", request.url.path, exc.detail)
        return problem(status, exc.code, exc.title, exc.detail, instance=request.url.path, **exc.extra)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": [str(x) for x in e.get("loc", ())], "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))}
            for e in exc.errors()
        ]
        return problem(
            422, "validation", "The request is not valid", "see errors", instance=request.url.path, errors=errors
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not-found", 405: "method-not-allowed", 413: "too-large"}.get(exc.status_code, "http-error")
        return problem(exc.status_code, code, str(exc.detail), instance=request.url.path)

    @app.exception_handler(sa_exc.DataError)
    async def _data(request: Request, exc: sa_exc.DataError) -> JSONResponse:
        # SQLSTATE class 22 ("data exception"): a value from the request that the database cannot
        # hold (a NUL character in text on PostgreSQL, an integer beyond the column). The client's
        # input, not a fault of ours; the statement (which may hold the value) is not echoed.
        log.warning("value refused by the database on %s: %s", request.url.path, type(exc.orig).__name__)
        return problem(
            400,
            "invalid-input",
            "The request is not valid",
            "a value in the request cannot be stored or searched "
            "(control characters such as NUL, or a number out of range)",
            instance=request.url.path,
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s", request.url.path)
        return problem(500, "internal", "Internal error", "the error was logged", instance=request.url.path)


# --- OpenAPI: document the problem responses as they are ---------------------------------------------

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "RFC 9457 problem details; ``type`` is stable (urn:ywt:problem:<code>), extra members carry data",
    "type": "object",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
    },
    "additionalProperties": True,
}
#: OAuth endpoints answer errors as RFC 6749 §5.2 JSON (``error``) that also carries the problem members.
OAUTH_JSON_ERRORS = frozenset({"/oauth2/token", "/oauth2/introspect", "/oauth2/revoke"})


def document_problems(app: FastAPI) -> None:
    """Make the OpenAPI document say what the service answers on errors: every 4xx (and request
    validation's 422, which FastAPI would document as its own JSON shape) is a problem document."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = generate()
        schemas = schema.setdefault("components", {}).setdefault("schemas", {})
        schemas["Problem"] = PROBLEM_SCHEMA
        schemas.pop("HTTPValidationError", None)
        schemas.pop("ValidationError", None)
        for path, operations in schema.get("paths", {}).items():
            media = "application/json" if path in OAUTH_JSON_ERRORS else PROBLEM_JSON
            problem = {
                "description": "Problem details (RFC 9457)",
                "content": {media: {"schema": {"$ref": "#/components/schemas/Problem"}}},
            }
            for op in operations.values():
                responses = op.setdefault("responses", {})
                if "422" in responses:
                    responses["422"] = problem
                responses.setdefault("4XX", problem)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
