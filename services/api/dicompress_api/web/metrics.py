"""Prometheus metrics of the API: requests by route template, method and status, latency, and
jobs submitted; served at GET /metrics.

A plain ASGI middleware times each request and labels it with the route *template* (e.g.
`/jobs/{job_id}`), never the raw path, so job ids do not explode the label set. A request
that matched no route is labelled `unmatched`. The latency runs until the last byte of the
body is handed over, so a streamed download counts its transfer. A job counts as submitted
when a submit route answered 202 (the broker has the request).
"""

from __future__ import annotations

import time

from fastapi import APIRouter, FastAPI
from fastapi.responses import Response
from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dicompress_infra.metrics import CONTENT_TYPE, METRICS_PATH, exposition, new_registry

SUBMIT_ROUTES = frozenset({"/jobs", "/compress-dicom"})
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class ApiMetrics:
    """What an API process exports; one per app, on its own registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "dicompress_api_requests",
            "HTTP requests answered, by route template, method and status.",
            ["route", "method", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "dicompress_api_request_duration_seconds",
            "Time to answer an HTTP request, by route template and method.",
            ["route", "method"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.jobs_submitted = Counter(
            "dicompress_api_jobs_submitted", "Compression jobs accepted (202).", registry=registry
        )


def install_metrics(app: FastAPI) -> None:
    """Count every request of `app` and serve the counts at GET /metrics."""
    registry = new_registry()
    metrics = ApiMetrics(registry)
    app.add_middleware(_Measure, metrics=metrics)
    router = APIRouter(tags=["health"])

    @router.get(METRICS_PATH, include_in_schema=False)
    async def scrape() -> Response:
        return Response(exposition(registry), headers={"Content-Type": CONTENT_TYPE})

    app.include_router(router)


class _Measure:
    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self._app = app
        self._metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client gets if the app raises before answering

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self._app(scope, receive, send_and_note)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            method = scope["method"]
            self._metrics.latency.labels(route, method).observe(time.perf_counter() - started)
            self._metrics.requests.labels(route, method, str(status)).inc()
            if method == "POST" and route in SUBMIT_ROUTES and status == 202:
                self._metrics.jobs_submitted.inc()
