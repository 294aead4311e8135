"""Liveness (/healthz) and readiness (/readyz) probes."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from dicompress_api.ports import JobStore, Publisher
from dicompress_api.problems import problem_response


def health_router(publisher: Publisher, store: JobStore) -> APIRouter:
    """/healthz: the process answers. /readyz: Kafka and Postgres answer too (else 503)."""
    router = APIRouter(tags=["health"])

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz", response_model=None)
    async def readyz() -> JSONResponse | dict[str, object]:
        kafka, postgres = await asyncio.gather(publisher.problem(), store.problem())
        checks = {"kafka": kafka or "ok", "postgres": postgres or "ok"}
        failing = [problem for problem in (kafka, postgres) if problem]
        if failing:
            return problem_response(
                503, "; ".join(failing), kind="not-ready", title="Not ready", checks=checks
            )
        return {"status": "ready", "checks": checks}

    return router
