"""What the worker does with one message, with the store and the dead-letter sink faked."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import asyncpg
import pytest

from dicompress_progress.errors import ProjectionError
from dicompress_progress.handler import DEAD_LETTERED, Message, Projector
from dicompress_progress.retry import RetryPolicy
from dicompress_progress.store import Delivered, Origin, Outcome
from dicompress_schemas import CancelRequested, JobStarted, encode_command, encode_event
from dicompress_schemas.histories import JobHistory
from dicompress_schemas.histories.ingests import IngestHistory

JOB = uuid.UUID("00000000-0000-4000-8000-000000000002")
STARTED = JobHistory(JOB, "acme").started(total=2)


class FakeStore:
    """Fails with the queued exceptions first, then answers `outcome`."""

    def __init__(self, failures: Sequence[Exception] = (), outcome: Outcome = Outcome.APPLIED):
        self.failures = list(failures)
        self.outcome = outcome
        self.batches: list[list[Delivered]] = []

    async def record(self, batch: Sequence[Delivered]) -> list[Outcome]:
        self.batches.append(list(batch))
        if self.failures:
            raise self.failures.pop(0)
        return [self.outcome for _ in batch]


class FakeDeadLetters:
    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.sent: list[tuple[Message, str]] = []

    async def send(self, message: Message, reason: str) -> None:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("broker down")
        self.sent.append((message, reason))


class Sleeps:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


def message(value: bytes | None) -> Message:
    return Message("p.compression.events", 2, 41, str(JOB).encode(), value)


def projector(
    store: FakeStore, dead: FakeDeadLetters, sleeps: Sleeps, poison_attempts: int = 3
) -> Projector:
    policy = RetryPolicy(base_s=1.0, cap_s=8.0, poison_attempts=poison_attempts)
    return Projector(store, dead, policy, sleep=sleeps)


async def test_event_is_recorded_with_its_origin() -> None:
    store, dead, sleeps = FakeStore(), FakeDeadLetters(), Sleeps()
    result = await projector(store, dead, sleeps).handle(message(encode_event(STARTED)))
    assert result is Outcome.APPLIED
    assert store.batches == [[Delivered(STARTED, Origin("p.compression.events", 2, 41))]]
    assert dead.sent == []
    assert sleeps.delays == []


async def test_duplicate_is_reported_not_dead_lettered() -> None:
    store, dead = FakeStore(outcome=Outcome.DUPLICATE), FakeDeadLetters()
    result = await projector(store, dead, Sleeps()).handle(message(encode_event(STARTED)))
    assert result is Outcome.DUPLICATE
    assert dead.sent == []


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"\x00garbage", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b'{"type": "JobStarted"}', "not a valid event"),
        (None, "empty message"),
    ],
)
async def test_undecodable_message_goes_to_dead_letter_with_reason(
    value: bytes | None, reason: str
) -> None:
    store, dead = FakeStore(), FakeDeadLetters()
    result = await projector(store, dead, Sleeps()).handle(message(value))
    assert result == DEAD_LETTERED
    assert store.batches == []
    ((sent, why),) = dead.sent
    assert sent.value == value
    assert sent.offset == 41
    assert reason in why


async def test_transient_failures_are_retried_with_backoff_until_success() -> None:
    failures = [
        ConnectionResetError("reset"),
        asyncpg.exceptions.AdminShutdownError("restart"),
        TimeoutError(),
        asyncpg.exceptions.SerializationError("retry"),
        ConnectionRefusedError(),
    ]
    store, dead, sleeps = FakeStore(failures), FakeDeadLetters(), Sleeps()
    result = await projector(store, dead, sleeps).handle(message(encode_event(STARTED)))
    assert result is Outcome.APPLIED
    assert len(store.batches) == 6  # never skipped, never dead-lettered
    assert dead.sent == []
    assert sleeps.delays == [1.0, 2.0, 4.0, 8.0, 8.0]


async def test_poison_event_is_dead_lettered_after_the_allowed_attempts() -> None:
    failures = [ProjectionError("job belongs to tenant 'a'")] * 5
    store, dead, sleeps = FakeStore(failures), FakeDeadLetters(), Sleeps()
    result = await projector(store, dead, sleeps, poison_attempts=3).handle(
        message(encode_event(STARTED))
    )
    assert result == DEAD_LETTERED
    assert len(store.batches) == 3
    assert sleeps.delays == [1.0, 2.0]
    ((_, reason),) = dead.sent
    assert reason.startswith("cannot be applied: ProjectionError")


async def test_a_fluke_poison_error_then_success_is_not_dead_lettered() -> None:
    store = FakeStore([asyncpg.exceptions.CheckViolationError("once")])
    dead = FakeDeadLetters()
    result = await projector(store, dead, Sleeps()).handle(message(encode_event(STARTED)))
    assert result is Outcome.APPLIED
    assert dead.sent == []


async def test_dead_lettering_is_retried_while_kafka_is_down() -> None:
    store, dead, sleeps = FakeStore(), FakeDeadLetters(failures=2), Sleeps()
    result = await projector(store, dead, sleeps).handle(message(b"nope"))
    assert result == DEAD_LETTERED
    assert len(dead.sent) == 1
    assert sleeps.delays == [1.0, 2.0]


def event_message(event: JobStarted, offset: int) -> Message:
    return Message("p.compression.events", 0, offset, None, encode_event(event))


def started_at_seq(seq: int) -> JobStarted:
    return JobHistory(JOB, "acme").started(total=2, seq=seq)


async def test_a_batch_is_recorded_in_one_call_and_garbage_is_dead_lettered_apart() -> None:
    store, dead = FakeStore(), FakeDeadLetters()
    messages = [event_message(started_at_seq(s), s) for s in (1, 2)]
    messages.insert(1, message(b"garbage"))
    results = await projector(store, dead, Sleeps()).handle_batch(messages)
    assert results == [Outcome.APPLIED, DEAD_LETTERED, Outcome.APPLIED]
    assert [[d.event.seq for d in b] for b in store.batches] == [[1, 2]]  # type: ignore[union-attr]
    assert [m.value for m, _ in dead.sent] == [b"garbage"]


class PoisonStore(FakeStore):
    """Refuses any batch holding the event with seq `poison`, as Postgres would."""

    def __init__(self, poison: int) -> None:
        super().__init__()
        self.poison = poison

    async def record(self, batch: Sequence[Delivered]) -> list[Outcome]:
        self.batches.append(list(batch))
        if any(getattr(d.event, "seq", None) == self.poison for d in batch):
            raise ProjectionError("another tenant")
        return [Outcome.APPLIED for _ in batch]


async def test_a_refused_batch_is_retried_one_by_one_and_only_the_guilty_event_is_parked() -> None:
    store, dead, sleeps = PoisonStore(poison=2), FakeDeadLetters(), Sleeps()
    messages = [event_message(started_at_seq(s), s) for s in (1, 2, 3)]
    results = await projector(store, dead, sleeps, poison_attempts=2).handle_batch(messages)
    assert results == [Outcome.APPLIED, DEAD_LETTERED, Outcome.APPLIED]
    ((parked, reason),) = dead.sent
    assert parked.offset == 2
    assert reason.startswith("cannot be applied: ProjectionError")


async def test_a_transient_batch_failure_retries_the_whole_batch() -> None:
    store, sleeps = FakeStore([ConnectionResetError("reset")]), Sleeps()
    messages = [event_message(started_at_seq(s), s) for s in (1, 2)]
    results = await projector(store, FakeDeadLetters(), sleeps).handle_batch(messages)
    assert results == [Outcome.APPLIED, Outcome.APPLIED]
    assert [len(b) for b in store.batches] == [2, 2]
    assert sleeps.delays == [1.0]


async def test_a_message_of_a_command_topic_is_decoded_as_a_command() -> None:
    store, dead = FakeStore(), FakeDeadLetters()
    command = CancelRequested(job_id=JOB, tenant="acme")
    policy = RetryPolicy(base_s=1.0, cap_s=8.0)
    handler = Projector(store, dead, policy, sleep=Sleeps(), command_topics=["p.control"])
    on_control = Message("p.control", 0, 5, None, encode_command(command))
    on_events = Message("p.compression.events", 0, 6, None, encode_command(command))
    assert await handler.handle(on_control) is Outcome.APPLIED
    assert await handler.handle(on_events) == DEAD_LETTERED  # not an event
    assert store.batches == [[Delivered(command, Origin("p.control", 0, 5))]]


async def test_a_message_of_an_ingest_topic_is_decoded_as_an_ingest_event() -> None:
    store, dead = FakeStore(), FakeDeadLetters()
    history = IngestHistory()
    stored = history.image(z=0.0, number=1)
    policy = RetryPolicy(base_s=1.0, cap_s=8.0)
    handler = Projector(store, dead, policy, sleep=Sleeps(), ingest_topics=["p.ingest.events"])
    on_ingest = Message("p.ingest.events", 1, 7, None, encode_event(stored))
    on_jobs = Message("p.compression.events", 1, 8, None, encode_event(stored))
    garbage = Message("p.ingest.events", 1, 9, None, b"{}")
    results = await handler.handle_batch([on_ingest, on_jobs, garbage])
    assert results == [Outcome.APPLIED, DEAD_LETTERED, DEAD_LETTERED]
    assert store.batches == [[Delivered(stored, Origin("p.ingest.events", 1, 7))]]
    assert [reason.split(":")[0] for _, reason in dead.sent] == [
        "not a valid event",
        "not a valid event",
    ]
