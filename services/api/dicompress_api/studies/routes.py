"""The study index routes, each a plain function reading what it needs from `app.state.studies`.

GET /studies                          the tenant's studies, newest first, cursor pagination
GET /studies/{id}                     series with geometry and counts, non-image objects, the
                                      ingests that fed it and what they rejected
GET /studies/{id}/series/{uid}        one series slice by slice in anatomical order
GET /ingests/{id}                     an upload's ingest: status, counts, rejections, studies,
                                      objects of no study
"""

# No `from __future__ import annotations`: FastAPI reads the annotations at import.

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request

from dicompress_api.studies.models import IngestDetail, SeriesDetail, StudyDetail, StudyPage
from dicompress_api.studies.reader import StudyReader
from dicompress_api.web.auth import tenant_of_routes
from dicompress_api.web.problems import PROBLEM

_RESPONSES: dict[int | str, dict[str, Any]] = {code: PROBLEM for code in (401, 404, 422, 429, 503)}
# A DICOM UID (PS3.5 9.1), as the contract's DicomUid.
_UID = r"^[0-9]+(\.[0-9]+)*$"


@dataclass(frozen=True)
class StudyRoutes:
    """What the routes use, kept on `app.state.studies` by the composition root."""

    reader: StudyReader
    # the caller's tenant from a bearer token: verified, and charged to the tenant's rate limit
    tenant_of_token: Callable[[str], Awaitable[str]]


def _routes(request: Request) -> StudyRoutes:
    routes: StudyRoutes = request.app.state.studies
    return routes


Routes = Annotated[StudyRoutes, Depends(_routes)]
Tenant = Annotated[str, Depends(tenant_of_routes(_routes))]
router = APIRouter()


@router.get("/studies", tags=["studies"], response_model=StudyPage, responses=_RESPONSES)
async def list_studies(
    tenant: Tenant,
    routes: Routes,
    limit: Annotated[int, Query(ge=1, le=100, description="Studies per page")] = 20,
    cursor: Annotated[
        str | None, Query(max_length=200, description="`nextCursor` of the previous page")
    ] = None,
) -> StudyPage:
    """The caller's studies, newest first (by when their first instance was stored)."""
    return await routes.reader.page(tenant, limit, cursor)


@router.get(
    "/studies/{study_id}", tags=["studies"], response_model=StudyDetail, responses=_RESPONSES
)
async def get_study(study_id: uuid.UUID, tenant: Tenant, routes: Routes) -> StudyDetail:
    """The study's series (geometry and counts), its objects without pixels, and the ingests
    that fed it with the members they rejected."""
    return await routes.reader.detail(tenant, study_id)


@router.get(
    "/studies/{study_id}/series/{series_uid}",
    tags=["studies"],
    response_model=SeriesDetail,
    responses=_RESPONSES,
)
async def get_series(
    study_id: uuid.UUID,
    series_uid: Annotated[str, Path(pattern=_UID, max_length=64, description="SeriesInstanceUID")],
    tenant: Tenant,
    routes: Routes,
) -> SeriesDetail:
    """The series slice by slice, sorted by position along the slice normal, with spacing,
    gantry tilt, rescale, window presets and pixel format."""
    return await routes.reader.series(tenant, study_id, series_uid)


@router.get(
    "/ingests/{ingest_id}", tags=["studies"], response_model=IngestDetail, responses=_RESPONSES
)
async def get_ingest(ingest_id: uuid.UUID, tenant: Tenant, routes: Routes) -> IngestDetail:
    """An upload's ingest as projected so far: poll it until `status` is completed or failed."""
    return await routes.reader.ingest(tenant, ingest_id)
