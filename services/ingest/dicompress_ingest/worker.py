"""The Kafka side: take one ArchiveUploaded at a time from the group, ingest it, commit.

At-least-once, as the compressor: the offset is committed only after the terminal event was
acknowledged; a crash mid-archive leaves it uncommitted, the group hands it out again, and the
re-run emits the same event ids and finds its objects already stored. A message that is not an
ArchiveUploaded goes to the dead-letter topic with the reason, and the loop goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError

from dicompress_infra.kafka import dead_letter
from dicompress_schemas import ArchiveUploaded, DecodeError, Topics, decode_ingest_event

log = logging.getLogger(__name__)

RETRY_BACKOFF_S = 5.0
POLL_TIMEOUT_MS = 500
Handle = Callable[[ArchiveUploaded], Coroutine[Any, Any, object]]


class Worker:
    """Consumes the ingest requests topic (subscribed by the caller) until `stop` is set."""

    def __init__(
        self,
        consumer: AIOKafkaConsumer,
        producer: AIOKafkaProducer,
        handle: Handle,
        topics: Topics,
    ) -> None:
        self.consumer = consumer
        self.producer = producer
        self.handle = handle
        self.topics = topics

    async def serve(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            batch = await self.consumer.getmany(timeout_ms=POLL_TIMEOUT_MS, max_records=1)
            for messages in batch.values():
                for message in messages:
                    if not await self._one(message, stop):
                        return

    async def _one(self, message: ConsumerRecord[bytes, bytes], stop: asyncio.Event) -> bool:
        """Process one message; False when `stop` interrupted it (nothing committed)."""
        where: dict[str, Any] = {
            "topic": message.topic,
            "partition": message.partition,
            "offset": message.offset,
        }
        try:
            request = decode_ingest_event(message.value or b"")
        except DecodeError as exc:
            await self._dead_letter(message, exc.reason, where)
            return True
        if not isinstance(request, ArchiveUploaded):
            await self._dead_letter(message, f"{request.type} is not an upload", where)
            return True
        where |= {"ingest_id": str(request.ingest_id), "tenant": request.tenant}
        log.info("upload received", extra=where)
        work = asyncio.create_task(self.handle(request))
        stopping = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait({work, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
        if not work.done():
            # the ingest runs in a thread that cannot be interrupted: leave it uncommitted, the
            # next owner of the partition redoes it (same event ids, same keys)
            log.warning("ingest abandoned on shutdown; it will be redelivered", extra=where)
            return False
        if work.exception() is not None:
            log.error("ingest not finished; retrying", exc_info=work.exception(), extra=where)
            self.consumer.seek(TopicPartition(message.topic, message.partition), message.offset)
            await _wait_or_stop(stop, RETRY_BACKOFF_S)
            return True
        await self._commit(message, where)
        return True

    async def _dead_letter(
        self, message: ConsumerRecord[bytes, bytes], reason: str, where: dict[str, Any]
    ) -> None:
        origin = f"{message.topic}/{message.partition}/{message.offset}"
        await dead_letter(
            self.producer, self.topics.dead_letter, message.value, message.key, reason, origin
        )
        await self._commit(message, where)

    async def _commit(self, message: ConsumerRecord[bytes, bytes], where: dict[str, Any]) -> None:
        try:
            await self.consumer.commit(
                {TopicPartition(message.topic, message.partition): message.offset + 1}
            )
        except CommitFailedError:
            log.warning("commit failed after a rebalance", extra=where)


async def _wait_or_stop(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
