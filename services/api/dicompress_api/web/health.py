"""Liveness (/healthz) and readiness (/readyz) probes."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from dicompress_api.ports import JobStore, Publisher, Sources
from dicompress_api.web.problems import problem_response


def health_router(publisher: Publisher, store: JobStore, sources: Sources) -> APIRouter:
    """/healthz: the process answers. /readyz: Kafka, Postgres and S3 answer too (else 503)."""
    router = APIRouter(tags=["health"])

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz", response_model=None)
    async def readyz() -> JSONResponse | dict[str, object]:
        kafka, postgres, s3 = await asyncio.gather(
            publisher.problem(), store.problem(), sources.problem()
        )
        checks = {"kafka": kafka or "ok", "postgres": postgres or "ok", "s3": s3 or "ok"}
        failing = [problem for problem in (kafka, postgres, s3) if problem]
        if failing:
            return problem_response(
                503, "; ".join(failing), kind="not-ready", title="Not ready", checks=checks
            )
        return {"status": "ready", "checks": checks}

    return router
