"""The product routes, each a plain function reading what it needs from `app.state.products`.

GET  /studies/{id}/products   the study's products, newest first, with presigned image URLs
POST /studies/{id}/products   ask for products (202): existing ones are answered as they are
POST /studies/{id}/series/{uid}/mini-ct
                              a region of a series: 200 with a short-lived URL when it is
                              made, else 202 with its job (made once however often asked)
"""

# No `from __future__ import annotations`: FastAPI reads the annotations at import.

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, Response

from dicompress_api.products.mini_ct import MiniCtService
from dicompress_api.products.mini_ct_models import MiniCtAnswer, MiniCtRequest
from dicompress_api.products.models import ProductList, ProductsRequest
from dicompress_api.products.requesting import ProductService
from dicompress_api.web.auth import tenant_of_routes
from dicompress_api.web.problems import PROBLEM

_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: PROBLEM for code in (401, 404, 409, 422, 429, 503)
}
_UID = r"^[0-9]+(\.[0-9]+)*$"  # a DICOM UID (PS3.5 9.1), as the contract's DicomUid
_OVER = frozenset({"completed", "failed", "cancelled"})


@dataclass(frozen=True)
class ProductRoutes:
    service: ProductService
    mini_ct: MiniCtService
    tenant_of_token: Callable[[str], Awaitable[str]]


def _routes(request: Request) -> ProductRoutes:
    routes: ProductRoutes = request.app.state.products
    return routes


Routes = Annotated[ProductRoutes, Depends(_routes)]
Tenant = Annotated[str, Depends(tenant_of_routes(_routes))]
router = APIRouter()


@router.get(
    "/studies/{study_id}/products",
    tags=["products"],
    response_model=ProductList,
    responses=_RESPONSES,
)
async def list_products(study_id: uuid.UUID, tenant: Tenant, routes: Routes) -> ProductList:
    """Every product of the study's series: state, parameters, and short-lived image URLs."""
    return ProductList(items=await routes.service.of_study(tenant, study_id))


@router.post(
    "/studies/{study_id}/products",
    tags=["products"],
    status_code=202,
    response_model=ProductList,
    responses=_RESPONSES,
)
async def request_products(
    study_id: uuid.UUID, body: ProductsRequest, tenant: Tenant, routes: Routes
) -> ProductList:
    """Ask for products of the study's CT volumes (or of the series named). The same
    parameters on the same instances name the same product: it is answered as it stands,
    never made twice. Follow each new one at its `streamUrl` or over the WebSocket."""
    return ProductList(items=await routes.service.request(tenant, study_id, body))


@router.post(
    "/studies/{study_id}/series/{series_uid}/mini-ct",
    tags=["products"],
    response_model=MiniCtAnswer,
    responses={
        **_RESPONSES,
        200: {"description": "Made (downloadUrl) or over (failed, cancelled: reason)"},
        202: {"description": "Being made: follow streamUrl or the WebSocket, then ask again"},
    },
)
async def request_mini_ct(
    study_id: uuid.UUID,
    series_uid: Annotated[str, Path(pattern=_UID, max_length=64, description="SeriesInstanceUID")],
    body: MiniCtRequest,
    tenant: Tenant,
    routes: Routes,
    response: Response,
) -> MiniCtAnswer:
    """A region of the series (slice range, box, downsampling) as a derived series (ZIP) or
    one multi-frame object, lossless unless a rate or preset says otherwise. The region and the
    series' instances name one product: asked again, it is answered at once with a short-lived
    URL; two identical requests make one job. 422 with the valid range when the region is not
    in the series."""
    answer = await routes.mini_ct.request(tenant, study_id, series_uid, body)
    response.status_code = 200 if answer.status in _OVER else 202
    return answer
