"""Who is calling: the tenant named by a verified bearer JWT."""

# No `from __future__ import annotations`: FastAPI must see the closures' real annotations
# (they name local dependencies, which it cannot resolve from strings).

from collections.abc import Awaitable, Callable
from typing import Annotated, Protocol

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from dicompress_api.web.errors import Unauthenticated
from dicompress_infra.auth import AuthError, TokenVerifier, verifier_from_settings
from dicompress_infra.settings import CommonSettings

TenantDependency = Callable[..., Awaitable[str]]
# The one bearer scheme of every authenticated route (one entry in the OpenAPI document).
BEARER = HTTPBearer(
    auto_error=False, description="JWT (HS256 or RS256, per settings) with a 'tenant' claim"
)


def bearer_token(credentials: HTTPAuthorizationCredentials | None) -> str:
    """The token of an `Authorization: Bearer` header, or Unauthenticated (401)."""
    if credentials is None:
        raise Unauthenticated("missing bearer token", invalid=False)
    return credentials.credentials


async def verified_tenant(verifier: TokenVerifier, token: str) -> str:
    """The tenant of `token`, or Unauthenticated (401) saying why. The verifier holds the tenant
    to the contract's rule, so a tenant that reaches a route fits every event."""
    try:
        return await verifier.tenant_async(token)
    except AuthError as exc:
        raise Unauthenticated(str(exc), invalid=True) from exc


def tenant_dependency(auth: CommonSettings | TokenVerifier) -> TenantDependency:
    """A FastAPI dependency returning the caller's tenant, or raising Unauthenticated.

    Pass the process's one verifier (`verifier_from_settings`), so every route shares its cached
    JWKS; settings build a verifier of their own.
    """
    verifier = verifier_from_settings(auth) if isinstance(auth, CommonSettings) else auth

    async def tenant(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)],
    ) -> str:
        return await verified_tenant(verifier, bearer_token(credentials))

    return tenant


class GatedRoutes(Protocol):
    """A feature's routes (kept on `app.state`) that know the caller's tenant from a token:
    verified, and charged to the tenant's rate limit."""

    @property
    def tenant_of_token(self) -> Callable[[str], Awaitable[str]]: ...


def tenant_of_routes(routes_of: Callable[[Request], GatedRoutes]) -> TenantDependency:
    """A FastAPI dependency returning the caller's tenant through the `tenant_of_token` of the
    routes `routes_of` finds, or raising Unauthenticated: the studies, uploads, products and
    downloads routes share it."""

    async def tenant(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)],
    ) -> str:
        return await routes_of(request).tenant_of_token(bearer_token(credentials))

    return tenant
