"""What the ingest service does with an upload, seen from outside: its events on the ingest
events topic, and the resident memory of its process (with any children) meanwhile."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from dataclasses import dataclass, field
from types import TracebackType

from aiokafka import AIOKafkaConsumer, TopicPartition
from bench.compare.procwatch import summed_rss, tree_members

from dicompress_infra.kafka import make_producer, publish
from dicompress_schemas import (
    ArchiveUploaded,
    IngestCompleted,
    IngestFailed,
    InstanceStored,
    MemberRejected,
    Topics,
    decode_ingest_event,
)
from dicompress_schemas.codec import DecodeError

SAMPLE_INTERVAL_S = 0.2


class RssSampler:
    """Context manager: every `interval_s`, the summed RSS of `pid` and its descendants, kept
    with the time (perf_counter) it was read, until it exits."""

    def __init__(self, pid: int, interval_s: float = SAMPLE_INTERVAL_S) -> None:
        self._pid = pid
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, name="ingest-rss", daemon=True)
        self.samples: list[tuple[float, int]] = []

    def now(self) -> int:
        return summed_rss(tree_members([self._pid]))

    def _poll(self) -> None:
        while True:
            self.samples.append((time.perf_counter(), self.now()))
            if self._stop.wait(self._interval_s):
                return

    @property
    def peak_bytes(self) -> int:
        return max((rss for _, rss in self.samples), default=0)

    def peak_between(self, start: float, end: float) -> int:
        """The largest sample taken in [start, end] (0 if none was)."""
        return max((rss for at, rss in self.samples if start <= at <= end), default=0)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()


@dataclass
class IngestSeen:
    """An ingest as read from the topic: its terminal event and when (perf_counter) each member
    event and the terminal one were read."""

    terminal: IngestCompleted | IngestFailed
    finished_at: float
    member_times: list[float] = field(default_factory=list)


class IngestTopics:
    """The ingest topics of a stack: `request` announces an upload, `until_terminal` reads the
    events topic from where it ended at `async with`, so whatever an ingest emits after that
    is seen."""

    def __init__(self, bootstrap: str, topics: Topics) -> None:
        self._topics = topics
        self._producer = make_producer(bootstrap)
        self._consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)

    async def __aenter__(self) -> IngestTopics:
        await self._producer.start()
        try:
            await self._consumer.start()
            topic = self._topics.ingest_events
            # the producer's metadata call waits for the topic's partitions (a new consumer
            # knows none until it subscribes)
            partitions = [
                TopicPartition(topic, p) for p in await self._producer.partitions_for(topic)
            ]
            self._consumer.assign(partitions)
            await self._consumer.seek_to_end(*partitions)
            for partition in partitions:  # resolve the end offsets now, before anything is sent
                await self._consumer.position(partition)
        except BaseException:
            await self._close()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self._close()

    async def _close(self) -> None:
        await self._consumer.stop()
        await self._producer.stop()

    async def request(self, request: ArchiveUploaded) -> None:
        """Publish `request` on the ingest requests topic (acknowledged by the broker)."""
        await publish(self._producer, self._topics.ingest_requests, request)

    async def until_terminal(self, ingest_id: uuid.UUID, timeout_s: float) -> IngestSeen:
        """Read until `ingest_id`'s IngestCompleted or IngestFailed; TimeoutError past
        `timeout_s`. Redelivered member events (a re-run) are counted once, by seq."""
        seen_seqs: set[int] = set()
        member_times: list[float] = []
        async with asyncio.timeout(timeout_s):
            async for message in self._consumer:
                try:
                    event = decode_ingest_event(message.value or b"")
                except DecodeError:
                    continue
                if event.ingest_id != ingest_id:
                    continue
                if isinstance(event, InstanceStored | MemberRejected):
                    if event.seq not in seen_seqs:
                        seen_seqs.add(event.seq)
                        member_times.append(time.perf_counter())
                elif isinstance(event, IngestCompleted | IngestFailed):
                    return IngestSeen(event, time.perf_counter(), member_times)
        raise RuntimeError("the ingest events topic ended")  # an assigned consumer never ends
