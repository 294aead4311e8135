"""`dicompress_infra.health.serve_health`, the health endpoint the compressor serves (local
sockets only: no backend needed)."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from prometheus_client import Counter

from dicompress_infra.health import bound_port, serve_health
from dicompress_infra.metrics import new_registry

pytestmark = pytest.mark.integration


async def test_healthz_follows_readiness_and_nothing_else_is_served() -> None:
    ready = False
    server = await serve_health(0, lambda: ready)
    base = f"http://127.0.0.1:{bound_port(server)}"
    try:
        async with httpx.AsyncClient(base_url=base, timeout=5) as client:
            assert (await client.get("/healthz")).status_code == 503
            ready = True
            answer = await client.get("/healthz")
            assert (answer.status_code, answer.text) == (200, "OK\n")
            assert (await client.head("/healthz")).status_code == 200
            assert (await client.get("/other")).status_code == 404
            assert (await client.post("/healthz")).status_code == 405
    finally:
        server.close()
        await server.wait_closed()


async def test_a_client_that_sends_garbage_or_nothing_does_not_break_it() -> None:
    server = await serve_health(0, lambda: True)
    port = bound_port(server)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"\x00\x01garbage\r\n\r\n")
        await writer.drain()
        assert await asyncio.wait_for(reader.read(), 10) == b""  # closed without an answer
        writer.close()
        async with httpx.AsyncClient(timeout=5) as client:
            answer = await client.get(f"http://127.0.0.1:{port}/healthz")
            assert answer.status_code == 200
    finally:
        server.close()
        await server.wait_closed()


async def test_metrics_are_served_only_when_a_registry_is_given() -> None:
    registry = new_registry()
    Counter("dicompress_demo_things", "Demo.", registry=registry).inc(2)
    with_metrics = await serve_health(0, lambda: False, registry=registry)
    without = await serve_health(0, lambda: True)
    try:
        async with httpx.AsyncClient(timeout=5) as client:
            answer = await client.get(f"http://127.0.0.1:{bound_port(with_metrics)}/metrics")
            assert answer.status_code == 200  # even while not ready: scrapes explain why
            assert answer.headers["content-type"].startswith("text/plain; version=")
            assert "dicompress_demo_things_total 2.0" in answer.text
            assert "process_resident_memory_bytes" in answer.text
            bare = await client.get(f"http://127.0.0.1:{bound_port(without)}/metrics")
            assert bare.status_code == 404
    finally:
        for server in (with_metrics, without):
            server.close()
            await server.wait_closed()
