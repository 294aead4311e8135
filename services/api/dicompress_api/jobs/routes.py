"""The job routes: submit a compression job, list the caller's jobs, read one, cancel one.

`POST /compress-dicom` and `GET /compress-dicom/{id}` are the design's names for the same
handlers as `POST /jobs` and `GET /jobs/{id}`.
"""

# No `from __future__ import annotations`: FastAPI must see the closures' real annotations
# (they name local dependencies, which it cannot resolve from strings).

import logging
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Header, Query, Response
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from dicompress_api.adapters.idempotency import MAX_KEY, idempotency_key
from dicompress_api.jobs.accept import Submitter
from dicompress_api.jobs.answers import JobAnswer, job_answer
from dicompress_api.jobs.listing import (
    TERMINAL,
    JobFilter,
    JobPage,
    JobStatus,
    cursor_after,
    decode_cursor,
    encode_cursor,
)
from dicompress_api.jobs.owned import owned_job
from dicompress_api.jobs.submission import JobAccepted, JobRequest
from dicompress_api.ports import JobStore, Publisher
from dicompress_api.settings import ApiSettings
from dicompress_api.web.auth import TenantDependency
from dicompress_api.web.camel import CAMEL
from dicompress_api.web.errors import JobConflict
from dicompress_api.web.problems import PROBLEM
from dicompress_schemas import Codec
from dicompress_schemas.commands import CancelRequested

log = logging.getLogger(__name__)


