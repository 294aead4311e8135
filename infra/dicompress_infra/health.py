"""A tiny HTTP health (and metrics) endpoint for services that serve no HTTP of their own.

`GET /healthz` answers 200 when `is_ready()` is true and 503 otherwise; `GET /metrics` answers
the Prometheus text exposition of `registry` when one is given; anything else is 404
(405 for another method). One request per connection: liveness probes need no more, and a
full web framework would be a heavy dependency for one route.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from prometheus_client import CollectorRegistry

from dicompress_infra.metrics import CONTENT_TYPE, METRICS_PATH, exposition

log = logging.getLogger(__name__)

_READ_TIMEOUT_S = 5.0
_MAX_HEADER_LINES = 100


async def serve_health(
    port: int,
    is_ready: Callable[[], bool],
    host: str = "127.0.0.1",
    registry: CollectorRegistry | None = None,
) -> asyncio.Server:
    """Start serving `GET /healthz` (and `GET /metrics` from `registry`) on host:port (0: any
    free port; see `server.sockets`).

    Close the returned server (`close()` then `await wait_closed()`) on shutdown.
    """

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            method, target = await asyncio.wait_for(_request(reader), _READ_TIMEOUT_S)
            status = _status(method, target, is_ready, registry)
            body = _REASONS[status].encode() + b"\n"
            content_type = "text/plain"
            if status == 200 and target == METRICS_PATH and registry is not None:
                body, content_type = exposition(registry), CONTENT_TYPE
            writer.write(
                f"HTTP/1.1 {status} {_REASONS[status]}\r\nContent-Type: {content_type}\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                + (b"" if method == "HEAD" else body)
            )
            await writer.drain()
        except (TimeoutError, ConnectionError, asyncio.IncompleteReadError, ValueError):
            pass  # a probe that hung up or spoke garbage gets no answer
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    server = await asyncio.start_server(handle, host, port)
    log.info("health endpoint listening", extra={"host": host, "port": bound_port(server)})
    return server


def bound_port(server: asyncio.Server) -> int:
    """The port the server actually listens on (useful after asking for port 0)."""
    port: int = server.sockets[0].getsockname()[1]
    return port


_REASONS = {200: "OK", 404: "Not Found", 405: "Method Not Allowed", 503: "Service Unavailable"}


async def _request(reader: asyncio.StreamReader) -> tuple[str, str]:
    """The method and path (query dropped) of the request; raises ValueError on garbage."""
    request_line = (await reader.readuntil(b"\r\n")).decode("latin-1").split()
    for _ in range(_MAX_HEADER_LINES):  # drain the headers; we need none of them
        if await reader.readuntil(b"\r\n") == b"\r\n":
            break
    if len(request_line) != 3:
        raise ValueError("not an HTTP request line")
    method, target, _version = request_line
    return method, target.split("?", 1)[0]


def _status(
    method: str,
    path: str,
    is_ready: Callable[[], bool],
    registry: CollectorRegistry | None,
) -> int:
    if path != "/healthz" and (path != METRICS_PATH or registry is None):
        return 404
    if method not in ("GET", "HEAD"):
        return 405
    if path == METRICS_PATH:
        return 200
    return 200 if is_ready() else 503
