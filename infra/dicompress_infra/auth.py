"""Bearer tokens: JWTs whose 'tenant' claim scopes everything a caller may see.

Two ways to verify them, chosen by settings (`verifier_from_settings`):
- HS256 with a shared secret (`JWT_SECRET`): the embedded stack signs its own tokens.
- RS256 with public keys from a JWKS (`JWT_JWKS_URL` or `JWT_JWKS_FILE`): an identity provider
  signs them and we only ever hold its public keys. The key set is cached for
  `JWT_JWKS_CACHE_S` and fetched again early when a token names a key id (`kid`) we do not know
  (a key rotation), at most once per `min_refresh_s` so random kids cannot make us hammer the
  provider.

A verifier accepts exactly one algorithm: `alg=none` and the HS256-signed-with-the-public-key
confusion are refused because the token's own header never chooses the algorithm.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import jwt

from dicompress_schemas.envelope import InvalidTenant, tenant_name

if TYPE_CHECKING:
    from dicompress_infra.settings import CommonSettings

log = logging.getLogger(__name__)

TENANT_CLAIM = "tenant"


class AuthError(Exception):
    """The token is missing, malformed, expired, or carries no valid tenant."""


def issue_token(secret: str, tenant: str, audience: str, ttl_s: int = 12 * 3600) -> str:
    """A signed HS256 token for `tenant` (the embedded stack's `dicompress token`)."""
    now = int(time.time())
    claims = {"sub": tenant, TENANT_CLAIM: tenant, "aud": audience, "iat": now, "exp": now + ttl_s}
    return jwt.encode(claims, secret, algorithm="HS256")


def tenant_of(token: str, secret: str, audience: str) -> str:
    """Verify an HS256 token with `secret` and return its tenant."""
    return HmacVerifier(secret, audience).tenant(token)


class TokenVerifier(Protocol):
    """Verifies a bearer token and names its tenant; raises AuthError otherwise."""

    def tenant(self, token: str) -> str:
        """Blocking form: may fetch a key set over the network (RS256 with a JWKS URL)."""
        ...

    async def tenant_async(self, token: str) -> str:
        """For event loops: any network fetch runs in a thread."""
        ...


class _ClaimsCheck:
    """The checks both algorithms share: audience, expiry, issuer, a tenant named by the
    contract's rule (`dicompress_schemas.envelope.tenant_name`)."""

    def __init__(
        self, audience: str, issuer: str | None, tenant_claim: str, leeway_s: float
    ) -> None:
        self._audience = audience
        self._issuer = issuer
        self._tenant_claim = tenant_claim
        self._leeway_s = leeway_s

    def decode(self, token: str, key: Any, algorithm: str) -> str:
        required = ["exp", "aud", self._tenant_claim] + (["iss"] if self._issuer else [])
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                audience=self._audience,
                issuer=self._issuer,
                leeway=self._leeway_s,
                options={"require": required},
            )
        except jwt.PyJWTError as exc:
            raise AuthError(f"invalid token: {exc}") from exc
        tenant = claims.get(self._tenant_claim)
        if tenant is None or tenant == "":
            raise AuthError("token carries no tenant")
        try:
            # the contract's one rule, so the API and the notifier refuse the same names
            return tenant_name(tenant)
        except InvalidTenant as exc:
            raise AuthError(
                f"the token's '{self._tenant_claim}' claim is not valid: {exc}"
            ) from exc


class HmacVerifier:
    """HS256 with a shared secret: no network, so both forms are the same."""

    def __init__(
        self,
        secret: str,
        audience: str,
        *,
        issuer: str | None = None,
        tenant_claim: str = TENANT_CLAIM,
        leeway_s: float = 0,
    ) -> None:
        self._secret = secret
        self._check = _ClaimsCheck(audience, issuer, tenant_claim, leeway_s)

    def tenant(self, token: str) -> str:
        return self._check.decode(token, self._secret, "HS256")

    async def tenant_async(self, token: str) -> str:
        return self.tenant(token)


