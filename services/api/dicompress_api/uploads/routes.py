"""The upload routes, each a plain function reading what it needs from `app.state.uploads`.

POST   /uploads                 begin a presigned multipart upload (201, part URLs)
GET    /uploads/{id}            parts received, fresh URLs for the missing ones
POST   /uploads/{id}/complete   complete it and queue its ingest (202, Location)
DELETE /uploads/{id}            abort it (204)
PUT    /uploads/stream          the file as the request body (202, Location); POST too
"""

# No `from __future__ import annotations`: FastAPI reads the annotations at import.

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Query, Request, Response

from dicompress_api.uploads.models import (
    CompleteRequest,
    UploadAccepted,
    UploadRequest,
    UploadType,
    UploadView,
)
from dicompress_api.uploads.presigned import PresignedUploads
from dicompress_api.uploads.streamed import StreamedUploads
from dicompress_api.web.auth import tenant_of_routes
from dicompress_api.web.errors import FieldProblem, InvalidRequest
from dicompress_api.web.problems import PROBLEM

STREAM_PATH = "/uploads/stream"

_BINARY = {"type": "string", "format": "binary"}
_TYPES = tuple(t.value for t in UploadType)


@dataclass(frozen=True)
class UploadRoutes:
    """What the routes use, kept on `app.state.uploads` by the composition root."""

    presigned: PresignedUploads
    streamed: StreamedUploads
    # the caller's tenant from a bearer token: verified, and charged to the tenant's rate limit
    tenant_of_token: Callable[[str], Awaitable[str]]


def _routes(request: Request) -> UploadRoutes:
    routes: UploadRoutes = request.app.state.uploads
    return routes


Routes = Annotated[UploadRoutes, Depends(_routes)]
Tenant = Annotated[str, Depends(tenant_of_routes(_routes))]
router = APIRouter(tags=["uploads"])


@router.post(
    "/uploads",
    status_code=201,
    response_model=UploadView,
    responses={code: PROBLEM for code in (401, 413, 422, 429, 503)},
)
async def begin_upload(
    body: UploadRequest, tenant: Tenant, routes: Routes, response: Response
) -> UploadView:
    """Begin a presigned multipart upload: PUT each part to its URL, then complete."""
    view = await routes.presigned.begin(body, tenant)
    response.headers["Location"] = view.status_url
    return view


@router.get(
    "/uploads/{upload_id}",
    response_model=UploadView,
    responses={code: PROBLEM for code in (401, 404, 422, 429, 503)},
)
async def get_upload(upload_id: uuid.UUID, tenant: Tenant, routes: Routes) -> UploadView:
    """The parts S3 holds (do not send them again) and fresh URLs for the missing ones."""
    return await routes.presigned.view(upload_id, tenant)


@router.post(
    "/uploads/{upload_id}/complete",
    status_code=202,
    response_model=UploadAccepted,
    responses={code: PROBLEM for code in (401, 404, 409, 422, 429, 503)},
)
async def complete_upload(
    upload_id: uuid.UUID,
    tenant: Tenant,
    routes: Routes,
    response: Response,
    body: Annotated[CompleteRequest | None, Body()] = None,
) -> UploadAccepted:
    """Complete the upload and queue its ingest; a retry answers the same and publishes
    nothing new. 409 names the parts still missing."""
    answer = await routes.presigned.complete(upload_id, tenant, body)
    response.headers["Location"] = answer.status_url
    return answer


@router.delete(
    "/uploads/{upload_id}",
    status_code=204,
    responses={code: PROBLEM for code in (401, 404, 409, 422, 429, 503)},
)
async def abort_upload(upload_id: uuid.UUID, tenant: Tenant, routes: Routes) -> Response:
    """Abort an open upload and delete its parts (aborting twice is fine)."""
    await routes.presigned.abort(upload_id, tenant)
    return Response(status_code=204)


@router.put(
    STREAM_PATH,
    status_code=202,
    response_model=UploadAccepted,
    responses={code: PROBLEM for code in (401, 413, 422, 429, 503)},
    openapi_extra={
        "requestBody": {
            "required": True,
            # octet-stream too: the type is then read from the name's extension
            "content": {t: {"schema": _BINARY} for t in (*_TYPES, "application/octet-stream")},
        }
    },
)
@router.post(STREAM_PATH, status_code=202, response_model=UploadAccepted, include_in_schema=False)
async def stream_upload(
    request: Request,
    tenant: Tenant,
    routes: Routes,
    response: Response,
    file_name: Annotated[
        str, Query(alias="fileName", min_length=1, max_length=255, description="The file's name")
    ],
) -> UploadAccepted:
    """The ZIP of a study (or one DICOM file) as the request body, written to S3 while it
    arrives; Content-Type application/zip or application/dicom (else read from the name)."""
    content_type = _upload_type(request.headers.get("content-type"), file_name)
    answer = await routes.streamed.receive(
        tenant, file_name, content_type, _declared_size(request), request.stream()
    )
    response.headers["Location"] = answer.status_url
    return answer


def _upload_type(header: str | None, file_name: str) -> str:
    """The Content-Type if it is one we take, else what the name's extension says."""
    given = (header or "").split(";")[0].strip().lower()
    if given in _TYPES:
        return given
    lowered = file_name.lower()
    if lowered.endswith(".zip"):
        return UploadType.ZIP.value
    if lowered.endswith((".dcm", ".dicom")):
        return UploadType.DICOM.value
    detail = "send Content-Type application/zip (a study) or application/dicom (one file)"
    raise InvalidRequest([FieldProblem("Content-Type", "upload_type", detail, "header")])


def _declared_size(request: Request) -> int | None:
    length = request.headers.get("content-length")
    return int(length) if length is not None and length.isdigit() else None
