"""One request at a time from a consumer group: decode it, run it, commit its offset after.
The next one is the oldest request waiting in the partitions the worker holds (`oldest_first`),
and the handler may be told of it while the current one runs (`anticipate`).

What a worker service (the compressor, the ingest) does with its requests topic. At-least-once:
the offset is committed only after the handler returned, i.e. after its terminal event was
acknowledged; a crash or SIGTERM mid-request leaves it uncommitted, so the group hands it out
again and the re-run emits the same event ids. A message that does not decode into a request
goes to the dead-letter topic with the reason, and the loop goes on. A handler that raises (its
terminal event could not be published) is retried after a pause.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.errors import CommitFailedError, IllegalStateError

from dicompress_infra.kafka import dead_letter
from dicompress_infra.metrics import ConsumerLag
from dicompress_infra.oldest_first import OldestFirst
from dicompress_infra.running import until_set
from dicompress_schemas import DecodeError

log = logging.getLogger(__name__)

RETRY_BACKOFF_S = 5.0
POLL_TIMEOUT_MS = 500
FETCH_MAX_RECORDS = 100  # requests are small (~1 KB): what waits in memory stays small
R = TypeVar("R")


class JoinTracker(ConsumerRebalanceListener):  # type: ignore[misc]  # aiokafka is untyped
    """Remembers that the consumer has joined its group (what /healthz reports)."""

    def __init__(self) -> None:
        self.joined = False

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        log.info("partitions revoked", extra={"partitions": _names(revoked)})

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        self.joined = True
        log.info("partitions assigned", extra={"partitions": _names(assigned)})


@dataclass
class RequestLoop(Generic[R]):
    """Consumes the requests topic (already subscribed by the caller) until `stop` is set.

    `decode` turns a message's value into a request or raises DecodeError (a message of another
    type included); `describe` gives the request's log fields; `handle` runs it to its end.
    `anticipate`, when given, is called with the request waiting next as each one starts: a
    hint only (it may never run here, or not next), for work without effects that the handler
    would otherwise do first, with the worker's encoders idle.
    """

    consumer: AIOKafkaConsumer
    producer: AIOKafkaProducer
    dead_letter_topic: str
    decode: Callable[[bytes], R]
    describe: Callable[[R], dict[str, Any]]
    handle: Callable[[R], Coroutine[Any, Any, object]]
    lag: ConsumerLag | None = None
    anticipate: Callable[[R], None] | None = None
    _waiting: OldestFirst[TopicPartition, ConsumerRecord[bytes, bytes]] = field(
        default_factory=OldestFirst, init=False
    )

    async def serve(self, stop: asyncio.Event) -> None:
        """Run one request at a time, the oldest waiting first; return once `stop` is set
        (abandoning a running one)."""
        while not stop.is_set():
            # wait for records only when none waits here; otherwise just pick up the fetched
            timeout_ms = 0 if len(self._waiting) else POLL_TIMEOUT_MS
            fetched = await self.consumer.getmany(
                timeout_ms=timeout_ms, max_records=FETCH_MAX_RECORDS
            )
            self._waiting.add(fetched)
            taken = self._waiting.take(self.consumer.assignment())
            if taken is None:
                continue
            self._hint_next()
            if not await self._one(taken[1], stop):
                return

    def _hint_next(self) -> None:
        upcoming = self._waiting.peek()
        if self.anticipate is None or upcoming is None:
            return
        try:
            request = self.decode(upcoming.value or b"")
        except DecodeError:
            return  # dead-lettered when its turn comes
        self.anticipate(request)

    async def _one(self, message: ConsumerRecord[bytes, bytes], stop: asyncio.Event) -> bool:
        """Process one message; False when `stop` interrupted it (nothing committed)."""
        where: dict[str, Any] = {
            "topic": message.topic,
            "partition": message.partition,
            "offset": message.offset,
        }
        try:
            request = self.decode(message.value or b"")
        except DecodeError as exc:
            await self._dead_letter(message, exc.reason, where)
            return True
        where |= self.describe(request)
        log.info("request received", extra=where)
        work = await until_set(stop, self.handle(request))
        if work.cancelled():  # stopping mid-request: abandoned, nothing committed
            log.warning("request abandoned on shutdown; it will be redelivered", extra=where)
            return False
        if work.exception() is not None:  # its terminal event could not be published
            log.error("request not finished; retrying", exc_info=work.exception(), extra=where)
            partition = TopicPartition(message.topic, message.partition)
            self._waiting.forget(partition)  # read again from the seek, with this one first
            self.consumer.seek(partition, message.offset)
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
            self.producer, self.dead_letter_topic, message.value, message.key, reason, origin
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
