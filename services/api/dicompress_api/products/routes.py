"""The product routes, each a plain function reading what it needs from `app.state.products`.

GET  /studies/{id}/products   the study's products, newest first, with presigned image URLs
POST /studies/{id}/products   ask for products (202): existing ones are answered as they are
"""

# No `from __future__ import annotations`: FastAPI reads the annotations at import.

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.security import HTTPAuthorizationCredentials

from dicompress_api.auth import BEARER, bearer_token
from dicompress_api.products.models import ProductList, ProductsRequest
from dicompress_api.products.requesting import ProductService

_PROBLEM: dict[str, Any] = {"content": {"application/problem+json": {}}}
_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: _PROBLEM for code in (401, 404, 409, 422, 429, 503)
}


@dataclass(frozen=True)
class ProductRoutes:
    service: ProductService
    tenant_of_token: Callable[[str], Awaitable[str]]


def _routes(request: Request) -> ProductRoutes:
    routes: ProductRoutes = request.app.state.products
    return routes


async def _tenant(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)],
) -> str:
    return await _routes(request).tenant_of_token(bearer_token(credentials))


Routes = Annotated[ProductRoutes, Depends(_routes)]
Tenant = Annotated[str, Depends(_tenant)]
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
