"""The renderer on real Kafka and S3 (the embedded stack's S3Proxy): a ProductRequested on
render.requests becomes stored images, one ImageRendered per image after it is stored, then
JobCompleted; a re-run emits the same event ids over the same keys; a series too small and a
request of the wrong kind are answered in words or dead-lettered."""

from __future__ import annotations

import io
import logging

import pytest
from aiokafka import AIOKafkaConsumer
from PIL import Image
from pydicom import dcmread
from renderer_support import TENANT, job_events, send, store_series

import polling
from dicompress_infra.kafka import make_producer
from dicompress_infra.s3 import make_s3_client
from dicompress_renderer.settings import RendererSettings
from dicompress_schemas import (
    ImageRendered,
    JobCompleted,
    JobFailed,
    JobStarted,
    encode_event,
)
from dicompress_schemas.products import (
    ImageFormat,
    PreviewParams,
    RenderPreset,
    SnapshotParams,
    ThumbnailParams,
    key_instance,
    product_request,
)
from dicompress_stack.synthetic_ct import slice_bytes

pytestmark = pytest.mark.integration
STUDY, SERIES = "1.2.826.0.1.1", "1.2.826.0.1.1.2"


def request_for(
    bucket: str, params: ThumbnailParams | SnapshotParams | PreviewParams, version: str = "a" * 64
):  # type: ignore[no-untyped-def]
    return product_request(
        tenant=TENANT,
        bucket=bucket,
        study_uid=STUDY,
        series_uid=SERIES,
        source_version=version,
        params=params,
        trigger="request",
    )


def series_prefix() -> str:
    return f"{TENANT}/studies/{STUDY}/{SERIES}/"


async def test_thumbnails_and_snapshots_are_stored_then_announced(
    renderer: RendererSettings, test_env: dict[str, str]
) -> None:
    bucket = test_env["S3_BUCKET"]
    source_bytes = store_series(renderer, bucket, series_prefix(), slices=32)
    client = make_s3_client(renderer)
    for params in (ThumbnailParams(sizes=(256,)), SnapshotParams(sizes=(256,))):
        request = request_for(bucket, params)
        await send(renderer, request)
        events = await job_events(renderer, request.job_id)
        assert [e.seq for e in events] == list(range(1, len(events) + 1))
        started, *images, done = events
        assert isinstance(started, JobStarted)
        assert isinstance(done, JobCompleted), done
        assert started.total_slices == len(images) == (12 if params.kind == "thumbnails" else 2)
        for image in images:
            assert isinstance(image, ImageRendered)
            assert image.key.startswith(request.target_uri.removeprefix(f"s3://{bucket}/"))
            stored = client.get_object(Bucket=bucket, Key=image.key)["Body"].read()
            assert len(stored) == image.bytes
            picture = Image.open(io.BytesIO(stored))
            assert picture.size == (image.width, image.height)
            assert max(image.width, image.height) == 256
            assert picture.getextrema() != ((0, 0),)
            assert image.fallback is None
        assert done.slices_encoded == len(images)
        assert done.bytes_in == source_bytes
        assert done.bytes_out == sum(i.bytes for i in images if isinstance(i, ImageRendered))
        assert done.artifact_uri == request.target_uri


async def test_a_rerun_emits_the_same_ids_over_the_same_keys(
    renderer: RendererSettings, test_env: dict[str, str]
) -> None:
    bucket = test_env["S3_BUCKET"]
    store_series(renderer, bucket, series_prefix(), slices=16)
    request = request_for(bucket, ThumbnailParams(sizes=(128,), formats=(ImageFormat.PNG,)))
    await send(renderer, request)
    await send(renderer, request)
    events = await job_events(renderer, request.job_id, terminals=2)
    half = len(events) // 2
    first, second = events[:half], events[half:]
    assert [e.event_id for e in first] == [e.event_id for e in second]
    keys = [e.key for e in first if isinstance(e, ImageRendered)]
    assert keys == [e.key for e in second if isinstance(e, ImageRendered)]
    listed = make_s3_client(renderer).list_objects_v2(
        Bucket=bucket, Prefix=request.target_uri.removeprefix(f"s3://{bucket}/")
    )
    assert sorted(o["Key"] for o in listed["Contents"]) == sorted(keys)


