"""The job routes: submit a compression job, read its progress."""

# No `from __future__ import annotations`: FastAPI must see the closures' real annotations
# (they name local dependencies, which it cannot resolve from strings).

import logging
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response

from dicompress_api.auth import TenantDependency
from dicompress_api.errors import JobNotFound
from dicompress_api.ports import JobStore, Publisher
from dicompress_api.settings import ApiSettings
from dicompress_api.submission import JobAccepted, JobRequest, plan_job
from dicompress_api.views import JobView, job_view

log = logging.getLogger(__name__)

_PROBLEM: dict[str, Any] = {"content": {"application/problem+json": {}}}


def jobs_router(
    settings: ApiSettings, publisher: Publisher, store: JobStore, tenant_of: TenantDependency
) -> APIRouter:
    """Routes under /jobs, bound to the adapters they use (no global state)."""
    router = APIRouter(prefix="/jobs", tags=["jobs"])
    Tenant = Annotated[str, Depends(tenant_of)]
    allowed = frozenset(settings.api_allowed_buckets)

    @router.post(
        "",
        status_code=202,
        response_model=JobAccepted,
        responses={401: _PROBLEM, 422: _PROBLEM, 503: _PROBLEM},
    )
    async def submit_job(body: JobRequest, tenant: Tenant, response: Response) -> JobAccepted:
        """Queue a compression job; answers once the broker has the request (202)."""
        job_id = uuid.uuid4()
        event, accepted = plan_job(
            body,
            tenant=tenant,
            job_id=job_id,
            allowed_buckets=allowed,
            default_rate=settings.api_default_rate,
        )
        await publisher.publish(event)
        log.info(
            "job queued",
            extra={
                "job_id": str(job_id),
                "tenant": tenant,
                "event_type": event.type,
                "topic": settings.topics.requests,
            },
        )
        response.headers["Location"] = accepted.status_url
        return accepted

    @router.get(
        "/{job_id}", response_model=JobView, responses={401: _PROBLEM, 404: _PROBLEM, 422: _PROBLEM}
    )
    async def get_job(job_id: uuid.UUID, tenant: Tenant) -> JobView:
        """The job's progress as the progress service last projected it."""
        row = await store.get(job_id, tenant)
        if row is None:
            raise JobNotFound(f"no job {job_id} for this tenant (it may not be projected yet)")
        return job_view(row)

    return router
