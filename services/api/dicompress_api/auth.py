"""Who is calling: the tenant named by a verified bearer JWT."""

# No `from __future__ import annotations`: FastAPI must see the closures' real annotations
# (they name local dependencies, which it cannot resolve from strings).

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import TypeAdapter, ValidationError

from dicompress_api.errors import Unauthenticated
from dicompress_infra.auth import AuthError, tenant_of
from dicompress_infra.settings import CommonSettings
from dicompress_schemas import EventBase

# A tenant must fit the event contract, or publishing its job would fail after the fact.
_TENANT: TypeAdapter[str] = TypeAdapter(Annotated[str, *EventBase.model_fields["tenant"].metadata])

TenantDependency = Callable[..., Awaitable[str]]


def tenant_dependency(settings: CommonSettings) -> TenantDependency:
    """A FastAPI dependency returning the caller's tenant, or raising Unauthenticated."""
    bearer = HTTPBearer(auto_error=False, description="HS256 JWT with a 'tenant' claim")
    secret = settings.jwt_secret.get_secret_value()
    audience = settings.jwt_audience

    async def tenant(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> str:
        if credentials is None:
            raise Unauthenticated("missing bearer token", invalid=False)
        try:
            return _TENANT.validate_python(tenant_of(credentials.credentials, secret, audience))
        except AuthError as exc:
            raise Unauthenticated(str(exc), invalid=True) from exc
        except ValidationError as exc:
            raise Unauthenticated("the token's tenant is not a valid name", invalid=True) from exc

    return tenant
