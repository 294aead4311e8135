"""The replay's log reader: from the start to the end it saw, then onwards from there."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from dicompress_infra.kafka import make_producer
from dicompress_progress.errors import ProgressError
from dicompress_progress.logread import LogReader
from dicompress_progress.settings import ProgressSettings

pytestmark = pytest.mark.integration


async def test_reads_everything_once_in_partition_order_then_only_what_is_new(
    test_env: dict[str, str], settings_for: Callable[..., ProgressSettings]
) -> None:
    topics = settings_for(ProgressSettings).topics
    bootstrap = test_env["KAFKA_BOOTSTRAP_SERVERS"]
    producer = make_producer(bootstrap)
    await producer.start()
    reader = await LogReader.open(bootstrap, [topics.requests, topics.events])
    try:
        for n in range(40):
            topic = topics.events if n % 2 else topics.requests
            await producer.send(topic, f"{n}".encode(), key=f"job-{n % 5}".encode())
        await producer.flush()

        first = [m async for batch in reader.read_from(batch_max=7) for m in batch]
        assert sorted(int(m.value or b"") for m in first) == list(range(40))
        by_partition: dict[tuple[str, int], list[int]] = {}
        for m in first:
            by_partition.setdefault((m.topic, m.partition), []).append(m.offset)
        assert all(offsets == sorted(offsets) for offsets in by_partition.values())

        await producer.send_and_wait(topics.events, b"40", key=b"job-0")
        later = [m async for batch in reader.read_from(reader.ends) for m in batch]
        assert [m.value for m in later] == [b"40"]
    finally:
        await reader.close()
        await producer.stop()


async def test_a_missing_topic_is_named(test_env: dict[str, str]) -> None:
    with pytest.raises(ProgressError, match="no-such-topic"):
        await LogReader.open(test_env["KAFKA_BOOTSTRAP_SERVERS"], ["no-such-topic"])
