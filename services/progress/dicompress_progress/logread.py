"""Read topics from their first record to the end they had when reading began (for replay).

No consumer group: partitions are assigned directly, nothing is committed, and the live
worker's group is left alone. The end is fixed up front (`end_offsets`), so a replay reads a
well-defined prefix of the log even while producers keep writing; `read_from` then picks up
where a previous read stopped (replay's catch-up before the swap).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from dicompress_progress.errors import ProgressError
from dicompress_progress.handler import Message

Positions = dict[TopicPartition, int]


@dataclass
class LogReader:
    """A group-less consumer over `topics`; `positions` says how far it has read."""

    consumer: AIOKafkaConsumer
    partitions: list[TopicPartition]
    ends: Positions = field(default_factory=dict)  # where the last read_from stopped

    @classmethod
    async def open(cls, bootstrap: str, topics: Iterable[str]) -> LogReader:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_partition_fetch_bytes=4 * 1024 * 1024,
        )
        partitions = await _partitions(bootstrap, list(topics))
        await consumer.start()
        consumer.assign(partitions)
        return cls(consumer, partitions)

    async def close(self) -> None:
        await self.consumer.stop()

    async def read_from(
        self, start: Mapping[TopicPartition, int] | None = None, batch_max: int = 500
    ) -> AsyncIterator[list[Message]]:
        """Batches of messages (each batch from one partition, in offset order) from `start`
        (default: each partition's beginning) up to the current end of each partition."""
        consumer = self.consumer
        ends: Positions = await consumer.end_offsets(self.partitions)
        begins: Positions = await consumer.beginning_offsets(self.partitions)
        todo: Positions = {}
        for tp in self.partitions:
            position = max((start or {}).get(tp, begins[tp]), begins[tp])
            if position < ends[tp]:
                consumer.seek(tp, position)
                todo[tp] = ends[tp]
            else:
                consumer.pause(tp)
        while todo:
            fetched = await consumer.getmany(*todo, timeout_ms=1000, max_records=batch_max)
            for tp, records in fetched.items():
                end = todo.get(tp)
                if end is None:
                    continue
                wanted = [r for r in records if r.offset < end]
                if wanted:
                    yield [Message(r.topic, r.partition, r.offset, r.key, r.value) for r in wanted]
                if await consumer.position(tp) >= end:
                    consumer.pause(tp)
                    del todo[tp]
        consumer.resume(*self.partitions)
        self.ends = ends


async def _partitions(bootstrap: str, topics: list[str]) -> list[TopicPartition]:
    """Every partition of `topics` (the consumer has no public way to ask for them)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics(topics)
    finally:
        await admin.close()
    partitions: list[TopicPartition] = []
    for topic in described:
        if topic.get("error_code") or not topic.get("partitions"):
            raise ProgressError(f"topic {topic['topic']!r} does not exist; check TOPIC_PREFIX")
        numbers = sorted(p["partition"] for p in topic["partitions"])
        partitions.extend(TopicPartition(topic["topic"], n) for n in numbers)
    return partitions
