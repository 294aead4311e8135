"""The HTTP side of the handshake: /healthz, /metrics, and bearer-token checks on /ws (401
otherwise)."""

from __future__ import annotations

import http
import logging
from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

from prometheus_client import CollectorRegistry
from websockets.asyncio.server import ServerConnection
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from dicompress_infra.auth import AuthError, TokenVerifier
from dicompress_infra.metrics import CONTENT_TYPE, METRICS_PATH, exposition

log = logging.getLogger(__name__)

WS_PATH = "/ws"
HEALTH_PATH = "/healthz"


def bearer_token(request: Request) -> str | None:
    """The token from `Authorization: Bearer ...` or, for browsers, from `?token=...`."""
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    tokens = parse_qs(urlsplit(request.path).query).get("token")
    return tokens[0] if tokens else None


class Gate:
    """`process_request` for `serve`: answers health checks and scrapes (from `registry`, when
    given), refuses unauthenticated upgrades."""

    def __init__(
        self,
        verifier: TokenVerifier,
        ready: Callable[[], bool],
        registry: CollectorRegistry | None = None,
    ) -> None:
        self._verifier = verifier
        self._ready = ready
        self._registry = registry

    async def tenant(self, request: Request) -> str:
        """The verified tenant of a request; raises AuthError. Async because an RS256 verifier
        may first fetch its key set (in a thread, off the event loop)."""
        token = bearer_token(request)
        if token is None:
            raise AuthError("no bearer token: send 'Authorization: Bearer <jwt>' or ?token=<jwt>")
        return await self._verifier.tenant_async(token)

    async def __call__(self, connection: ServerConnection, request: Request) -> Response | None:
        path = urlsplit(request.path).path
        if path == HEALTH_PATH:
            if self._ready():
                return connection.respond(http.HTTPStatus.OK, "ok\n")
            return connection.respond(http.HTTPStatus.SERVICE_UNAVAILABLE, "warming up\n")
        if path == METRICS_PATH and self._registry is not None:
            body = exposition(self._registry)
            headers = Headers([("Content-Type", CONTENT_TYPE), ("Content-Length", str(len(body)))])
            return Response(http.HTTPStatus.OK, "OK", headers, body)
        if path != WS_PATH:
            return connection.respond(http.HTTPStatus.NOT_FOUND, f"connect to {WS_PATH}\n")
        try:
            await self.tenant(request)
        except AuthError as exc:
            # never log the request path: it may carry the token
            log.info("refused connection", extra={"reason": str(exc)})
            response = connection.respond(http.HTTPStatus.UNAUTHORIZED, f"{exc}\n")
            response.headers["WWW-Authenticate"] = 'Bearer realm="dicompress"'
            return response
        return None
