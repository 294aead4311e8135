"""KafkaPublisher's connection and timeout logic, with a stand-in for the aiokafka producer."""

import asyncio
import uuid
from typing import Any

import pytest
from aiokafka.errors import KafkaConnectionError

from dicompress_api.adapters.kafka_publisher import KafkaPublisher
from dicompress_api.web.errors import PublishUnavailable
from dicompress_schemas import CompressionRequested, Lane, Topics
from dicompress_schemas.commands import CancelRequested, decode_command
from dicompress_schemas.histories import JobHistory


class StandInProducer:
    """Just the surface KafkaPublisher and aiokafka-discarding touch."""

    def __init__(self, *, reachable: bool, answers: bool) -> None:
        self.reachable, self.answers = reachable, answers
        self.sent: list[bytes] = []
        self.topics: list[str] = []
        self.failed_pending = False
        self._batches: dict[str, list[Any]] = {}
        self._pending_batches: set[Any] = set()
        self.stopped = False
        self._message_accumulator = self
        self._sender = self
        self.sender_task: asyncio.Task[None] | None = None
        self.client = self

    async def start(self) -> None:
        if not self.reachable:
            raise KafkaConnectionError("Unable to bootstrap")

    async def send_and_wait(self, topic: str, value: bytes, **_: Any) -> None:
        if not self.answers:
            await asyncio.Event().wait()
        self.sent.append(value)
        self.topics.append(topic)

    def fail_all(self, exception: Exception) -> None:
        self.failed_pending = True

    async def close(self) -> None: ...

    async def stop(self) -> None:
        self.stopped = True

    async def fetch_all_metadata(self) -> None: ...


def event() -> CompressionRequested:
    return JobHistory(tenant="acme").requested(
        100, source_uri="s3://dicompress-data/in", target_uri="s3://dicompress-data/out"
    )


async def wait_for(condition: Any, timeout_s: float = 5.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not condition():  # noqa: ASYNC110 - the stand-in has no event to wait on
            await asyncio.sleep(0.01)


async def test_unreachable_broker_starts_unready_and_times_out() -> None:
    made: list[StandInProducer] = []

    def factory(_: str) -> Any:
        made.append(StandInProducer(reachable=False, answers=True))
        return made[-1]

    publisher = KafkaPublisher("127.0.0.1:1", Topics(), timeout_s=0.3, producer_factory=factory)
    await publisher.start()
    try:
        assert (await publisher.problem() or "").startswith("kafka: not connected")
        with pytest.raises(PublishUnavailable, match=r"within 0.3 s"):
            await publisher.publish(event(), Lane.BATCH)
        await wait_for(lambda: len(made) >= 2)  # it keeps trying to connect
        assert all(p.stopped for p in made[:-1])
    finally:
        await publisher.close()


async def test_a_silent_broker_gets_its_producer_discarded_and_replaced() -> None:
    made: list[StandInProducer] = []

    def factory(_: str) -> Any:
        made.append(StandInProducer(reachable=True, answers=len(made) > 0))
        return made[-1]

    publisher = KafkaPublisher("kafka:9092", Topics(), timeout_s=0.3, producer_factory=factory)
    await publisher.start()
    try:
        with pytest.raises(PublishUnavailable):
            await publisher.publish(event(), Lane.BATCH)
        silent = made[0]
        assert silent.failed_pending  # what it held can never be delivered late
        await wait_for(lambda: silent.stopped and len(made) == 2)
        await publisher.publish(event(), Lane.BATCH)  # the replacement answers
        assert len(made[1].sent) == 1
        assert await publisher.problem() is None
    finally:
        await publisher.close()
    assert made[1].stopped


async def test_a_command_goes_to_the_control_topic_keyed_by_job() -> None:
    made: list[StandInProducer] = []

    def factory(_: str) -> Any:
        made.append(StandInProducer(reachable=True, answers=True))
        return made[-1]

    publisher = KafkaPublisher("kafka:9092", Topics(), timeout_s=1, producer_factory=factory)
    await publisher.start()
    command = CancelRequested(job_id=uuid.uuid4(), tenant="acme")
    try:
        await publisher.send_command(command)
    finally:
        await publisher.close()
    [sent] = made[0].sent
    assert decode_command(sent) == command
    assert made[0].topics == ["compression.control"]


async def test_a_job_goes_to_the_topic_of_its_lane() -> None:
    made: list[StandInProducer] = []

    def factory(_: str) -> Any:
        made.append(StandInProducer(reachable=True, answers=True))
        return made[-1]

    publisher = KafkaPublisher("kafka:9092", Topics("t."), timeout_s=1, producer_factory=factory)
    await publisher.start()
    try:
        await publisher.publish(event(), Lane.INTERACTIVE)
        await publisher.publish(event(), Lane.BATCH)
    finally:
        await publisher.close()
    assert made[0].topics == ["t.compression.interactive", "t.compression.requests"]