class CancelBody(BaseModel):
    """Why the job is cancelled (optional; recorded in the audit trail)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    reason: str | None = Field(default=None, min_length=1, max_length=1000)


class CancelAccepted(BaseModel):
    """The cancel command is on the log; the job turns 'cancelled' once a compressor stops it."""

    model_config = CAMEL

    command_id: uuid.UUID
    job_id: uuid.UUID
    reason: str
    status_url: str


_SUBMIT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"model": JobAccepted, "description": "A retry: the job of the same Idempotency-Key"},
    401: PROBLEM,
    403: PROBLEM,
    404: PROBLEM,  # a studyId (or seriesUid) the tenant does not have
    409: PROBLEM,
    413: PROBLEM,
    422: PROBLEM,
    429: PROBLEM,
    503: PROBLEM,
}


def jobs_router(
    settings: ApiSettings,
    publisher: Publisher,
    store: JobStore,
    submitter: Submitter,
    tenant_of: TenantDependency,
) -> APIRouter:
    """Routes under /jobs (and their /compress-dicom aliases), bound to the adapters they use:
    submitting, reading, cancelling."""
    router = APIRouter(tags=["jobs"])
    router.include_router(_submit_routes(settings, submitter, tenant_of))
    router.include_router(_read_routes(store, tenant_of))
    router.include_router(_cancel_routes(publisher, store, tenant_of))
    return router


def _submit_routes(
    settings: ApiSettings, submitter: Submitter, tenant_of: TenantDependency
) -> APIRouter:
    router = APIRouter()
    Tenant = Annotated[str, Depends(tenant_of)]

    @router.post(
        "/compress-dicom",
        status_code=202,
        response_model=JobAccepted,
        responses=_SUBMIT_RESPONSES,
        operation_id="compress_dicom",
    )
    @router.post("/jobs", status_code=202, response_model=JobAccepted, responses=_SUBMIT_RESPONSES)
    async def submit_job(
        body: JobRequest,
        tenant: Tenant,
        response: Response,
        key: Annotated[
            str | None,
            Header(
                alias="Idempotency-Key",
                max_length=MAX_KEY,
                description="Any unique string (e.g. a UUID): a retry with the same key "
                "returns the same job (200); the same key with another body is a 409",
            ),
        ] = None,
    ) -> JobAccepted:
        """Queue a compression job; answers once the broker has the request (202)."""
        outcome = await submitter.submit(body, tenant, idempotency_key(key))
        accepted = outcome.answer
        if outcome.replayed:
            response.status_code = 200
            response.headers["Idempotent-Replayed"] = "true"
        else:
            log.info(
                "job queued",
                extra={
                    "job_id": str(accepted.job_id),
                    "tenant": tenant,
                    "event_type": "CompressionRequested",
                    "topic": settings.topics.lane(accepted.priority),
                },
            )
        response.headers["Location"] = accepted.status_url
        return accepted

    return router


def _read_routes(store: JobStore, tenant_of: TenantDependency) -> APIRouter:
    router = APIRouter()
    Tenant = Annotated[str, Depends(tenant_of)]

    @router.get(
        "/jobs",
        response_model=JobPage,
        responses={401: PROBLEM, 422: PROBLEM, 429: PROBLEM, 503: PROBLEM},
    )
    async def list_jobs(
        tenant: Tenant,
        status: Annotated[JobStatus | None, Query(description="Only jobs in this status")] = None,
        codec: Annotated[Codec | None, Query(description="Only jobs with this codec")] = None,
        limit: Annotated[int, Query(ge=1, le=100, description="Jobs per page")] = 20,
        cursor: Annotated[
            str | None, Query(max_length=200, description="`nextCursor` of the previous page")
        ] = None,
    ) -> JobPage:
        """The caller's jobs, newest first, one page at a time."""
        after = decode_cursor(cursor) if cursor is not None else None
        where = JobFilter(
            status=status, codec=codec.value if codec else None, limit=limit + 1, after=after
        )
        rows = await store.list_jobs(tenant, where)
        page, more = rows[:limit], len(rows) > limit
        return JobPage(
            items=[job_answer(row) for row in page],
            next_cursor=encode_cursor(cursor_after(page[-1])) if more else None,
        )

    @router.get(
        "/compress-dicom/{job_id}",
        response_model=JobAnswer,
        responses={401: PROBLEM, 404: PROBLEM, 422: PROBLEM, 429: PROBLEM, 503: PROBLEM},
        operation_id="compress_dicom_status",
    )
    @router.get(
        "/jobs/{job_id}",
        response_model=JobAnswer,
        responses={401: PROBLEM, 404: PROBLEM, 422: PROBLEM, 429: PROBLEM, 503: PROBLEM},
    )
    async def get_job(job_id: uuid.UUID, tenant: Tenant) -> JobAnswer:
        """The job's progress as the progress service last projected it."""
        return job_answer(await owned_job(store, job_id, tenant))

    return router


def _cancel_routes(publisher: Publisher, store: JobStore, tenant_of: TenantDependency) -> APIRouter:
    router = APIRouter()
    Tenant = Annotated[str, Depends(tenant_of)]

    @router.post(
        "/jobs/{job_id}/cancel",
        status_code=202,
        response_model=CancelAccepted,
        responses={
            **{code: PROBLEM for code in (401, 404, 409, 413, 422, 429, 503)},
        },
    )
    async def cancel_job(
        job_id: uuid.UUID,
        tenant: Tenant,
        body: Annotated[CancelBody | None, Body()] = None,
    ) -> CancelAccepted:
        """Ask the compressors to stop the job; answers once the broker has the command (202)."""
        job = await owned_job(store, job_id, tenant)
        status = job.get("status")
        if status in TERMINAL:
            raise JobConflict(
                f"job {job_id} is already {status}; only a queued or running job can be cancelled",
                status=status,
            )
        command = (
            CancelRequested(job_id=job_id, tenant=tenant, reason=body.reason)
            if body is not None and body.reason is not None
            else CancelRequested(job_id=job_id, tenant=tenant)
        )
        await publisher.send_command(command)  # which logs it
        return CancelAccepted(
            command_id=command.command_id,
            job_id=job_id,
            reason=command.reason,
            status_url=f"/jobs/{job_id}",
        )

    return router
