"""Load for the notifier benchmark: one job's events, published at a steady rate, and a plain
Kafka consumer beside the notifier that times the same events (Kafka's share of the latency).

Every event is stamped (`occurred_at`) right before it goes to the producer; the clients and
the probe compute latency from that stamp (same machine, same clock).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from datetime import datetime

import orjson
from aiokafka import AIOKafkaConsumer

from dicompress_infra.kafka import make_producer
from dicompress_notifier.feed import find_partitions
from dicompress_schemas import CompressionRequested, Event, Topics, encode_event, event_key
from dicompress_schemas.envelope import utc_now
from dicompress_schemas.histories import JobHistory

TENANT = "bench"


def make_event(history: JobHistory, seq: int) -> Event:
    """Event `seq` of the job `history` follows, stamped now: 0 requested, 1 started, then the
    slices (the golden example's 512x512 CT slice), then the completion."""
    now = utc_now()
    if seq == 0:
        return history.requested(20, at=now)
    if seq == 1:
        return history.started(at=now, worker="c-1")
    if seq < history.total + 2:
        return history.encoded(seq - 2, at=now)
    return history.completed(at=now)  # the sums of the slices handed out


@dataclass(frozen=True)
class Published:
    events: int
    seconds: float
    kafka_latencies_ms: list[float]  # publish -> a plain consumer in this process


class KafkaProbe:
    """A plain consumer of the same topics, beside the notifier: how much of the latency is
    Kafka's own (producer linger, acks=all, fetch) rather than the notifier's."""

    def __init__(self, bootstrap: str, topics: Topics) -> None:
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False
        )
        self._bootstrap = bootstrap
        self._topics = [topics.requests, topics.events]
        self.latencies_ms: list[float] = []

    async def start(self) -> None:
        """Assigned at the end of every partition, before anything is published."""
        partitions = await find_partitions(self._bootstrap, self._topics)
        await self._consumer.start()
        self._consumer.assign(partitions)
        await self._consumer.seek_to_end(*partitions)
        for tp in partitions:
            await self._consumer.position(tp)  # resolve the end offset now, not lazily

    async def run(self, expected: int) -> None:
        """Record the latency of `expected` events, then stop."""
        try:
            while len(self.latencies_ms) < expected:
                batches = await self._consumer.getmany(timeout_ms=200)
                arrived = time.time()
                for records in batches.values():
                    for record in records:
                        sent = orjson.loads(record.value or b"{}").get("occurred_at")
                        if isinstance(sent, str):
                            stamp = datetime.fromisoformat(sent).timestamp()
                            self.latencies_ms.append((arrived - stamp) * 1000.0)
        finally:
            await self._consumer.stop()


async def publish_paced(
    bootstrap: str, topics: Topics, jobs: list[uuid.UUID], slices: int, rate: float
) -> Published:
    """Every event of every job, interleaved across jobs, at `rate` events/s; returns once the
    broker has acknowledged them all."""
    probe = KafkaProbe(bootstrap, topics)
    await probe.start()
    probing = asyncio.create_task(probe.run(len(jobs) * (slices + 3)))
    producer = make_producer(bootstrap)
    await producer.start()
    loop = asyncio.get_running_loop()
    acks = []
    histories = {job: JobHistory(job, TENANT, total=slices) for job in jobs}
    try:
        started = loop.time()
        n = 0
        for seq in range(slices + 3):
            for job in jobs:
                delay = started + n / rate - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                event = make_event(histories[job], seq)
                topic = (
                    topics.requests if isinstance(event, CompressionRequested) else topics.events
                )
                acks.append(
                    await producer.send(
                        topic,
                        encode_event(event),
                        key=event_key(event),
                        headers=[("type", type(event).__name__.encode())],
                    )
                )
                n += 1
        await asyncio.gather(*acks)
        seconds = loop.time() - started
        try:
            async with asyncio.timeout(30):
                await probing
        except TimeoutError:
            pass  # figures from what came
        return Published(n, seconds, probe.latencies_ms)
    finally:
        probing.cancel()
        await producer.stop()
