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
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer

from dicompress_infra.kafka import make_producer
from dicompress_notifier.feed import find_partitions
from dicompress_schemas import (
    CompressionRequested,
    Event,
    JobCompleted,
    JobStarted,
    SliceEncoded,
    Topics,
    encode_event,
    event_key,
    new_event_id,
)

TENANT = "bench"


def make_event(job: uuid.UUID, seq: int, slices: int) -> Event:
    """Event `seq` of a job of `slices` slices, stamped now: 0 requested, 1 started, then the
    slices, then the completion."""
    ids: dict[str, Any] = {
        "event_id": new_event_id(job, seq),
        "job_id": job,
        "tenant": TENANT,
        "seq": seq,
    }
    if seq == 0:
        return CompressionRequested(
            **ids,
            source_uri="s3://in-b/series/",
            target_uri="s3://out-b/zips/",
            compression_rate=20,
        )
    if seq == 1:
        return JobStarted(**ids, total_slices=slices, total_bytes=slices * 525_000, worker="c-1")
    if seq < slices + 2:
        i = seq - 2
        return SliceEncoded(
            **ids,
            slice_index=i,
            total_slices=slices,
            source_key=f"series/{i}.dcm",
            entry_name=f"{i:04d}.dcm",
            bytes_in=525_000,
            bytes_out=5_300,
            ratio=99.1,
            encode_ms=45.0,
            slice_key=f"zips/{job}/{i:04d}.dcm",
            sop_instance_uid=f"1.2.826.0.1.{i}",
            psnr_db=42.5,
            max_abs_error=60,
        )
    return JobCompleted(
        **ids,
        slices_encoded=slices,
        slices_failed=0,
        bytes_in=slices * 525_000,
        bytes_out=slices * 5_300,
        ratio=99.0,
        artifact_uri=f"s3://out-b/zips/{job}.zip",
        artifact_bytes=slices * 5_400,
        download_ms=900,
        encode_ms=slices * 45.0,
        upload_ms=300,
        wall_ms=slices * 25.0,
    )


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
    try:
        started = loop.time()
        n = 0
        for seq in range(slices + 3):
            for job in jobs:
                delay = started + n / rate - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                event = make_event(job, seq, slices)
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
