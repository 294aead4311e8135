"""The compressor end to end on real Kafka and S3: the worker runs in-process (`service.serve`)
with its real process pool; the test publishes requests and reads what the compressor wrote."""

from __future__ import annotations

import asyncio
import io
import time
import uuid
import zipfile
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from pydicom import dcmread

from dicompress_compressor.service import serve
from dicompress_compressor.settings import CompressorSettings
from dicompress_infra.kafka import make_producer, publish
from dicompress_infra.s3 import make_s3_client
from dicompress_schemas import (
    CompressionRequested,
    Event,
    JobCompleted,
    JobFailed,
    SliceEncoded,
    SliceFailed,
    TerminalEvent,
    decode_event,
    new_event_id,
)
from dicompress_stack.net import free_port
from dicompress_stack.synthetic_ct import generate_series

pytestmark = pytest.mark.integration

TIMEOUT_S = 60.0


async def eventually(check: Callable[[], Any], what: str) -> Any:
    """Poll `check` (sync or async) until it returns something truthy; fail after TIMEOUT_S."""
    deadline = time.monotonic() + TIMEOUT_S
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {TIMEOUT_S:.0f} s waiting for {what}")
        await asyncio.sleep(0.1)


@pytest.fixture
def compressor_settings(settings_for: Callable[..., Any]) -> CompressorSettings:
    """Settings of a compressor (2 encoder processes) on this test's topics and bucket."""
    settings: CompressorSettings = settings_for(
        CompressorSettings,
        compressor_processes=2,
        compressor_health_port=free_port(),
        compressor_group_id=f"compressor-{uuid.uuid4().hex[:8]}",
        compressor_worker_id="test-worker",
    )
    return settings


@asynccontextmanager
async def running(settings: CompressorSettings) -> AsyncIterator[CompressorSettings]:
    """The compressor serving in this process until the block ends (then stopped as by SIGTERM:
    a job still running is abandoned, not committed)."""
    stop = asyncio.Event()
    task = asyncio.create_task(serve(settings, stop))
    url = f"http://127.0.0.1:{settings.compressor_health_port}/healthz"

    async def healthy() -> bool:
        if task.done():
            task.result()  # raise what killed it
        try:
            async with httpx.AsyncClient() as client:
                return (await client.get(url, timeout=2)).status_code == 200
        except httpx.TransportError:
            return False

    try:
        await eventually(healthy, "the compressor's /healthz")
        yield settings
    finally:
        stop.set()
        await asyncio.wait_for(task, TIMEOUT_S)


@pytest.fixture
async def compressor(compressor_settings: CompressorSettings) -> AsyncIterator[CompressorSettings]:
    async with running(compressor_settings) as settings:
        yield settings


@pytest.fixture
async def producer(compressor_settings: CompressorSettings) -> AsyncIterator[AIOKafkaProducer]:
    producer = make_producer(compressor_settings.kafka_bootstrap_servers)
    await producer.start()
    yield producer
    await producer.stop()


def request_for(bucket: str, source: str, **overrides: Any) -> CompressionRequested:
    job_id = uuid.uuid4()
    fields = {
        "event_id": new_event_id(job_id, 0),
        "job_id": job_id,
        "tenant": "acme",
        "seq": 0,
        "source_uri": f"s3://{bucket}/{source}",
        "target_uri": f"s3://{bucket}/out/",
        "compression_rate": 50.0,
    }
    return CompressionRequested.model_validate(fields | overrides)


def _finished(events: list[Event]) -> bool:
    return any(isinstance(e, TerminalEvent) for e in events)


