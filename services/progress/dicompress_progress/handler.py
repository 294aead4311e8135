"""What the agent does with Kafka messages: decode, record (a batch in one transaction), retry,
or dead-letter each.

A batch is recorded in one transaction; if that fails because of some event's own content
(poison), the batch is recorded again one event at a time, so only the guilty event is
dead-lettered and the others still count. Messages from a command topic (control) are decoded
as commands, those from an ingest topic as ingest events (the study index), all others as job
events.

No faust and no database here: the store and the dead-letter sink come in as protocols, so the
whole decision (including the retry rule of `retry.py`) is unit-tested without I/O.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal, Protocol

from dicompress_progress.delivery import Delivered, Origin, Outcome
from dicompress_progress.retry import RetryPolicy, is_poison
from dicompress_schemas import (
    Command,
    DecodeError,
    Event,
    IngestEvent,
    IngestEventBase,
    InstanceStored,
    MemberRejected,
    SliceEncoded,
    SliceFailed,
    decode_command,
    decode_event,
    decode_ingest_event,
)

log = logging.getLogger(__name__)

DEAD_LETTERED: Final = "dead-lettered"
Result = Outcome | Literal["dead-lettered"]


@dataclass(frozen=True)
class Message:
    """The raw Kafka record, as the agent hands it over."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None

    @property
    def origin(self) -> Origin:
        return Origin(self.topic, self.partition, self.offset)


class EventStore(Protocol):
    async def record(self, batch: Sequence[Delivered]) -> list[Outcome]: ...


class DeadLetters(Protocol):
    async def send(self, message: Message, reason: str) -> None: ...


Decoded = Event | Command | IngestEvent


def decode_message(
    message: Message, command_topics: Collection[str], ingest_topics: Collection[str] = ()
) -> Decoded | str:
    """The event (on a command topic the command, on an ingest topic the ingest event) in
    `message`, or why it is not one."""
    if message.value is None:
        return "empty message (no value)"
    try:
        if message.topic in command_topics:
            return decode_command(message.value)
        if message.topic in ingest_topics:
            return decode_ingest_event(message.value)
        return decode_event(message.value)
    except DecodeError as exc:
        return exc.reason


