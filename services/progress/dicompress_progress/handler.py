"""What the agent does with one Kafka message: decode it, record it, retry, or dead-letter it.

No faust and no database here: the store and the dead-letter sink come in as protocols, so the
whole decision (including the retry rule of `retry.py`) is unit-tested without I/O.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal, Protocol

from dicompress_progress.retry import RetryPolicy
from dicompress_progress.store import Delivered, Origin, Outcome
from dicompress_schemas import DecodeError, Event, SliceEncoded, SliceFailed, decode_event

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


class Projector:
    """Projects each message exactly once in effect; never drops one, never lets one stop it."""

    def __init__(
        self,
        store: EventStore,
        dead_letters: DeadLetters,
        policy: RetryPolicy,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._store = store
        self._dead_letters = dead_letters
        self._policy = policy
        self._sleep = sleep

    async def handle(self, message: Message) -> Result:
        """Decode and record `message`; dead-letter it if it is not an event or can never be
        applied. Returns only when done (retrying meanwhile); raises only CancelledError."""
        if message.value is None:
            await self._dead_letter(message, "empty message (no value)", None)
            return DEAD_LETTERED
        try:
            event = decode_event(message.value)
        except DecodeError as exc:
            await self._dead_letter(message, exc.reason, None)
            return DEAD_LETTERED
        attempt = 0
        while True:
            attempt += 1
            try:
                (outcome,) = await self._store.record([Delivered(event, message.origin)])
            except Exception as exc:
                if self._policy.gives_up(exc, attempt):
                    reason = f"cannot be applied: {type(exc).__name__}: {exc}"
                    await self._dead_letter(message, reason, event)
                    return DEAD_LETTERED
                await self._pause(attempt, exc, message, event, "recording the event failed")
                continue
            _log_outcome(outcome, message, event)
            return outcome

    async def _dead_letter(self, message: Message, reason: str, event: Event | None) -> None:
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
        self, attempt: int, exc: Exception, message: Message, event: Event | None, what: str
    ) -> None:
        delay = self._policy.delay_s(attempt)
        log.error(
            f"{what}; retrying in {delay:.1f} s",
            exc_info=exc,
            extra={**_fields(message, event), "attempt": attempt, "retry_in_s": delay},
        )
        await self._sleep(delay)


def _log_outcome(outcome: Outcome, message: Message, event: Event) -> None:
    fields = {**_fields(message, event), "outcome": outcome.value}
    if outcome is Outcome.APPLIED:
        # Slices are most of the traffic; job-level events are worth INFO.
        slice_event = isinstance(event, SliceEncoded | SliceFailed)
        log.log(logging.DEBUG if slice_event else logging.INFO, "event applied", extra=fields)
    elif outcome is Outcome.DUPLICATE:
        log.info("event already recorded; ignored (redelivery or replay)", extra=fields)
    elif outcome is Outcome.LATE:
        log.warning("event after the job ended; recorded, job left as it was", extra=fields)
    else:
        log.warning(
            "another event already holds this job/seq (another attempt?); ignored", extra=fields
        )


def _fields(message: Message, event: Event | None) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "topic": message.topic,
        "partition": message.partition,
        "offset": message.offset,
    }
    if event is not None:
        fields.update(job_id=str(event.job_id), event_type=event.type, seq=event.seq)
    elif message.key is not None:
        # Producers key by job id, so the key still says which job a broken message was about.
        fields["job_id"] = message.key.decode("utf-8", "replace")[:64]
    return fields
