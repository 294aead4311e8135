"""The log as a fault scenario reads it: every event appended to some topics after the tail
started, decoded, in arrival order. A scenario waits on these (the positive signals) and, with a
service frozen, reads the log to its end to know exactly what that service had done."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from faults_rig import wait_for

from dicompress_schemas import DecodeError, decode_event, decode_ingest_event


@dataclass
class LogTail:
    """Reads `topics` from their ends at `start()` on; `ingest_topics` hold ingest events, the
    others job events (requests and product requests included)."""

    bootstrap: str
    topics: list[str]
    ingest_topics: frozenset[str] = frozenset()
    events: list[Any] = field(default_factory=list)
    _next: dict[TopicPartition, int] = field(default_factory=dict)  # next offset to read
    _consumer: AIOKafkaConsumer | None = None
    _task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap, enable_auto_commit=False, fetch_max_wait_ms=20
        )
        await consumer.start()
        self._consumer = consumer
        consumer.subscribe(self.topics)  # no group: every partition, assigned from the metadata

        def assigned() -> bool:
            return {part.topic for part in consumer.assignment()} == set(self.topics)

        await wait_for(assigned, "the log tail's partitions", 30, 0.02)
        parts = list(consumer.assignment())
        for part, end in (await consumer.end_offsets(parts)).items():
            consumer.seek(part, end)
            self._next[part] = end
        self._task = asyncio.create_task(self._read(consumer))

    async def _read(self, consumer: AIOKafkaConsumer) -> None:
        async for message in consumer:
            decode = decode_ingest_event if message.topic in self.ingest_topics else decode_event
            with contextlib.suppress(DecodeError):
                self.events.append(decode(message.value or b""))
            self._next[TopicPartition(message.topic, message.partition)] = message.offset + 1

    async def caught_up(self, within_s: float = 30.0) -> None:
        """Until everything on the topics now has been read (with the writer frozen: all it
        wrote)."""
        assert self._consumer is not None
        ends = await self._consumer.end_offsets(list(self._next))

        def read_to_end() -> bool:
            if self._task is not None and self._task.done():
                self._task.result()  # the reader died: say why
            return all(self._next[part] >= end for part, end in ends.items())

        await wait_for(read_to_end, "the log tail to reach the end of its topics", within_s, 0.02)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._consumer is not None:
            await self._consumer.stop()
