"""A renderer re-run that fails earlier than its crashed first run had got: its JobFailed goes
past every seq the first run may have used (the contract's attempts rule), so readers, which
keep the first event of each seq, see the product fail instead of dropping its end."""

from __future__ import annotations

import asyncio
import contextlib

from renderer_fakes import FakeS3
from renderer_phantom import PhantomSpec, series
from tests.unit.compressor.compressor_fakes import projected

from dicompress_renderer.items import plan
from dicompress_renderer.runner import RenderRunner
from dicompress_schemas import EventBase, ImageRendered, JobFailed, ProductRequested
from dicompress_schemas.attempts import AttemptMarker, decode_marker
from dicompress_schemas.jobs import Status
from dicompress_schemas.products import ThumbnailParams, product_request

TENANT, BUCKET, STUDY, SERIES = "acme", "bucket", "1.2.3", "1.2.3.4"
PREFIX = f"{TENANT}/studies/{STUDY}/{SERIES}/"
PARAMS = ThumbnailParams(sizes=(128,))


class Killed(BaseException):
    """The worker's process dies: nothing after this reaches the log or S3."""


def _request() -> ProductRequested:
    return product_request(
        tenant=TENANT,
        bucket=BUCKET,
        study_uid=STUDY,
        series_uid=SERIES,
        source_version="b" * 64,
        params=PARAMS,
        trigger="upload",
    )


def _run(s3: FakeS3, request: ProductRequested, images_before_kill: int | None) -> list[EventBase]:
    sink: list[EventBase] = []

    async def emit(event: EventBase) -> None:
        rendered = sum(isinstance(e, ImageRendered) for e in sink)
        if images_before_kill is not None and rendered == images_before_kill:
            raise Killed
        sink.append(event)

    with contextlib.suppress(Killed):
        asyncio.run(RenderRunner(client=s3, emit=emit, worker="r-1").run(request))
    return sink


def test_a_rerun_that_finds_the_series_gone_fails_past_the_dead_runs_seqs() -> None:
    s3, request = FakeS3(), _request()
    for i, data in enumerate(series(PhantomSpec())):
        s3.objects[f"{PREFIX}{i:04d}.dcm"] = data
    items = len(plan(PARAMS))
    first = _run(s3, request, images_before_kill=5)
    assert [e.seq for e in first] == list(range(1, 7))  # JobStarted, five images, killed
    marker = decode_marker(s3.objects[f"{TENANT}/jobs/{request.job_id}/attempts/1"])
    assert marker == AttemptMarker("r-1", items + 2)  # recorded before the series was read
    for key in [k for k in s3.objects if k.startswith(PREFIX)]:
        del s3.objects[key]  # the series is deleted before the request is redelivered

    again = _run(s3, request, images_before_kill=None)

    failed = again[-1]
    assert isinstance(failed, JobFailed)
    assert failed.error_code == "source-empty"
    assert again == [failed]
    assert failed.seq == items + 3  # past the dead run's ceiling, not at seq 1
    assert failed.attempt == 2
    view = projected(first + again)
    assert view is not None
    assert view.status is Status.FAILED


def test_a_first_run_that_fails_takes_the_next_seq_with_no_gap() -> None:
    s3, request = FakeS3(), _request()  # no series at all
    events = _run(s3, request, images_before_kill=None)
    assert len(events) == 1
    assert isinstance(events[0], JobFailed)
    assert (events[0].seq, events[0].attempt) == (1, 1)