async def test_a_series_of_two_images_is_refused_in_words(
    renderer: RendererSettings, test_env: dict[str, str]
) -> None:
    bucket = test_env["S3_BUCKET"]
    store_series(renderer, bucket, series_prefix(), slices=2)
    request = request_for(bucket, SnapshotParams())
    await send(renderer, request)
    (failed,) = await job_events(renderer, request.job_id)
    assert isinstance(failed, JobFailed)
    assert failed.seq == 1
    assert failed.reason == "this series has 2 stored images; a 3D view needs at least 3"


async def test_a_preview_request_is_dead_lettered_and_the_loop_goes_on(
    renderer: RendererSettings, test_env: dict[str, str]
) -> None:
    bucket = test_env["S3_BUCKET"]
    preview = request_for(bucket, PreviewParams())
    producer = make_producer(renderer.kafka_bootstrap_servers)
    await producer.start()
    try:
        await producer.send_and_wait(renderer.topics.render_requests, encode_event(preview))
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        renderer.topics.dead_letter,
        bootstrap_servers=renderer.kafka_bootstrap_servers,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:

        async def dead_lettered() -> bytes | None:
            for records in (await consumer.getmany(timeout_ms=200)).values():
                for record in records:
                    return dict(record.headers)["reason"]
            return None

        reason = await polling.eventually(dead_lettered, "the dead-lettered preview", 60)
        assert b"preview" in reason
    finally:
        await consumer.stop()
    store_series(renderer, bucket, series_prefix(), slices=3)
    request = request_for(bucket, SnapshotParams(sizes=(128,), presets=(RenderPreset.BONE,)))
    await send(renderer, request)
    assert isinstance((await job_events(renderer, request.job_id))[-1], JobCompleted)


async def test_the_key_image_hint_gives_the_same_images_read_first_or_not(
    renderer: RendererSettings, test_env: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    """The ingest's layout ({sop}.dcm) and the hint the process manager sends: the KEY images
    are made of that object first; a redelivery whose hint names nothing (boto3's NoSuchKey)
    reads the whole series instead and re-emits the same facts over the same keys."""
    bucket = test_env["S3_BUCKET"]
    series_uid = "1.2.826.0.1.1.3"
    prefix = f"{TENANT}/studies/{STUDY}/{series_uid}/"
    client = make_s3_client(renderer)
    pairs: list[tuple[str, float | None]] = []
    for index in range(16):
        data = slice_bytes(index, n_slices=16, size=96)
        ds = dcmread(io.BytesIO(data), stop_before_pixels=True)
        client.put_object(Bucket=bucket, Key=f"{prefix}{ds.SOPInstanceUID}.dcm", Body=data)
        pairs.append((str(ds.SOPInstanceUID), -float(ds.ImagePositionPatient[2])))
    params = ThumbnailParams(sizes=(128,), formats=(ImageFormat.PNG,))
    caplog.set_level(logging.INFO, logger="dicompress_renderer.runner")
    runs = []
    for hint in (key_instance(pairs), "9.9.9.9"):
        request = product_request(
            tenant=TENANT,
            bucket=bucket,
            study_uid=STUDY,
            series_uid=series_uid,
            source_version="b" * 64,
            params=params,
            trigger="upload",
            key_instance_uid=hint,
        )
        await send(renderer, request)
        runs.append(request.job_id)
    assert runs[0] == runs[1]  # the hint is no part of the product's identity
    events = await job_events(renderer, runs[0], terminals=2)
    half = len(events) // 2
    first, second = events[:half], events[half:]
    assert isinstance(first[-1], JobCompleted)
    assert isinstance(second[-1], JobCompleted)
    assert [e.event_id for e in first] == [e.event_id for e in second]
    facts = [
        (e.key, e.bytes, e.window_center, e.window_width)
        for e in first + second
        if isinstance(e, ImageRendered)
    ]
    assert facts[: len(facts) // 2] == facts[len(facts) // 2 :]
    assert first[-1].bytes_in == second[-1].bytes_in  # the key object read once either way
    skipped = [r for r in caplog.records if r.getMessage() == "key image not read first"]
    assert len(skipped) == 1  # the first run read its key object first; the second could not
    assert "NoSuchKey" in skipped[0].__dict__["reason"]
