"""GET /studies/{id}/download: the study's originals (or a series', or a slice range's) as a
ZIP streamed with its Content-Length. Reads what it needs from `app.state.downloads`."""

# No `from __future__ import annotations`: FastAPI reads the annotations at import.

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse

from dicompress_api.downloads.reading import StudyDownloads
from dicompress_api.web.auth import tenant_of_routes
from dicompress_api.web.problems import PROBLEM

_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: PROBLEM for code in (401, 404, 409, 422, 429, 503)
}
_UID = r"^[0-9]+(\.[0-9]+)*$"  # a DICOM UID (PS3.5 9.1), as the contract's DicomUid


@dataclass(frozen=True)
class DownloadRoutes:
    service: StudyDownloads
    tenant_of_token: Callable[[str], Awaitable[str]]


def _routes(request: Request) -> DownloadRoutes:
    routes: DownloadRoutes = request.app.state.downloads
    return routes


Routes = Annotated[DownloadRoutes, Depends(_routes)]
Tenant = Annotated[str, Depends(tenant_of_routes(_routes))]
router = APIRouter()


@router.get(
    "/studies/{study_id}/download",
    tags=["studies"],
    response_class=StreamingResponse,
    responses={
        **_RESPONSES,
        200: {"content": {"application/zip": {}}, "description": "The ZIP, Content-Length set"},
    },
)
async def download_study(
    study_id: uuid.UUID,
    tenant: Tenant,
    routes: Routes,
    series: Annotated[
        str | None, Query(pattern=_UID, max_length=64, description="One series (UID)")
    ] = None,
    z_start: Annotated[
        int | None,
        Query(alias="zStart", description="First slice of the series, anatomical order (index)"),
    ] = None,
    z_end: Annotated[
        int | None, Query(alias="zEnd", description="Last slice (included); default the last")
    ] = None,
) -> StreamingResponse:
    """The stored originals of the study, of one series, or of a slice range of it, as one
    ZIP (entries `{SeriesInstanceUID}/{index:05d}.dcm` by anatomical order, objects without
    pixels as `{SeriesInstanceUID}/{SOPInstanceUID}.dcm`). Streamed with its length known."""
    download = await routes.service.prepare(tenant, study_id, series, z_start, z_end)
    return StreamingResponse(
        iter(download.archive),
        media_type="application/zip",
        headers={
            "Content-Length": str(download.archive.length),
            "Content-Disposition": f'attachment; filename="{download.file_name}"',
            "Cache-Control": "no-store",
            "X-Files": str(download.files),
        },
    )