async def job_events(
    settings: CompressorSettings,
    job_id: uuid.UUID,
    until: Callable[[list[Event]], bool] = _finished,
) -> list[Event]:
    """The job's events on the events topic, in log order, read until `until(events)` (by
    default: until its terminal event)."""
    consumer = AIOKafkaConsumer(  # no group: every partition, from the beginning
        settings.topics.events,
        bootstrap_servers=settings.kafka_bootstrap_servers,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        found: list[Event] = []

        async def seen_enough() -> bool:
            for records in (await consumer.getmany(timeout_ms=200)).values():
                found.extend(
                    event
                    for event in (decode_event(r.value) for r in records)
                    if event.job_id == job_id
                )
            return until(found)

        await eventually(seen_enough, f"the events of job {job_id}")
        return found
    finally:
        await consumer.stop()


def put(settings: CompressorSettings, bucket: str, key: str, body: bytes, **extra: Any) -> None:
    make_s3_client(settings).put_object(Bucket=bucket, Key=key, Body=body, **extra)


async def test_a_series_is_compressed_into_a_zip_with_its_events_in_order(
    compressor: CompressorSettings, producer: AIOKafkaProducer, test_env: dict[str, str]
) -> None:
    bucket = test_env["S3_BUCKET"]
    for name, data in generate_series(n_slices=6, seed=3):
        await asyncio.to_thread(put, compressor, bucket, f"series-1/{name}", data)
    request = request_for(bucket, "series-1/")

    await publish(producer, compressor.topics.requests, request)
    events = await job_events(compressor, request.job_id)

    assert [e.seq for e in events] == list(range(1, 9))
    assert [e.type for e in events] == ["JobStarted"] + ["SliceEncoded"] * 6 + ["JobCompleted"]
    assert all(e.event_id == new_event_id(request.job_id, e.seq) for e in events)
    assert all(e.tenant == "acme" for e in events)
    slices = [e for e in events if isinstance(e, SliceEncoded)]
    assert [e.source_key for e in slices] == [f"series-1/IM{i}.dcm" for i in range(1, 7)]
    assert all(e.ratio == pytest.approx(50, rel=0.15) for e in slices)
    completed = events[-1]
    assert isinstance(completed, JobCompleted)
    assert (completed.slices_encoded, completed.slices_failed) == (6, 0)
    assert completed.ratio == pytest.approx(50, rel=0.15)
    assert completed.artifact_uri == f"s3://{bucket}/out/{request.job_id}.zip"
    assert events[0].worker == "test-worker"  # type: ignore[union-attr]

    s3 = make_s3_client(compressor)
    stored = s3.get_object(Bucket=bucket, Key=f"out/{request.job_id}.zip")
    assert stored["Metadata"]["job-id"] == str(request.job_id)
    body = stored["Body"].read()
    assert len(body) == completed.artifact_bytes
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        assert archive.namelist() == [f"{i:05d}.dcm" for i in range(6)]
        for number, name in enumerate(archive.namelist(), start=1):
            ds = dcmread(io.BytesIO(archive.read(name)))
            assert ds.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.4.91"
            assert ds.InstanceNumber == number
            assert ds.pixel_array.shape == (512, 512)


async def test_a_bad_message_is_dead_lettered_and_the_next_request_is_processed(
    compressor: CompressorSettings, producer: AIOKafkaProducer, test_env: dict[str, str]
) -> None:
    request = request_for(test_env["S3_BUCKET"], "nothing-here/")
    key = str(request.job_id).encode()  # same key: same partition, so the garbage comes first
    await producer.send_and_wait(compressor.topics.requests, b"{not json", key=key)
    await publish(producer, compressor.topics.requests, request)

    events = await job_events(compressor, request.job_id)
    assert [(e.type, e.seq) for e in events] == [("JobStarted", 1), ("JobFailed", 2)]
    failed = events[-1]
    assert isinstance(failed, JobFailed)
    assert failed.error_code == "source-empty"
    assert f"s3://{test_env['S3_BUCKET']}/nothing-here/" in failed.reason

    dead = AIOKafkaConsumer(
        compressor.topics.dead_letter,
        bootstrap_servers=compressor.kafka_bootstrap_servers,
        auto_offset_reset="earliest",
    )
    await dead.start()
    try:
        record = await asyncio.wait_for(dead.getone(), TIMEOUT_S)
    finally:
        await dead.stop()
    assert record.value == b"{not json"
    headers = dict(record.headers)
    assert b"not JSON" in headers["reason"]
    assert headers["origin"].startswith(compressor.topics.requests.encode())


async def test_a_non_dicom_object_fails_alone_and_another_jobs_zip_is_not_overwritten(
    compressor: CompressorSettings, producer: AIOKafkaProducer, test_env: dict[str, str]
) -> None:
    bucket = test_env["S3_BUCKET"]
    series = list(generate_series(n_slices=2, size=256, seed=4))
    for name, data in series:
        await asyncio.to_thread(put, compressor, bucket, f"s2/{name}", data)
    await asyncio.to_thread(put, compressor, bucket, "s2/notes.txt", b"not an image")
    await asyncio.to_thread(
        put, compressor, bucket, "out/taken.zip", b"old", Metadata={"job-id": "another-job"}
    )
    mixed = request_for(bucket, "s2/")
    taken = request_for(bucket, "s2/", output_filename="taken.zip")

    await publish(producer, compressor.topics.requests, mixed)
    await publish(producer, compressor.topics.requests, taken)
    mixed_events = await job_events(compressor, mixed.job_id)
    taken_events = await job_events(compressor, taken.job_id)

    assert [e.type for e in mixed_events] == [
        "JobStarted", "SliceEncoded", "SliceEncoded", "SliceFailed", "JobCompleted",
    ]  # fmt: skip
    failed = mixed_events[3]
    assert isinstance(failed, SliceFailed)
    assert failed.source_key == "s2/notes.txt"
    assert "not a DICOM" in failed.reason
    assert isinstance(mixed_events[-1], JobCompleted)
    assert mixed_events[-1].slices_failed == 1

    assert [(e.type, e.seq) for e in taken_events] == [("JobStarted", 1), ("JobFailed", 2)]
    refused = taken_events[-1]
    assert isinstance(refused, JobFailed)
    assert refused.error_code == "target-exists"
    old = make_s3_client(compressor).get_object(Bucket=bucket, Key="out/taken.zip")
    assert old["Body"].read() == b"old"


async def test_a_job_stopped_midway_is_redone_with_the_same_event_ids(
    compressor_settings: CompressorSettings, producer: AIOKafkaProducer, test_env: dict[str, str]
) -> None:
    bucket, slices = test_env["S3_BUCKET"], 100  # ~2-4 s of encoding: time to stop midway

    def upload() -> None:
        s3 = make_s3_client(compressor_settings)
        for name, data in generate_series(n_slices=slices, seed=5):
            s3.put_object(Bucket=bucket, Key=f"long/{name}", Body=data)

    await asyncio.to_thread(upload)
    request = request_for(bucket, "long/")

    async with running(compressor_settings):
        await publish(producer, compressor_settings.topics.requests, request)
        await job_events(
            compressor_settings,
            request.job_id,
            until=lambda found: any(isinstance(e, SliceEncoded) for e in found),
        )
    # stopped with the job under way: nothing committed, so the next instance redoes it
    async with running(compressor_settings):
        events = await job_events(compressor_settings, request.job_id)

    seqs = [e.seq for e in events]
    assert set(seqs) == set(range(1, slices + 3))
    assert len(seqs) > slices + 2  # the first run's events came again...
    assert all(e.event_id == new_event_id(request.job_id, e.seq) for e in events)  # ...same ids
    assert [e.type for e in events if isinstance(e, TerminalEvent)] == ["JobCompleted"]
