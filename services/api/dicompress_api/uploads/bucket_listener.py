"""The bucket-notification trigger: a Kafka consumer in the API that turns S3 event records
(`bucket_events`) into `ArchiveUploaded`, when API_BUCKET_NOTIFICATION_TOPIC is set.

At least once: a batch's offsets are committed only after every event it gave was acknowledged,
and a publish that fails is retried until it succeeds or the API stops. Redelivered records
give the same ingest and event ids, which the ingest's consumers drop. Records that cannot be
read are logged and skipped (they are the store's, not ours to fix). All API instances share
one consumer group, so each record is announced by one of them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection

from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaError

from dicompress_api.uploads.announce import ArchivePublisher
from dicompress_api.uploads.background import BackgroundLoop
from dicompress_api.uploads.bucket_events import (
    BucketEventError,
    archive_uploaded,
    incoming_objects,
)
from dicompress_api.web.errors import PublishUnavailable

log = logging.getLogger(__name__)

_RETRY_S = 2.0


class BucketNotifications(BackgroundLoop):
    """Consumes `topic` in `group` from start until close."""

    def __init__(
        self,
        bootstrap_servers: str,
        topic: str,
        group: str,
        buckets: Collection[str],
        publisher: ArchivePublisher,
    ) -> None:
        self._bootstrap = bootstrap_servers
        self._topic = topic
        self._group = group
        self._buckets = frozenset(buckets)
        self._publisher = publisher

    async def _run(self) -> None:
        while True:  # (re)connect: the API serves while the broker is away
            consumer = AIOKafkaConsumer(
                self._topic,
                bootstrap_servers=self._bootstrap,
                group_id=self._group,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
            )
            try:
                await consumer.start()
                log.info("following bucket notifications", extra={"topic": self._topic})
                await self._consume(consumer)
            except KafkaError as exc:
                log.warning(
                    "bucket notifications: Kafka failed; reconnecting",
                    extra={"topic": self._topic, "error": str(exc)},
                )
            finally:
                await consumer.stop()
            await asyncio.sleep(_RETRY_S)

    async def _consume(self, consumer: AIOKafkaConsumer) -> None:
        while True:
            batches = await consumer.getmany(timeout_ms=1000, max_records=100)
            for partition, records in batches.items():
                for record in records:
                    await self._announce(record.value or b"", partition.partition, record.offset)
            if batches:
                await consumer.commit()

    async def _announce(self, payload: bytes, partition: int, offset: int) -> None:
        where = {"topic": self._topic, "partition": partition, "offset": offset}
        try:
            found = incoming_objects(payload, self._buckets)
        except BucketEventError as exc:
            log.warning("skipped a bucket notification", extra={**where, "error": str(exc)})
            return
        for incoming in found:
            event = archive_uploaded(incoming)
            while True:
                try:
                    await self._publisher.publish_ingest(event)
                    break
                except PublishUnavailable as exc:
                    log.warning(
                        "bucket notification not announced yet; retrying",
                        extra={**where, "error": str(exc)},
                    )
                    await asyncio.sleep(_RETRY_S)
            log.info(
                "archive arrived in a bucket",
                extra={
                    **where,
                    "tenant": incoming.tenant,
                    "key": incoming.key,
                    "ingest_id": str(event.ingest_id),
                    "event_type": "ArchiveUploaded",
                },
            )
