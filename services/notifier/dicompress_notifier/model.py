"""`JobEvent`: an event as the notifier relays it, serialised once for every subscriber."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from dicompress_schemas import (
    EventBase,
    JobCancelled,
    JobCompleted,
    JobFailed,
    SliceEncoded,
    encode_event,
)

# A change-feed notification is the contract's `Change` (re-exported: the notifier's routing
# types live here).
from dicompress_schemas.changefeed import Change as Change

_TERMINAL = (JobCompleted, JobFailed, JobCancelled)


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
    # set for SliceEncoded only: what a coalesced `progress` frame carries instead of the event
    slice_index: int | None = None
    total_slices: int | None = None

    @property
    def is_slice(self) -> bool:
        """A per-slice update, which a slow client may get coalesced into a progress frame."""
        return self.slice_index is not None

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
            slice_index=event.slice_index if isinstance(event, SliceEncoded) else None,
            total_slices=event.total_slices if isinstance(event, SliceEncoded) else None,
        )
