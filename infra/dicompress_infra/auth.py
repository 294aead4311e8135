"""Bearer tokens: HS256 JWTs whose 'tenant' claim scopes everything a caller may see."""

from __future__ import annotations

import time

import jwt

TENANT_CLAIM = "tenant"


class AuthError(Exception):
    """The token is missing, malformed, expired, or carries no tenant."""


def issue_token(secret: str, tenant: str, audience: str, ttl_s: int = 12 * 3600) -> str:
    """A signed token for `tenant` (the embedded stack's `dicompress token`)."""
    now = int(time.time())
    claims = {"sub": tenant, TENANT_CLAIM: tenant, "aud": audience, "iat": now, "exp": now + ttl_s}
    return jwt.encode(claims, secret, algorithm="HS256")


def tenant_of(token: str, secret: str, audience: str) -> str:
    """Verify the token and return its tenant."""
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=["HS256"],
            audience=audience,
            options={"require": ["exp", "aud", TENANT_CLAIM]},
        )
    except jwt.PyJWTError as exc:
        raise AuthError(f"invalid token: {exc}") from exc
    tenant = claims.get(TENANT_CLAIM)
    if not isinstance(tenant, str) or not tenant:
        raise AuthError("token carries no tenant")
    return tenant
