"""The Kafka side of the process manager: ingest events in batches, `IngestCompleted` handled,
offsets committed after the batch's products are published.

Every other ingest event is only skipped: the progress worker, not this one, dead-letters what
does not decode. If a batch cannot be finished (Postgres or the broker away, the ingest not
projected in time) nothing of it is committed: the consumer goes back to the batch's first
offsets and tries again after a pause, and product ids make the re-run ask for nothing twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError

from dicompress_products.manager import ProcessManager
from dicompress_schemas import DecodeError, IngestCompleted, decode_ingest_event

log = logging.getLogger(__name__)

RETRY_BACKOFF_S = 2.0
POLL_TIMEOUT_MS = 500
MAX_RECORDS = 500


@dataclass
class IngestFollower:
    consumer: AIOKafkaConsumer  # subscribed to the ingest events topic by the caller
    manager: ProcessManager

    async def serve(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            batch = await self.consumer.getmany(timeout_ms=POLL_TIMEOUT_MS, max_records=MAX_RECORDS)
            for partition, messages in batch.items():
                if stop.is_set():
                    return
                await self._partition(partition, messages, stop)

    async def _partition(
        self,
        partition: TopicPartition,
        messages: list[ConsumerRecord[bytes, bytes]],
        stop: asyncio.Event,
    ) -> None:
        try:
            for message in messages:
                await self._one(message)
        except Exception:
            log.exception(
                "products of an ingest not requested yet; retrying",
                extra={"partition": partition.partition, "offset": messages[0].offset},
            )
            self.consumer.seek(partition, messages[0].offset)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), RETRY_BACKOFF_S)
            return
        try:
            await self.consumer.commit({partition: messages[-1].offset + 1})
        except (CommitFailedError, IllegalStateError):
            # the partition moved to another member: it redoes the batch, asking for nothing new
            log.warning("commit failed after a rebalance", extra={"partition": partition.partition})

    async def _one(self, message: ConsumerRecord[bytes, bytes]) -> None:
        try:
            event = decode_ingest_event(message.value or b"")
        except DecodeError:
            return  # not ours to judge: the progress worker dead-letters it
        if isinstance(event, IngestCompleted):
            await self.manager.on_ingest_completed(event)
