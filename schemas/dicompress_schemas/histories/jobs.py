"""A compression job's history for tests and benchmarks, built on the golden examples.

    h = JobHistory(tenant="acme")
    h.requested(rate=10); h.started(total=3); h.slice(0); h.slice(1, failed=True); h.completed()
    h.events  # the five events, in the order they were built

Each event is the golden example of its type (its current version) with the envelope filled in
as the compressor fills it: `job_id`, `tenant`, `seq` (requested 0, started 1, slice i at 2+i,
the terminal event after the last), `event_id` from the contract's `new_event_id(job, seq,
attempt)` and `occurred_at` from the history's clock. Keyword arguments replace any field
(`seq`, `attempt`, `event_id` included); `at=` sets the time, as a datetime or as seconds after
the history's start. The same call gives the same event, so a test can build a redelivery.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any, cast

from dicompress_schemas.codec import decode_event
from dicompress_schemas.envelope import Codec, new_event_id
from dicompress_schemas.events import (
    CompressionRequested,
    Event,
    EventBase,
    JobCancelled,
    JobCompleted,
    JobFailed,
    JobStarted,
    SliceEncoded,
    SliceFailed,
)
from dicompress_schemas.golden import example
from dicompress_schemas.histories.base import History, M, Moment

FIRST_SLICE_SEQ = 2  # requested 0, started 1


class JobHistory(History):
    """The events of one compression job, in the order a test hands them out."""

    def __init__(
        self,
        job_id: uuid.UUID | None = None,
        tenant: str | None = None,
        *,
        start: datetime | None = None,
        step: timedelta = timedelta(milliseconds=100),
        attempt: int = 1,
        total: int | None = None,
    ) -> None:
        golden = example("CompressionRequested")
        super().__init__(
            "job_id",
            job_id or uuid.uuid4(),
            tenant or golden["tenant"],
            start or datetime.fromisoformat(golden["occurred_at"]),
            step,
        )
        self.attempt = attempt
        self.total: int = example("JobStarted")["total_slices"] if total is None else total
        self.events: list[Event] = []
        self.next_seq = 0

    @property
    def job_id(self) -> uuid.UUID:
        return self.stream_id

    def requested(
        self,
        rate: float | None = None,
        *,
        at: Moment | None = None,
        bare: bool = False,
        **fields: Any,
    ) -> CompressionRequested:
        """CompressionRequested (seq 0) at `rate`; a lossless `codec` takes no rate. `bare`: the
        model's defaults instead of the example's options (its file name, quality floor...),
        for a request a real compressor runs."""
        if rate is not None:
            fields["compression_rate"] = rate
        elif Codec(fields.get("codec", Codec.J2K_LOSSY)).lossless:
            fields.setdefault("compression_rate", None)
        return self._event(CompressionRequested, 0, at, fields, bare=bare)

    def started(
        self, total: int | None = None, *, at: Moment | None = None, **fields: Any
    ) -> JobStarted:
        """JobStarted (seq 1) with `total` slices; later slices and the end follow it."""
        if total is not None:
            self.total = total
        return self._event(JobStarted, 1, at, {"total_slices": self.total, **fields})

    def slice(
        self, index: int, *, failed: bool = False, at: Moment | None = None, **fields: Any
    ) -> SliceEncoded | SliceFailed:
        """Slice `index` (seq 2+index): encoded, or SliceFailed when `failed`."""
        if failed:
            return self.slice_failed(index, at=at, **fields)
        return self.encoded(index, at=at, **fields)

    def encoded(self, index: int, *, at: Moment | None = None, **fields: Any) -> SliceEncoded:
        """SliceEncoded of slice `index`: the example's sizes, names and UIDs of this index."""
        names = self._slice_names(SliceEncoded, index)
        return self._event(SliceEncoded, FIRST_SLICE_SEQ + index, at, {**names, **fields})

    def slice_failed(self, index: int, *, at: Moment | None = None, **fields: Any) -> SliceFailed:
        """SliceFailed of slice `index`, for the example's reason."""
        names = self._slice_names(SliceFailed, index)
        return self._event(SliceFailed, FIRST_SLICE_SEQ + index, at, {**names, **fields})

    def completed(self, *, at: Moment | None = None, **fields: Any) -> JobCompleted:
        """JobCompleted after the last slice (seq 2+total at least), its counts and sizes summed
        over the slices this history handed out."""
        last: dict[int, SliceEncoded | SliceFailed] = {}
        for event in self.events:
            if isinstance(event, SliceEncoded | SliceFailed):
                last[event.slice_index] = event
        done = [e for e in last.values() if isinstance(e, SliceEncoded)]
        totals = {
            "slices_encoded": len(done),
            "slices_failed": len(last) - len(done),
            "bytes_in": sum(e.bytes_in for e in done),
            "bytes_out": sum(e.bytes_out for e in done),
            "encode_ms": sum(e.encode_ms for e in done),
        }
        seq = max(self.next_seq, FIRST_SLICE_SEQ + self.total)
        return self._event(JobCompleted, seq, at, {**totals, **fields})

    def failed(self, *, at: Moment | None = None, **fields: Any) -> JobFailed:
        """JobFailed right after the last event handed out."""
        return self._event(JobFailed, self.next_seq, at, fields)

    def cancelled(self, *, at: Moment | None = None, **fields: Any) -> JobCancelled:
        """JobCancelled right after the last event handed out."""
        return self._event(JobCancelled, self.next_seq, at, fields)

    def _slice_names(self, model: type[EventBase], index: int) -> dict[str, Any]:
        """What differs from slice to slice (named after SliceEncoded's example, its folder and
        series), for the fields the example of `model` has."""
        encoded = self.golden("SliceEncoded")
        folder = str(encoded["source_key"]).rsplit("/", 1)[0]
        series = encoded.get("series_instance_uid") or "2.25.1"
        z = float(index) * 1.25
        names = {
            "slice_index": index,
            "total_slices": self.total,
            "source_key": f"{folder}/{index:05d}.dcm",
            "entry_name": f"{index:05d}.dcm",
            "slice_key": f"{self.tenant}/jobs/{self.job_id}/slices/{index:05d}.dcm",
            "sop_instance_uid": f"2.25.{self.job_id.int}.{index}",
            "source_sop_instance_uid": f"{series}.{index}",
            "position": [-179.648, -179.648, z],
            "position_along_normal": z,
        }
        golden = self.golden(model.__name__)
        return {key: value for key, value in names.items() if key in golden}

    def _event(
        self,
        model: type[M],
        seq: int,
        at: Moment | None,
        fields: dict[str, Any],
        *,
        bare: bool = False,
    ) -> M:
        seq = fields.pop("seq", seq)
        attempt = fields.pop("attempt", self.attempt)
        envelope = {
            "event_id": new_event_id(self.job_id, seq, attempt),
            "job_id": self.job_id,
            "tenant": self.tenant,
            "seq": seq,
            "attempt": attempt,
            "occurred_at": self.at(seq, at),
        }
        event = self.build(model, decode_event, envelope, fields, bare=bare)
        self.events.append(cast("Event", event))  # decoded through the Event union
        self.next_seq = max(self.next_seq, seq + 1)
        return event
