"""Errors as RFC 9457 problem details (`application/problem+json`), in one place.

Every error the API answers has `type`, `title`, `status` and `detail`; a 422 adds `errors`, one
entry per rejected field with the rule it broke. HTTP statuses live here and nowhere else.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from dicompress_api.web.errors import (
    ApiError,
    FieldProblem,
    ForbiddenLocation,
    IdempotencyConflict,
    InvalidRequest,
    JobConflict,
    JobNotFound,
    PublishUnavailable,
    QueueFull,
    RateLimited,
    StoreUnavailable,
    TenantLimit,
    Unauthenticated,
)

log = logging.getLogger(__name__)

MEDIA_TYPE = "application/problem+json"
# The refusals that say when to come back: status and problem type.
_REFUSALS: dict[type[ApiError], tuple[int, str]] = {
    QueueFull: (503, "queue-full"),
    RateLimited: (429, "rate-limited"),
    TenantLimit: (429, "tenant-limit"),
}
RETRY_AFTER_S = 5
_TYPE = "urn:dicompress:problem:"


class RejectedField(BaseModel):
    """One rejected input of a 422 (or a 403's location): which, the rule, what to do."""

    model_config = ConfigDict(populate_by_name=True)

    field: str = Field(description="The field's JSON name (camelCase), dotted into objects")
    rule: str = Field(description="The rule it broke (pydantic's error type, or ours)")
    detail: str
    in_: str = Field(alias="in", description="body, query, header or path")


class Problem(BaseModel):
    """An error as RFC 9457 problem details, as every error of the API is answered."""

    model_config = ConfigDict(extra="allow")  # extensions, e.g. jobStatus on a 409

    type: str = Field(description="urn:dicompress:problem:<kind>, or about:blank")
    title: str
    status: int = Field(ge=400, le=599)
    detail: str = Field(description="What happened and what to do, in words")
    errors: list[RejectedField] | None = Field(
        default=None, description="One entry per rejected field (422, 403)"
    )


# What a route names for each error status it may answer: the Problem schema under
# application/problem+json (`document_problems` puts the schema in the OpenAPI components).
PROBLEM: dict[str, Any] = {
    "description": "Problem details (RFC 9457)",
    "content": {MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
}


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` of a route that may answer these error statuses."""
    return {status: PROBLEM for status in statuses}


def document_problems(app: FastAPI) -> None:
    """Add the Problem schema (and what it refers to) to the app's OpenAPI components."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = build()
        found = Problem.model_json_schema(
            by_alias=True, ref_template="#/components/schemas/{model}"
        )
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.update(found.pop("$defs", {}))
        components["Problem"] = found
        return schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way to extend it


def problem_response(
    status: int,
    detail: str,
    *,
    kind: str | None = None,
    title: str | None = None,
    headers: Mapping[str, str] | None = None,
    **extensions: Any,
) -> JSONResponse:
    """One problem document; `kind` names our own problem types, else the type is about:blank."""
    body: dict[str, Any] = {
        "type": _TYPE + kind if kind else "about:blank",
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        **extensions,
    }
    return JSONResponse(body, status_code=status, headers=headers, media_type=MEDIA_TYPE)


def install_problem_handlers(app: FastAPI) -> None:
    """Make every error the app can produce answer as problem details, and say so in OpenAPI."""
    document_problems(app)
    app.add_exception_handler(RequestValidationError, _invalid_input)
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)


def field_problems(exc: RequestValidationError) -> list[FieldProblem]:
    """Name each rejected field by its JSON name (camelCase), with pydantic's rule id."""
    problems = []
    for error in exc.errors():
        location, *path = (str(part) for part in error.get("loc", ()))
        problems.append(
            FieldProblem(
                field=".".join(path) or "(whole body)",
                rule=str(error.get("type", "invalid")),
                detail=str(error.get("msg", "invalid value")),
                location=location,
            )
        )
    return problems


def _unprocessable(problems: list[FieldProblem]) -> JSONResponse:
    fields = ", ".join(sorted({p.field for p in problems}))
    return problem_response(
        422,
        f"Fix these fields and send the request again: {fields}",
        kind="invalid-request",
        title="The request is not valid",
        errors=_listed(problems),
    )


def _listed(problems: list[FieldProblem]) -> list[dict[str, str]]:
    return [
        {"field": p.field, "rule": p.rule, "detail": p.detail, "in": p.location} for p in problems
    ]


def _retry_after(seconds: int | None) -> dict[str, str] | None:
    return {"Retry-After": str(seconds)} if seconds is not None else None


async def _invalid_input(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return _unprocessable(field_problems(exc))


async def _api_error(_: Request, exc: Exception) -> JSONResponse:
    detail = str(exc)
    match exc:
        case InvalidRequest(problems=problems):
            return _unprocessable(problems)
        case Unauthenticated(invalid=invalid):
            challenge = 'Bearer realm="dicompress"'
            if invalid:
                challenge += ', error="invalid_token"'
            return problem_response(
                401,
                f"{detail}. Send 'Authorization: Bearer <token>' with a valid token.",
                kind="unauthenticated",
                headers={"WWW-Authenticate": challenge},
            )
        case JobNotFound():
            return problem_response(404, detail, kind="job-not-found", title="No such job")
        case JobConflict(status=status):
            return problem_response(
                409,
                detail,
                kind="job-state",
                title="Not possible in the job's state",
                jobStatus=status,
            )
        case ForbiddenLocation(problems=problems):
            return problem_response(
                403,
                f"{detail}. Use a source and a target under your own prefixes.",
                kind="forbidden-location",
                title="Not allowed for this tenant",
                errors=_listed(problems),
            )
        case IdempotencyConflict(retry_after_s=seconds):
            return problem_response(
                409,
                detail,
                kind="idempotency-key",
                title="Idempotency-Key conflict",
                headers=_retry_after(seconds),
            )
        case (
            QueueFull(retry_after_s=seconds)
            | RateLimited(retry_after_s=seconds)
            | TenantLimit(retry_after_s=seconds)
        ):
            code, kind = _REFUSALS[type(exc)]
            log.info("request refused", extra={"error": detail, "status": code})
            return problem_response(
                code,
                f"{detail}. Nothing was changed; retry in {seconds} s.",
                kind=kind,
                headers=_retry_after(seconds),
            )
        case PublishUnavailable() | StoreUnavailable():
            log.warning("service unavailable", extra={"error": detail})
            return problem_response(
                503,
                f"{detail}. Nothing was changed; retry in {RETRY_AFTER_S} s.",
                kind="unavailable",
                headers={"Retry-After": str(RETRY_AFTER_S)},
            )
    log.error("unmapped API error", extra={"error": detail, "error_type": type(exc).__name__})
    return problem_response(500, detail)


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    return problem_response(exc.status_code, str(exc.detail), headers=exc.headers)


async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
    # Starlette re-raises after this, so uvicorn logs the traceback once; we only shape the answer.
    return problem_response(500, "An unexpected error occurred; it has been logged.")
