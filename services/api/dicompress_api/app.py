"""The composition root of the API: `create_app(settings)` wires adapters, routes and errors."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from dicompress_api.audit import PostgresAudit, audit_router
from dicompress_api.auth import tenant_dependency
from dicompress_api.database import Database
from dicompress_api.files import files_router
from dicompress_api.health import health_router
from dicompress_api.jobs import jobs_router
from dicompress_api.kafka_publisher import KafkaPublisher
from dicompress_api.metrics import install_metrics
from dicompress_api.ports import JobStore, Publisher
from dicompress_api.postgres_jobs import PostgresJobs
from dicompress_api.presign import S3Presigner
from dicompress_api.problems import install_problem_handlers
from dicompress_api.settings import ApiSettings


def create_app(
    settings: ApiSettings,
    *,
    publisher: Publisher | None = None,
    store: JobStore | None = None,
) -> FastAPI:
    """Build the app. The lifespan starts and closes the adapters; neither start waits for its
    backend, so the app serves /healthz (and a failing /readyz) while Kafka or Postgres is away.

    Pass `publisher`/`store` to replace the Kafka and Postgres adapters (unit tests).
    """
    publisher = publisher or KafkaPublisher(
        settings.kafka_bootstrap_servers,
        settings.topics.requests,
        settings.api_publish_timeout_s,
        control_topic=settings.topics.control,
    )
    database = Database(settings.database_url)  # one pool for the jobs and the audit readers
    store = store or PostgresJobs(database)
    audit = PostgresAudit(database)
    presigner = S3Presigner(settings, settings.api_presign_expiry_s)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await publisher.start()
        await store.start()
        await database.start()  # no-op when the store already started it
        await presigner.start()
        try:
            yield
        finally:
            await publisher.close()
            await store.close()
            await database.close()
            await presigner.close()

    app = FastAPI(
        title="dicompress API",
        summary="Lossy JPEG 2000 compression of DICOM CT series, with live progress",
        version="0.1.0",
        lifespan=lifespan,
    )
    install_problem_handlers(app)
    install_metrics(app)
    app.include_router(health_router(publisher, store))
    app.include_router(jobs_router(settings, publisher, store, tenant_dependency(settings)))
    app.include_router(audit_router(audit, tenant_dependency(settings)))
    app.include_router(files_router(store, presigner, tenant_dependency(settings)))
    return app
