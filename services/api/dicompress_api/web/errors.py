"""What can go wrong in the API, without HTTP: `problems.py` maps each error to a status."""

from __future__ import annotations

from dataclasses import dataclass


class ApiError(Exception):
    """Base of every error the API raises on purpose; the message is shown to the caller."""


@dataclass(frozen=True)
class FieldProblem:
    """One rejected input: which field, which rule it broke, and what to do."""

    field: str
    rule: str
    detail: str
    location: str = "body"


class InvalidRequest(ApiError):
    """The request is well-formed JSON but breaks a rule that needs the settings to check."""

    def __init__(self, problems: list[FieldProblem]) -> None:
        super().__init__("; ".join(f"{p.field}: {p.detail}" for p in problems))
        self.problems = problems


class Unauthenticated(ApiError):
    """No bearer token, or one that does not verify; `invalid` tells which (RFC 6750)."""

    def __init__(self, detail: str, *, invalid: bool) -> None:
        super().__init__(detail)
        self.invalid = invalid


class JobNotFound(ApiError):
    """No such job for this tenant (another tenant's job is 'not found' too, never 'forbidden')."""


class JobConflict(ApiError):
    """The job is in a state that does not allow this (e.g. cancelling a finished job)."""

    def __init__(self, detail: str, *, status: str | None) -> None:
        super().__init__(detail)
        self.status = status


class PublishUnavailable(ApiError):
    """The broker did not acknowledge the event in time: nothing was accepted, retry later."""


class StoreUnavailable(ApiError):
    """The projection database did not answer: retry later."""


class ForbiddenLocation(ApiError):
    """A source or target outside the S3 prefixes the tenant may use."""

    def __init__(self, problems: list[FieldProblem]) -> None:
        super().__init__("; ".join(f"{p.field}: {p.detail}" for p in problems))
        self.problems = problems


class IdempotencyConflict(ApiError):
    """An Idempotency-Key reused with a different request, or while its first use is running."""

    def __init__(self, detail: str, *, retry_after_s: int | None = None) -> None:
        super().__init__(detail)
        self.retry_after_s = retry_after_s


class QueueFull(ApiError):
    """Too many jobs wait already: nothing was published, retry after `retry_after_s`."""

    def __init__(self, detail: str, *, retry_after_s: int) -> None:
        super().__init__(detail)
        self.retry_after_s = retry_after_s


class TenantLimit(ApiError):
    """The tenant has as many jobs waiting or running as it may: nothing was published."""

    def __init__(self, detail: str, *, retry_after_s: int) -> None:
        super().__init__(detail)
        self.retry_after_s = retry_after_s


class RateLimited(ApiError):
    """The tenant sent more requests than its rate allows; retry after `retry_after_s`."""

    def __init__(self, detail: str, *, retry_after_s: int) -> None:
        super().__init__(detail)
        self.retry_after_s = retry_after_s