class JwksKeys:
    """The RSA public keys of a JWKS, by key id, read from a URL or a file and cached."""

    def __init__(
        self,
        *,
        url: str | None = None,
        path: Path | None = None,
        cache_s: float = 300,
        min_refresh_s: float = 10,
        timeout_s: float = 5,
    ) -> None:
        if (url is None) == (path is None):
            raise ValueError("give exactly one of a JWKS URL and a JWKS file")
        self._url = url
        self._path = path
        self._cache_s = cache_s
        self._min_refresh_s = min_refresh_s
        self._timeout_s = timeout_s
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at: float | None = None  # monotonic time of the last fetch attempt
        self._lock = threading.Lock()  # one fetch at a time; tokens may verify in threads

    @property
    def source(self) -> str:
        return self._url or str(self._path)

    def needs_fetch(self, kid: str | None) -> bool:
        """Whether `key(kid)` may fetch (so an event loop should call it in a thread)."""
        if self._fetched_at is None:
            return True
        age = time.monotonic() - self._fetched_at
        if age > self._cache_s:
            return True
        return kid not in self._keys and age > self._min_refresh_s

    def key(self, kid: str | None) -> jwt.PyJWK:
        """The key named `kid`, fetching the set when stale or when `kid` is new to us."""
        if self.needs_fetch(kid):
            with self._lock:
                if self.needs_fetch(kid):  # another thread may have fetched meanwhile
                    self._refresh()
        if kid is None:
            if len(self._keys) == 1:  # a single-key set needs no kid
                return next(iter(self._keys.values()))
            raise AuthError("token has no 'kid' header and the key set has several keys")
        found = self._keys.get(kid)
        if found is None:
            raise AuthError(f"unknown signing key id {kid!r}")
        return found

    def _refresh(self) -> None:
        self._fetched_at = time.monotonic()
        try:
            document = self._read()
            keys = jwt.PyJWKSet.from_dict(document).keys
        except (OSError, ValueError, jwt.PyJWTError) as exc:
            # Keep the keys we had: the provider being briefly away must not log everyone out.
            log.warning("JWKS fetch failed", extra={"source": self.source, "error": str(exc)})
            if not self._keys:
                raise AuthError(f"signing keys unavailable from {self.source}: {exc}") from exc
            return
        signing = [k for k in keys if k.key_type == "RSA" and k.public_key_use in (None, "sig")]
        usable = {k.key_id: k for k in signing if k.key_id}
        unnamed = [k for k in signing if not k.key_id]
        if not usable and len(unnamed) == 1:
            usable = {"": unnamed[0]}  # a single key without a kid
        self._keys = usable
        log.info("JWKS loaded", extra={"source": self.source, "keys": sorted(usable)})

    def _read(self) -> dict[str, Any]:
        if self._path is not None:
            text = self._path.read_text()
        else:
            assert self._url is not None  # one of them, by construction
            request = urllib.request.Request(self._url, headers={"Accept": "application/json"})  # noqa: S310 -- an operator-set URL
            with urllib.request.urlopen(request, timeout=self._timeout_s) as response:  # noqa: S310
                text = response.read().decode()
        document = json.loads(text)
        if not isinstance(document, dict):
            raise ValueError("a JWKS is a JSON object with a 'keys' list")
        return document


class JwksVerifier:
    """RS256 with keys from a JWKS: the key is chosen by the token's `kid`, never its `alg`."""

    ALGORITHM = "RS256"

    def __init__(
        self,
        keys: JwksKeys,
        audience: str,
        *,
        issuer: str | None = None,
        tenant_claim: str = TENANT_CLAIM,
        leeway_s: float = 0,
    ) -> None:
        self._keys = keys
        self._check = _ClaimsCheck(audience, issuer, tenant_claim, leeway_s)

    def tenant(self, token: str) -> str:
        kid = self._kid(token)
        key = self._keys.key(kid)
        if key.algorithm_name != self.ALGORITHM:  # the JWK's own 'alg', or RS256 for an RSA key
            raise AuthError(f"signing key {kid!r} is not an {self.ALGORITHM} key")
        return self._check.decode(token, key.key, self.ALGORITHM)

    async def tenant_async(self, token: str) -> str:
        if self._keys.needs_fetch(self._kid(token)):
            return await asyncio.to_thread(self.tenant, token)
        return self.tenant(token)

    def _kid(self, token: str) -> str | None:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise AuthError(f"invalid token: {exc}") from exc
        if header.get("alg") != self.ALGORITHM:
            raise AuthError(f"invalid token: the algorithm must be {self.ALGORITHM}")
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise AuthError("invalid token: 'kid' is not a string")
        return kid


def verifier_from_settings(settings: CommonSettings) -> TokenVerifier:
    """The one verifier a process builds from its settings and shares between its routes."""
    common: dict[str, Any] = {
        "issuer": settings.jwt_issuer,
        "tenant_claim": settings.jwt_tenant_claim,
        "leeway_s": settings.jwt_leeway_s,
    }
    if settings.jwt_algorithm == "RS256":
        keys = JwksKeys(
            url=settings.jwt_jwks_url,
            path=settings.jwt_jwks_file,
            cache_s=settings.jwt_jwks_cache_s,
        )
        return JwksVerifier(keys, settings.jwt_audience, **common)
    return HmacVerifier(settings.jwt_secret.get_secret_value(), settings.jwt_audience, **common)
