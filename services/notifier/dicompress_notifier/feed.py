"""`Feed`: the one consume loop of a notifier instance, from Kafka into the hub.

No consumer group: every partition of the requests and events topics is assigned by hand, so
every instance sees the whole stream and any instance can serve any client. At start each
partition is rewound to the first offset of the history window to warm the cache.
"""

from __future__ import annotations

import asyncio
import logging
import time

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from dicompress_notifier.errors import NotifierError
from dicompress_notifier.hub import Hub
from dicompress_notifier.model import JobEvent
from dicompress_schemas import DecodeError, decode_event

log = logging.getLogger(__name__)


class Feed:
    """Reads `topics` from `window_s` ago, then live; `ready` is set once it has caught up."""

    def __init__(
        self, bootstrap_servers: str, topics: list[str], window_s: float, hub: Hub
    ) -> None:
        self._bootstrap = bootstrap_servers
        self._topics = topics
        self._window_s = window_s
        self._hub = hub
        self.ready = asyncio.Event()

    async def run(self) -> None:
        """Consume until cancelled. Raises NotifierError when a topic does not exist."""
        partitions = await find_partitions(self._bootstrap, self._topics)
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self._bootstrap,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="latest",
        )
        await consumer.start()
        try:
            consumer.assign(partitions)
            warm_end = await self._rewind(consumer, partitions)
            while True:
                batches = await consumer.getmany(timeout_ms=500, max_records=500)
                for records in batches.values():
                    for record in records:
                        self._relay(record)
                if not self.ready.is_set() and await _reached(consumer, warm_end):
                    self.ready.set()
                    log.info("cache warm", extra={"jobs": len(self._hub.history)})
        finally:
            await consumer.stop()

    async def _rewind(
        self, consumer: AIOKafkaConsumer, partitions: list[TopicPartition]
    ) -> dict[TopicPartition, int]:
        """Seek each partition to the start of the window; return where 'caught up' is."""
        since_ms = int((time.time() - self._window_s) * 1000)
        starts = await consumer.offsets_for_times({tp: since_ms for tp in partitions})
        ends: dict[TopicPartition, int] = await consumer.end_offsets(partitions)
        for tp in partitions:
            found = starts.get(tp)
            consumer.seek(tp, found.offset if found is not None else ends[tp])
        return ends

    def _relay(self, record: ConsumerRecord[bytes, bytes]) -> None:
        where = {"topic": record.topic, "partition": record.partition, "offset": record.offset}
        try:
            event = decode_event(record.value or b"")
        except DecodeError as exc:
            # The group consumers of these topics (compressor, progress) dead-letter it; every
            # notifier instance re-reads the window at each start, so dead-lettering here
            # would park the same message many times.
            log.warning("skipped undecodable message", extra={**where, "reason": exc.reason})
            return
        log.debug(
            "relaying",
            extra={**where, "job_id": str(event.job_id), "event_type": type(event).__name__},
        )
        self._hub.publish(JobEvent.of(event))


async def _reached(consumer: AIOKafkaConsumer, ends: dict[TopicPartition, int]) -> bool:
    for tp, end in ends.items():
        if await consumer.position(tp) < end:
            return False
    return True


async def find_partitions(
    bootstrap_servers: str, topics: list[str], wait_s: float = 30
) -> list[TopicPartition]:
    """Every partition of `topics`, once each has a leader (fresh topics take a moment)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        async with asyncio.timeout(wait_s):
            while True:
                described = await admin.describe_topics(topics)
                found = [
                    TopicPartition(t["topic"], p["partition"])
                    for t in described
                    if t["error_code"] == 0
                    for p in t["partitions"]
                    if p["error_code"] == 0 and p["leader"] >= 0
                ]
                ready = {tp.topic for tp in found}
                if len(described) == len(topics) and ready == set(topics):
                    return sorted(found)
                await asyncio.sleep(0.5)
    except TimeoutError:
        raise NotifierError(
            f"topics {topics} not all available after {wait_s:.0f} s: create them first "
            "(dicompress up, or dicompress_infra.kafka.ensure_topics)"
        ) from None
    finally:
        await admin.close()
