"""A job whose history was written with version 1 events (CompressionRequested, SliceEncoded)
folds into the same projection as the version 2 history the upcasters define it as: the same
job row and the same slice rows, with no old-peak PSNR passed off as the range PSNR."""

from __future__ import annotations

import uuid
from typing import Any

import orjson

from dicompress_progress.slices import SliceRow, slice_row
from dicompress_schemas import (
    CompressionRequested,
    Event,
    SliceEncoded,
    decode_event,
    encode_event,
)
from dicompress_schemas.histories import JobHistory
from dicompress_schemas.jobs import JobView, apply
from dicompress_schemas.legacy import CompressionRequestedV1, SliceEncodedV1

JOB = uuid.UUID("00000000-0000-4000-8000-00000000016a")
OLD_PSNR = 47.92  # what a v1 compressor wrote: dB against 2**BitsStored - 1


def history() -> list[Event]:
    """A job as the v2 compressor would have told it, had it not measured the new figures: the
    v2 reading of a v1 log (psnr_db and max_error_hu unknown, the same floor)."""
    h = JobHistory(JOB, "acme", total=4)
    h.requested(20, min_psnr_db=40.0)
    h.started()
    for index in range(4):
        if index == 2:
            h.slice_failed(index, error_code="below-quality-floor")
        else:
            h.encoded(index, psnr_db=None, max_error_hu=None, max_abs_error=10 + index)
    h.completed()
    return h.events


def as_written_in_v1(event: Event) -> bytes:
    """The bytes a version 1 producer put on the log for `event`."""
    raw: dict[str, Any] = orjson.loads(encode_event(event))
    if isinstance(event, SliceEncoded):
        raw = {k: v for k, v in raw.items() if k not in ("psnr_db", "max_error_hu")}
        raw |= {"version": 1, "psnr": OLD_PSNR}
        SliceEncodedV1.model_validate(raw)  # a genuine v1 payload
    elif isinstance(event, CompressionRequested):
        raw = {k: v for k, v in raw.items() if k != "min_psnr_db"}
        raw |= {"version": 1, "min_psnr": event.min_psnr_db}
        CompressionRequestedV1.model_validate(raw)
    return orjson.dumps(raw)


def project(events: list[Event]) -> tuple[JobView, list[SliceRow]]:
    """What the progress store writes for these events: the job's row and its slice rows."""
    view: JobView | None = None
    rows = []
    for event in events:
        view = apply(view, event)
        if (row := slice_row(event)) is not None:
            rows.append(row)
    assert view is not None
    return view, rows


def test_v1_payloads_on_the_log_decode_into_v2() -> None:
    logged = [as_written_in_v1(event) for event in history()]
    assert [orjson.loads(b)["version"] for b in logged[:3]] == [1, 1, 1]
    decoded = [decode_event(data) for data in logged]
    assert decoded == history()  # the same facts, at the current versions
    request = decoded[0]
    assert isinstance(request, CompressionRequested)
    assert (request.version, request.min_psnr_db) == (2, 40.0)
    slices = [e for e in decoded if isinstance(e, SliceEncoded)]
    assert {(e.version, e.psnr_db, e.max_error_hu) for e in slices} == {(2, None, None)}
    assert [e.max_abs_error for e in slices] == [10, 11, 13]  # stored units: the same in both


def test_a_v1_history_replays_to_the_same_projection_as_its_v2_reading() -> None:
    from_v1_log = project([decode_event(as_written_in_v1(e)) for e in history()])
    assert from_v1_log == project(history())
    view, rows = from_v1_log
    assert (view.status, view.slices_done, view.slices_failed) == ("completed", 3, 1)
    assert OLD_PSNR not in {row.psnr_db for row in rows}
    assert [(row.status, row.psnr_db, row.max_abs_error) for row in rows] == [
        ("encoded", None, 10),
        ("encoded", None, 11),
        ("failed", None, None),
        ("encoded", None, 13),
    ]
