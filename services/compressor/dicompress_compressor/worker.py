"""The Kafka side: take one CompressionRequested at a time from the group, run it, commit.

At-least-once: a request's offset is committed only after its terminal event was acknowledged.
A crash or SIGTERM mid-job leaves it uncommitted, so the group hands it out again; the re-run
emits the same deterministic event ids and consumers drop the duplicates. A message that is
not a CompressionRequested goes to the dead-letter topic with the reason, and the loop goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.errors import CommitFailedError, IllegalStateError

from dicompress_compressor.job import JobRunner
from dicompress_infra.kafka import dead_letter
from dicompress_infra.metrics import ConsumerLag
from dicompress_schemas import CompressionRequested, DecodeError, Topics, decode_event

log = logging.getLogger(__name__)

RETRY_BACKOFF_S = 5.0
POLL_TIMEOUT_MS = 500


class JoinTracker(ConsumerRebalanceListener):  # type: ignore[misc]  # aiokafka is untyped
    """Remembers that the consumer has joined its group (what /healthz reports)."""

    def __init__(self) -> None:
        self.joined = False

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        log.info("partitions revoked", extra={"partitions": _names(revoked)})

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        self.joined = True
        log.info("partitions assigned", extra={"partitions": _names(assigned)})


class Worker:
    """Consumes the requests topic (already subscribed by the caller) until `stop` is set."""

    def __init__(
        self,
        consumer: AIOKafkaConsumer,
        producer: AIOKafkaProducer,
        runner: JobRunner,
        topics: Topics,
        lag: ConsumerLag | None = None,
    ) -> None:
        self.consumer = consumer
        self.producer = producer
        self.runner = runner
        self.topics = topics
        self.lag = lag

    async def serve(self, stop: asyncio.Event) -> None:
        """Poll one message at a time; return once `stop` is set (abandoning a running job)."""
        while not stop.is_set():
            batch = await self.consumer.getmany(timeout_ms=POLL_TIMEOUT_MS, max_records=1)
            for messages in batch.values():
                for message in messages:
                    if not await self._handle(message, stop):
                        return

    async def _handle(self, message: ConsumerRecord[bytes, bytes], stop: asyncio.Event) -> bool:
        """Process one message; False when `stop` interrupted it (nothing committed)."""
        where: dict[str, Any] = {
            "topic": message.topic,
            "partition": message.partition,
            "offset": message.offset,
        }
        try:
            event = decode_event(message.value or b"")
        except DecodeError as exc:
            await self._dead_letter(message, exc.reason, where)
            return True
        if not isinstance(event, CompressionRequested):
            reason = f"{event.type} does not belong on the requests topic"
            await self._dead_letter(message, reason, {**where, "job_id": str(event.job_id)})
            return True
        where = {**where, "job_id": str(event.job_id), "event_type": event.type}
        log.info("request received", extra=where)
        job = asyncio.create_task(self.runner.run(event))
        stopping = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait({job, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
            if not job.done():  # stopping (or cancelled) mid-job: abandon it, commit nothing
                job.cancel()
                await asyncio.gather(job, return_exceptions=True)
                log.warning("job abandoned on shutdown; it will be redelivered", extra=where)
        if job.cancelled():
            return False
        if job.exception() is not None:  # its terminal event could not be published
            log.error("job not acknowledged; retrying", exc_info=job.exception(), extra=where)
            self.consumer.seek(TopicPartition(message.topic, message.partition), message.offset)
            await _wait_or_stop(stop, RETRY_BACKOFF_S)
            return True
        await self._commit(message, where)
        return True

    async def _dead_letter(
        self, message: ConsumerRecord[bytes, bytes], reason: str, where: dict[str, Any]
    ) -> None:
        origin = f"{message.topic}/{message.partition}/{message.offset}"
        log.warning("request dead-lettered", extra={**where, "reason": reason})
        await dead_letter(
            self.producer, self.topics.dead_letter, message.value, message.key, reason, origin
        )
        await self._commit(message, where)

    async def _commit(self, message: ConsumerRecord[bytes, bytes], where: dict[str, Any]) -> None:
        partition = TopicPartition(message.topic, message.partition)
        try:
            await self.consumer.commit({partition: message.offset + 1})
        except (CommitFailedError, IllegalStateError):
            # the partition moved to another member meanwhile (CommitFailedError while the group
            # rebalances, IllegalStateError once it has): it will redo the request, and
            # consumers dedup its events by id
            log.warning("commit failed after a rebalance", extra=where)
            return
        if self.lag is not None:
            self.lag.done(message.topic, message.partition, message.offset)


def _names(partitions: set[TopicPartition]) -> list[str]:
    return sorted(f"{p.topic}/{p.partition}" for p in partitions)


async def _wait_or_stop(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
