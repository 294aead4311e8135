"""The compressor end to end on real Kafka and S3: the worker runs in-process (`service.serve`)
with its real process pool; the test publishes requests and reads what the compressor wrote."""

from __future__ import annotations

import asyncio
import io
import json
import zipfile

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from compressor_support import (
    TIMEOUT_S,
    completed_once,
    eventually,
    job_events,
    put,
    request_for,
    running,
)
from pydicom import dcmread
from zip_checks import assert_manifest_matches_zip

from dicompress_compressor.settings import CompressorSettings
from dicompress_infra.kafka import publish
from dicompress_infra.s3 import make_s3_client
from dicompress_schemas import (
    JobCompleted,
    JobFailed,
    SliceEncoded,
    SliceFailed,
    new_event_id,
)
from dicompress_stack.synthetic_ct import generate_series
from metrics_scrape import scrape

pytestmark = pytest.mark.integration


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
    # anatomical order: the generator writes head to feet (IM1 at z 0, IM6 at z -6.25), and
    # slices ascend along the normal (+z, to the head)
    assert [e.source_key for e in slices] == [f"series-1/IM{i}.dcm" for i in range(6, 0, -1)]
    assert [e.position_along_normal for e in slices] == [-1.25 * i for i in range(5, -1, -1)]
    assert all(e.ratio == pytest.approx(50, rel=0.15) for e in slices)
    completed = events[-1]
    assert isinstance(completed, JobCompleted)
    assert (completed.slices_encoded, completed.slices_failed) == (6, 0)
    assert completed.ratio == pytest.approx(50, rel=0.15)
    name = f"series-1-rate50-{request.occurred_at.strftime('%Y%m%d-%H%M%S')}.zip"
    assert completed.artifact_uri == f"s3://{bucket}/out/{name}"
    assert events[0].worker == "test-worker"  # type: ignore[union-attr]
    assert completed.cpu_s is not None
    assert completed.cpu_s > 0  # the pool's encoding counts
    assert completed.peak_rss_bytes is not None
    assert completed.peak_rss_bytes > 50 * 1024 * 1024  # the worker and its two encoders

    s3 = make_s3_client(compressor)
    for event in slices:  # each slice readable on its own, where its event says
        assert (
            event.slice_key
            == f"{request.tenant}/jobs/{request.job_id}/slices/{event.slice_index:05d}.dcm"
        )
        one = dcmread(io.BytesIO(s3.get_object(Bucket=bucket, Key=event.slice_key)["Body"].read()))
        assert one.SOPInstanceUID == event.sop_instance_uid
    stored = s3.get_object(Bucket=bucket, Key=f"out/{name}")
    assert stored["Metadata"]["job-id"] == str(request.job_id)
    body = stored["Body"].read()
    assert len(body) == completed.artifact_bytes
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        folder = "002-Axial_1.25_mm"  # one folder per series: SeriesNumber-SeriesDescription
        assert archive.namelist() == [f"{folder}/{i:05d}.dcm" for i in range(6)] + ["manifest.json"]
        for number, name in zip(range(6, 0, -1), archive.namelist()[:-1], strict=True):
            ds = dcmread(io.BytesIO(archive.read(name)))
            assert ds.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.4.91"
            assert ds.InstanceNumber == number
            assert ds.pixel_array.shape == (512, 512)
        manifest = json.loads(archive.read("manifest.json"))
    assert [m["sop_instance_uid"] for m in manifest["slices"]] == [
        e.sop_instance_uid for e in slices
    ]
    assert all(m["source_sop_instance_uid"] for m in manifest["slices"])
    assert assert_manifest_matches_zip(body) == manifest  # entries, sizes, ratios, UIDs

    async def counted() -> dict[str, float]:
        # counted once the broker acknowledged, which may land just after we read the event
        samples = await scrape(f"http://127.0.0.1:{compressor.compressor_health_port}/metrics")
        done = samples.get("dicompress_compressor_jobs_finished_total,outcome=completed")
        # the offset is committed (and the lag updated) just after the terminal event
        lag = [v for k, v in samples.items() if k.startswith("dicompress_compressor_consumer_lag")]
        return samples if done == 1 and lag == [0] else {}

    samples = await eventually(counted, "the completed job in /metrics")
    assert samples["dicompress_compressor_slices_encoded_total"] == 6
    assert samples["dicompress_compressor_encode_ms_count"] == 6
    assert samples["dicompress_compressor_jobs_in_flight"] == 0
    assert samples["process_resident_memory_bytes"] > 0


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

    renamed = taken_events[-1]
    assert isinstance(renamed, JobCompleted)
    assert renamed.artifact_uri == f"s3://{bucket}/out/taken-1.zip"  # the collision policy
    old = make_s3_client(compressor).get_object(Bucket=bucket, Key="out/taken.zip")
    assert old["Body"].read() == b"old"


async def test_source_keys_that_object_store_cannot_name_are_still_compressed(
    compressor: CompressorSettings, producer: AIOKafkaProducer, test_env: dict[str, str]
) -> None:
    # Slices travel through obstore, whose paths refuse empty and '.' segments that S3 keys
    # may have; those slices must take the boto3 road, not fail.
    bucket = test_env["S3_BUCKET"]
    keys = ["odd/a//IM1.dcm", "odd/b/./IM2.dcm", "odd/c d%20+/IM3.dcm"]
    for key, (_, data) in zip(keys, generate_series(n_slices=3, size=128, seed=6), strict=True):
        await asyncio.to_thread(put, compressor, bucket, key, data)
    request = request_for(bucket, "odd/")

    await publish(producer, compressor.topics.requests, request)
    events = await job_events(compressor, request.job_id)

    encoded = [e for e in events if isinstance(e, SliceEncoded)]
    # S3Proxy's filesystem store (the embedded S3) folds '//' and '/./' when it stores a key:
    # compare with the keys the bucket lists, whatever the server made of them
    listed = make_s3_client(compressor).list_objects_v2(Bucket=bucket, Prefix="odd/")
    stored = sorted(item["Key"] for item in listed["Contents"])
    assert len(stored) == 3
    assert sorted(e.source_key for e in encoded) == stored
    completed = events[-1]
    assert isinstance(completed, JobCompleted)
    assert (completed.slices_encoded, completed.slices_failed) == (3, 0)


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

    completed_once(events, request.job_id, slices)
    assert len(events) > slices + 2  # the first run's events came again, with the same ids
