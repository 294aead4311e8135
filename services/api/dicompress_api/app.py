"""The composition root of the API: `create_app(settings)` wires adapters, routes and errors."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta

from fastapi import FastAPI

from dicompress_api.adapters.database import Database
from dicompress_api.adapters.idempotency import PostgresKeys
from dicompress_api.adapters.kafka_publisher import KafkaPublisher
from dicompress_api.adapters.presign import S3Presigner
from dicompress_api.adapters.s3client import S3Connection
from dicompress_api.downloads.composition import Downloads
from dicompress_api.downloads.objects import S3Chunks
from dicompress_api.downloads.reading import ChunksOf
from dicompress_api.jobs.accept import Limits, Submitter
from dicompress_api.jobs.audit import PostgresAudit, audit_router
from dicompress_api.jobs.files import files_router
from dicompress_api.jobs.insight import insight_router
from dicompress_api.jobs.postgres import PostgresJobs
from dicompress_api.jobs.postgres_stats import PostgresStats
from dicompress_api.jobs.routes import jobs_router
from dicompress_api.jobs.sources import S3Sources
from dicompress_api.jobs.stream_routes import stream_router
from dicompress_api.jobs.submission import SubmitPolicy
from dicompress_api.ports import JobStore, Keys, Publisher, Sources, Stats
from dicompress_api.products.composition import Products
from dicompress_api.products.ports import ProductIndex, ProductPublisher
from dicompress_api.products.postgres_index import PostgresProductIndex
from dicompress_api.settings import ApiSettings
from dicompress_api.studies.composition import Studies
from dicompress_api.studies.ports import StudyIndex
from dicompress_api.studies.postgres_index import PostgresStudyIndex
from dicompress_api.uploads.announce import ArchivePublisher
from dicompress_api.uploads.composition import TokenGate, Uploads
from dicompress_api.uploads.routes import STREAM_PATH
from dicompress_api.web.auth import tenant_dependency
from dicompress_api.web.bodylimit import BodyLimit
from dicompress_api.web.docs import docs_router
from dicompress_api.web.health import health_router
from dicompress_api.web.metrics import install_metrics
from dicompress_api.web.problems import install_problem_handlers
from dicompress_api.web.ratelimit import TokenBuckets, rate_limited
from dicompress_api.web.viewer import viewer_router
from dicompress_infra.auth import verifier_from_settings


@dataclass(frozen=True)
class Adapters:
    """The outside world the routes are bound to: Kafka, Postgres, S3 (or a test's fakes)."""

    kafka: KafkaPublisher  # one producer for jobs, commands, uploads and products
    publisher: Publisher
    archives: ArchivePublisher
    separate_archives: bool  # a test's archives or publisher: started on their own
    database: Database  # one pool for every reader of the projection
    store: JobStore
    audit: PostgresAudit
    s3: S3Connection  # one client for the presigner and the source lister
    presigner: S3Presigner
    sources: Sources
    stats: Stats
    studies: StudyIndex
    keys: Keys


def create_app(
    settings: ApiSettings,
    *,
    publisher: Publisher | None = None,
    store: JobStore | None = None,
    sources: Sources | None = None,
    stats: Stats | None = None,
    keys: Keys | None = None,
    archives: ArchivePublisher | None = None,
    studies: StudyIndex | None = None,
    products: ProductIndex | None = None,
    product_publisher: ProductPublisher | None = None,
    object_chunks: ChunksOf | None = None,
) -> FastAPI:
    """Build the app. The lifespan starts and closes the adapters; neither start waits for its
    backend, so the app serves /healthz (and a failing /readyz) while Kafka or Postgres is away.

    Pass `publisher`/`store`/`sources`/`stats`/`keys`/`archives`/`studies`/`products`/
    `product_publisher`/`object_chunks` to replace the Kafka, Postgres and S3 adapters (unit
    tests).
    """
    a = _adapters(settings, publisher, store, sources, stats, keys, archives, studies)
    # One limiter per app: every authenticated route spends the tenant's tokens.
    buckets = TokenBuckets(settings.api_rate_limit_per_s, settings.api_rate_limit_burst)
    verifier = verifier_from_settings(settings)  # one per process: routes share its JWKS cache
    tenant_of = rate_limited(tenant_dependency(verifier), buckets)
    gate = TokenGate(verifier, buckets)
    uploads = Uploads(settings, a.s3, a.database, a.archives, gate)
    products_feature = Products(
        products or PostgresProductIndex(a.database),
        a.studies,
        product_publisher or a.kafka,
        a.presigner,
        gate.tenant,
    )
    features = (
        uploads,
        Studies(a.studies, gate.tenant, products_feature.service.of_study_uid),
        products_feature,
        Downloads(a.studies, object_chunks or (lambda bucket: S3Chunks(a.s3, bucket)), gate.tenant),
    )
    app = FastAPI(
        title="dicompress API",
        summary="Lossy JPEG 2000 compression of DICOM CT series, with live progress",
        version="0.1.0",
        lifespan=_lifespan(a, uploads),
        docs_url=None,  # web/docs.py serves Swagger UI from the package, under a CSP
        redoc_url=None,  # FastAPI's ReDoc page loads from a CDN too
    )
    install_problem_handlers(app)
    # the streamed upload reads its body as a stream, under its own cap
    app.add_middleware(BodyLimit, max_bytes=settings.api_max_body_bytes, exempt={STREAM_PATH})
    install_metrics(app)  # after BodyLimit, so the metrics middleware also counts the 413s
    app.include_router(health_router(a.publisher, a.store, a.sources))
    app.include_router(docs_router())
    app.include_router(insight_router(settings, a.stats, tenant_of))  # before /compress-dicom/{id}
    submitter = Submitter(
        SubmitPolicy.of(settings),
        Limits.of(settings),
        publisher=a.publisher,
        store=a.store,
        sources=a.sources,
        stats=a.stats,
        keys=a.keys,
        studies=a.studies,
    )
    app.include_router(jobs_router(settings, a.publisher, a.store, submitter, tenant_of))
    app.include_router(audit_router(a.audit, tenant_of))
    app.include_router(files_router(a.store, a.presigner, tenant_of))
    app.include_router(
        stream_router(
            settings.database_url,
            a.database,
            verifier,
            channel=settings.change_feed_channel,
            limit=lambda dep: rate_limited(dep, buckets),
        )
    )
    app.include_router(viewer_router(settings))
    for feature in features:
        feature.install(app)
    return app


def _adapters(
    settings: ApiSettings,
    publisher: Publisher | None,
    store: JobStore | None,
    sources: Sources | None,
    stats: Stats | None,
    keys: Keys | None,
    archives: ArchivePublisher | None,
    studies: StudyIndex | None,
) -> Adapters:
    """The real adapters, or the ones given."""
    kafka = KafkaPublisher(
        settings.kafka_bootstrap_servers, settings.topics, settings.api_publish_timeout_s
    )
    database = Database(settings.database_url)
    s3 = S3Connection(settings)
    return Adapters(
        kafka=kafka,
        publisher=publisher or kafka,
        archives=archives or kafka,
        separate_archives=archives is not None or publisher is not None,
        database=database,
        store=store or PostgresJobs(database),
        audit=PostgresAudit(database),
        s3=s3,
        presigner=S3Presigner(s3, settings.api_presign_expiry_s),
        sources=sources or S3Sources(s3, settings.api_allowed_buckets),
        stats=stats or PostgresStats(database, settings.topics.interactive),
        studies=studies or PostgresStudyIndex(database),
        keys=keys
        or PostgresKeys(
            database,
            timedelta(hours=settings.api_idempotency_ttl_h),
            # a publish gives up after api_publish_timeout_s: thrice that, and no less than 30 s
            abandoned_after=timedelta(seconds=max(30.0, 3 * settings.api_publish_timeout_s)),
        ),
    )


def _lifespan(
    a: Adapters, uploads: Uploads
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """Start the adapters in order, close them in reverse (none waits for its backend)."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await a.publisher.start()
        await a.store.start()
        await a.database.start()  # no-op when the store already started it
        await a.presigner.start()
        await a.sources.start()
        if a.separate_archives:
            await a.archives.start()
        await uploads.start()
        try:
            yield
        finally:
            await uploads.close()
            if a.separate_archives:
                await a.archives.close()
            await a.publisher.close()
            await a.store.close()
            await a.database.close()
            await a.presigner.close()
            await a.sources.close()

    return lifespan
