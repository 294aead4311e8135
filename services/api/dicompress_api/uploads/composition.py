"""Wires the uploads into an app: adapters, the two ways in, the sweep, routes and errors."""

from __future__ import annotations

from fastapi import FastAPI

from dicompress_api.adapters.database import Database
from dicompress_api.adapters.s3client import S3Connection
from dicompress_api.settings import ApiSettings
from dicompress_api.uploads.announce import ArchivePublisher
from dicompress_api.uploads.bucket_listener import BucketNotifications
from dicompress_api.uploads.multipart import S3Multipart
from dicompress_api.uploads.policy import UploadPolicy
from dicompress_api.uploads.presigned import PresignedUploads
from dicompress_api.uploads.problems import install_upload_problems
from dicompress_api.uploads.records import PostgresUploads
from dicompress_api.uploads.routes import UploadRoutes, router
from dicompress_api.uploads.streamed import StreamedUploads
from dicompress_api.uploads.sweep import UploadSweep
from dicompress_api.web.auth import verified_tenant
from dicompress_api.web.ratelimit import TokenBuckets
from dicompress_infra.auth import TokenVerifier


class TokenGate:
    """The tenant of a bearer token, charged to the tenant's rate limit like every route."""

    def __init__(self, verifier: TokenVerifier, buckets: TokenBuckets) -> None:
        self._verifier = verifier
        self._buckets = buckets

    async def tenant(self, token: str) -> str:
        tenant = await verified_tenant(self._verifier, token)
        self._buckets.take(tenant)
        return tenant


class Uploads:
    """The upload feature of one app; `start`/`close` from the app's lifespan (the publisher
    is started by the app, which may share it with the job routes)."""

    def __init__(
        self,
        settings: ApiSettings,
        s3: S3Connection,
        database: Database,
        publisher: ArchivePublisher,
        gate: TokenGate,
    ) -> None:
        policy = UploadPolicy.of(settings)
        records = PostgresUploads(database)
        self._multipart = S3Multipart(s3, settings.api_upload_url_expiry_s)
        self.routes = UploadRoutes(
            presigned=PresignedUploads(policy, records, self._multipart, publisher),
            streamed=StreamedUploads(policy, records, self._multipart, publisher),
            tenant_of_token=gate.tenant,
        )
        self.sweep = UploadSweep(
            policy, records, self._multipart, publisher, settings.api_upload_sweep_interval_s
        )
        topic = settings.api_bucket_notification_topic
        self.notifications = (
            BucketNotifications(
                settings.kafka_bootstrap_servers,
                topic,
                settings.api_bucket_notification_group,
                settings.api_allowed_buckets,
                publisher,
            )
            if topic
            else None
        )

    def install(self, app: FastAPI) -> None:
        app.state.uploads = self.routes
        app.include_router(router)
        install_upload_problems(app)

    async def start(self) -> None:
        await self._multipart.start()
        await self.sweep.start()
        if self.notifications is not None:
            await self.notifications.start()

    async def close(self) -> None:
        if self.notifications is not None:
            await self.notifications.close()
        await self.sweep.close()
        await self._multipart.close()
