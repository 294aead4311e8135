"""`JobEvent`: an event as the notifier relays it, serialised once for every subscriber."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from dicompress_schemas import EventBase, JobCancelled, JobCompleted, JobFailed, encode_event

_TERMINAL = (JobCompleted, JobFailed, JobCancelled)
TERMINAL_TYPES = frozenset(cls.__name__ for cls in _TERMINAL)


@dataclass(frozen=True, slots=True)
class JobEvent:
    """One decoded event, reduced to what routing needs plus its JSON body.

    The body is encoded once here and spliced into every subscriber's frame, so a broadcast to
    many clients costs no re-serialisation.
    """

    job_id: uuid.UUID
    seq: int
    tenant: str
    type: str
    terminal: bool
    occurred_at: datetime
    body: bytes

    @classmethod
    def of(cls, event: EventBase) -> JobEvent:
        """Wrap a decoded event (from Kafka or from the projection)."""
        return cls(
            job_id=event.job_id,
            seq=event.seq,
            tenant=event.tenant,
            type=type(event).__name__,
            terminal=isinstance(event, _TERMINAL),
            occurred_at=event.occurred_at,
            body=encode_event(event),
        )