class Projector:
    """Projects each message exactly once in effect; never drops one, never lets one stop it."""

    def __init__(
        self,
        store: EventStore,
        dead_letters: DeadLetters,
        policy: RetryPolicy,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        command_topics: Collection[str] = (),
        ingest_topics: Collection[str] = (),
    ) -> None:
        self._store = store
        self._dead_letters = dead_letters
        self._policy = policy
        self._sleep = sleep
        self._command_topics = frozenset(command_topics)
        self._ingest_topics = frozenset(ingest_topics)

    async def handle(self, message: Message) -> Result:
        """Decode and record `message`; dead-letter it if it is not an event or can never be
        applied. Returns only when done (retrying meanwhile); raises only CancelledError."""
        (result,) = await self.handle_batch([message])
        return result

    async def handle_batch(self, messages: Sequence[Message]) -> list[Result]:
        """`handle` for several messages, recorded in one transaction; results in order."""
        results: dict[int, Result] = {}
        decoded: list[tuple[int, Message, Delivered]] = []
        undecodable: list[tuple[int, Message, str]] = []
        for i, message in enumerate(messages):
            item = decode_message(message, self._command_topics, self._ingest_topics)
            if isinstance(item, str):
                undecodable.append((i, message, item))
            else:
                decoded.append((i, message, Delivered(item, message.origin)))
        if len(decoded) == 1:
            ((i, message, delivered),) = decoded
            results[i] = await self._record_one(message, delivered)
        elif decoded:
            results.update(await self._record_many(decoded))
        # After recording: once a message is dead-lettered, what came before it is recorded.
        for i, message, reason in undecodable:
            await self._dead_letter(message, reason, None)
            results[i] = DEAD_LETTERED
        return [results[i] for i in range(len(messages))]

    async def _record_many(
        self, decoded: list[tuple[int, Message, Delivered]]
    ) -> dict[int, Result]:
        attempt = 0
        while True:
            attempt += 1
            try:
                outcomes = await self._store.record([delivered for _, _, delivered in decoded])
            except Exception as exc:
                if not is_poison(exc):
                    first = decoded[0][1]
                    what = f"recording a batch of {len(decoded)} events failed"
                    await self._pause(attempt, exc, first, None, what)
                    continue
                # Some event of the batch can never be applied: one at a time finds which.
                log.warning(
                    "a batch was refused; recording its events one by one",
                    extra={"size": len(decoded), "error": f"{type(exc).__name__}: {exc}"},
                )
                return {i: await self._record_one(m, d) for i, m, d in decoded}
            for (_, message, delivered), outcome in zip(decoded, outcomes, strict=True):
                _log_outcome(outcome, message, delivered.event)
            return {i: outcome for (i, _, _), outcome in zip(decoded, outcomes, strict=True)}

    async def _record_one(self, message: Message, delivered: Delivered) -> Result:
        attempt = 0
        while True:
            attempt += 1
            try:
                (outcome,) = await self._store.record([delivered])
            except Exception as exc:
                if self._policy.gives_up(exc, attempt):
                    reason = f"cannot be applied: {type(exc).__name__}: {exc}"
                    await self._dead_letter(message, reason, delivered.event)
                    return DEAD_LETTERED
                await self._pause(
                    attempt, exc, message, delivered.event, "recording the event failed"
                )
                continue
            _log_outcome(outcome, message, delivered.event)
            return outcome

    async def _dead_letter(self, message: Message, reason: str, event: Decoded | None) -> None:
        attempt = 0
        while True:
            attempt += 1
            try:
                await self._dead_letters.send(message, reason)
            except Exception as exc:
                # Kafka is down or refuses: the message must not be dropped, so keep trying.
                await self._pause(attempt, exc, message, event, "dead-lettering failed")
                continue
            log.warning(
                "dead-lettered message", extra={**_fields(message, event), "reason": reason}
            )
            return

    async def _pause(
        self,
        attempt: int,
        exc: Exception,
        message: Message,
        event: Decoded | None,
        what: str,
    ) -> None:
        delay = self._policy.delay_s(attempt)
        log.error(
            f"{what}; retrying in {delay:.1f} s",
            exc_info=exc,
            extra={**_fields(message, event), "attempt": attempt, "retry_in_s": delay},
        )
        await self._sleep(delay)


def _log_outcome(outcome: Outcome, message: Message, event: Decoded) -> None:
    # Slices are most of the traffic and logged at DEBUG: skip building their fields at all
    # unless DEBUG is on (this runs once per event, in the worker's hot path).
    slice_event = isinstance(event, SliceEncoded | SliceFailed | InstanceStored | MemberRejected)
    level = logging.DEBUG if slice_event else logging.INFO
    if outcome is Outcome.APPLIED and not log.isEnabledFor(level):
        return
    fields = {**_fields(message, event), "outcome": outcome.value}
    if isinstance(event, Command):
        log.info(f"command {outcome.value}", extra=fields)
    elif outcome is Outcome.APPLIED:
        log.log(level, "event applied", extra=fields)
    elif outcome is Outcome.DUPLICATE:
        log.info("event already recorded; ignored (redelivery or replay)", extra=fields)
    elif outcome is Outcome.LATE:
        log.warning(
            "transition refused: event after the job or ingest ended; recorded, row left as it was",
            extra=fields,
        )
    else:
        log.warning(
            "another event already holds this seq (another attempt?); ignored", extra=fields
        )


def _fields(message: Message, event: Decoded | None) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "topic": message.topic,
        "partition": message.partition,
        "offset": message.offset,
    }
    if isinstance(event, Command):
        fields.update(job_id=str(event.job_id), event_type=event.type)
    elif isinstance(event, IngestEventBase):
        fields.update(ingest_id=str(event.ingest_id), event_type=event.type, seq=event.seq)
    elif event is not None:
        fields.update(job_id=str(event.job_id), event_type=event.type, seq=event.seq)
    elif message.key is not None:
        # Producers key by job id (ingest producers by ingest id), so the key still says what a
        # broken message was about.
        fields["job_id"] = message.key.decode("utf-8", "replace")[:64]
    return fields
