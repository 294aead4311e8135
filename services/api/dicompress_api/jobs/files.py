"""What a job produced: its ready slices (`/jobs/{id}/slices`) and its ZIP (`/jobs/{id}/download`),
both as short-lived presigned S3 URLs, so the bytes never flow through the API.
"""

# No `from __future__ import annotations`: FastAPI must see the closures' real annotations.

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse, RedirectResponse

from dicompress_api.adapters.presign import S3Presigner
from dicompress_api.jobs.owned import owned_job
from dicompress_api.jobs.slices import SliceList, slice_view
from dicompress_api.ports import JobStore
from dicompress_api.web.auth import TenantDependency
from dicompress_api.web.errors import JobConflict
from dicompress_api.web.problems import PROBLEM
from dicompress_infra.s3 import S3Uri, S3UriError
from dicompress_schemas.naming import tenant_key

_RESPONSES: dict[int | str, dict[str, Any]] = {code: PROBLEM for code in (401, 404, 422, 429, 503)}


def files_router(store: JobStore, presigner: S3Presigner, tenant_of: TenantDependency) -> APIRouter:
    """Routes under /jobs/{id} that hand out links to the job's outputs: its slices, its ZIP."""
    router = APIRouter(prefix="/jobs", tags=["jobs"])
    router.include_router(_slices_route(store, presigner, tenant_of))
    router.include_router(_download_route(store, presigner, tenant_of))
    return router


def _slices_route(
    store: JobStore, presigner: S3Presigner, tenant_of: TenantDependency
) -> APIRouter:
    router = APIRouter()
    Tenant = Annotated[str, Depends(tenant_of)]

    @router.get("/{job_id}/slices", response_model=SliceList, responses=_RESPONSES)
    async def job_slices(job_id: uuid.UUID, tenant: Tenant) -> SliceList:
        """The slices with an outcome so far; each encoded one links to its stored DICOM file."""
        job = await owned_job(store, job_id, tenant)
        rows = await store.slices(job_id, tenant)
        # Slices live in the target bucket (the compressor's layout: {tenant}/jobs/{id}/slices/).
        bucket = S3Uri.parse(job["target_uri"]).bucket if job.get("target_uri") else None
        expires_at = presigner.expires_at()

        def presign(key: str) -> str | None:
            # a key recorded in the shared legacy folder lives under the tenant's now
            return presigner.url(S3Uri(bucket, tenant_key(tenant, key))) if bucket else None

        views = [slice_view(row, presign) for row in rows]
        return SliceList(
            job_id=job_id,
            slices_total=job.get("slices_total"),
            url_expires_at=expires_at if any(v.url for v in views) else None,
            slices=views,
        )

    return router


def _download_route(
    store: JobStore, presigner: S3Presigner, tenant_of: TenantDependency
) -> APIRouter:
    router = APIRouter()
    Tenant = Annotated[str, Depends(tenant_of)]

    @router.get(
        "/{job_id}/download",
        status_code=307,
        response_class=RedirectResponse,
        response_model=None,
        responses={
            **_RESPONSES,
            307: {"description": "Redirect to a presigned URL of the ZIP"},
            200: {"description": "With ?format=json: {url, expiresAt}"},
        },
    )
    async def download(
        job_id: uuid.UUID,
        tenant: Tenant,
        format: Annotated[
            Literal["redirect", "json"],
            Query(
                description="'json' answers {url, expiresAt} instead of redirecting: a browser "
                "script cannot read the Location of a cross-origin redirect"
            ),
        ] = "redirect",
    ) -> RedirectResponse | JSONResponse:
        """Redirect (307) to a short-lived URL of the job's ZIP, or give it as JSON; 409 until
        the job completed."""
        job = await owned_job(store, job_id, tenant)
        status, artifact = job.get("status"), job.get("artifact_uri")
        if status != "completed" or not artifact:
            raise JobConflict(
                f"job {job_id} is {status}: only a completed job has a ZIP to download; "
                f"follow GET /jobs/{job_id} until its status is 'completed'",
                status=status,
            )
        try:
            uri = S3Uri.parse(artifact)
        except S3UriError as exc:  # the projection holds what the compressor wrote
            raise JobConflict(f"job {job_id} has no readable ZIP location", status=status) from exc
        expires_at = presigner.expires_at()  # before signing: the URL lasts at least this long
        url = presigner.url(uri)
        if format == "json":
            return JSONResponse(
                {"url": url, "expiresAt": expires_at.isoformat()},
                headers={"Cache-Control": "no-store"},
            )
        return RedirectResponse(url, status_code=307, headers={"Cache-Control": "no-store"})

    return router
