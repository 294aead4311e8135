"""One job across two compressors (docs/SCHEDULING.md, item 3): its slices go out in ranges on
the tasks topic, any compressor makes a range, the owner assembles the job once.

Real broker and S3, compressors as processes of their own (one encoder process each): kill -9
of the worker doing a range mid-job costs no slice and doubles none; a cancel stops every
range within a second.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaProducer
from compressor_support import completed_once, job_events, request_for, running
from test_compressor_resilience import _kill_hard, _upload
from zip_checks import fetched_artifact

from dicompress_compressor.settings import CompressorSettings
from dicompress_infra.kafka import publish
from dicompress_infra.s3 import make_s3_client
from dicompress_schemas import (
    CancelRequested,
    JobCancelled,
    JobStarted,
    SliceEncoded,
    encode_command,
)
from dicompress_stack.net import free_port

pytestmark = pytest.mark.integration

SLICES = 96
RANGE = 16


def _env(settings: CompressorSettings, bucket: str) -> dict[str, str]:
    return {
        "COMPRESSOR_ALLOWED_BUCKETS": bucket,
        "COMPRESSOR_PROCESSES": "1",
        "COMPRESSOR_GROUP_ID": settings.compressor_group_id,
        "COMPRESSOR_SPLIT_SLICES": "32",
        "COMPRESSOR_TASK_SLICES": str(RANGE),
    }


def _markers(settings: CompressorSettings, bucket: str, prefix: str) -> dict[str, str]:
    """Task marker name -> the worker that finished that range."""
    s3 = make_s3_client(settings)
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
    return {
        obj["Key"].rsplit("/", 1)[1]: orjson.loads(
            s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
        )["worker"]
        for obj in listed
    }


async def test_killing_the_worker_of_a_range_mid_job_costs_no_slice_and_doubles_none(
    compressor_settings: CompressorSettings,
    producer: AIOKafkaProducer,
    test_env: dict[str, str],
    service_runner: Any,
) -> None:
    bucket, settings = test_env["S3_BUCKET"], compressor_settings
    await asyncio.to_thread(_upload, settings, bucket, "split/", SLICES)
    env = _env(settings, bucket)
    workers = {
        f"{socket.gethostname()}-{service.process.pid}": service
        for service in (
            service_runner.start("compressor", env=env),
            service_runner.start("compressor", env=env),
        )
    }
    request = request_for(bucket, "split/")
    await publish(producer, settings.topics.requests, request)
    started = await job_events(
        settings, request.job_id, until=lambda found: any(isinstance(e, JobStarted) for e in found)
    )
    owner = next(e for e in started if isinstance(e, JobStarted)).worker
    [other] = [worker for worker in workers if worker != owner]
    tasks_prefix = f"{request.tenant}/jobs/{request.job_id}/tasks/"
    deadline = time.monotonic() + 120
    while other not in (await asyncio.to_thread(_markers, settings, bucket, tasks_prefix)).values():
        assert time.monotonic() < deadline, "the second compressor never finished a range"
        await asyncio.sleep(0.1)
    await asyncio.to_thread(_kill_hard, workers[other].process.pid)  # mid its next range

    events = await job_events(settings, request.job_id)
    completed = completed_once(events, request.job_id, SLICES)
    assert completed.slices_encoded == SLICES
    _, names = fetched_artifact(make_s3_client(settings), bucket, completed.artifact_uri)
    assert len(names) == SLICES + 1  # each slice once, and the manifest
    assert len(set(names)) == len(names)
    finished = await asyncio.to_thread(_markers, settings, bucket, tasks_prefix)
    assert other in finished.values()  # the killed worker had made ranges of this job


async def test_a_cancel_stops_every_range_within_a_second(
    settings_for: Callable[..., Any],
    producer: AIOKafkaProducer,
    test_env: dict[str, str],
) -> None:
    bucket = test_env["S3_BUCKET"]
    group = f"split-{time.monotonic_ns()}"
    two = [
        settings_for(
            CompressorSettings,
            compressor_allowed_buckets=[bucket],
            compressor_processes=1,
            compressor_health_port=free_port(),
            compressor_group_id=group,
            compressor_worker_id=f"worker-{n}",
            compressor_split_slices=32,
            compressor_task_slices=RANGE,
        )
        for n in (1, 2)
    ]
    settings = two[0]
    await asyncio.to_thread(_upload, settings, bucket, "split-cancel/", SLICES // 2)
    async with running(two[0]), running(two[1]):
        await _cancel_mid_job(settings, producer, bucket)


async def _cancel_mid_job(
    settings: CompressorSettings, producer: AIOKafkaProducer, bucket: str
) -> None:
    request = request_for(bucket, "split-cancel/")
    await publish(producer, settings.topics.requests, request)
    await job_events(
        settings,
        request.job_id,
        until=lambda found: sum(isinstance(e, SliceEncoded) for e in found) >= 3,
    )
    command = CancelRequested(job_id=request.job_id, tenant=request.tenant, reason="wrong series")
    key = str(request.job_id).encode()
    await producer.send_and_wait(settings.topics.control, encode_command(command), key=key)
    sent = time.monotonic()
    events = await job_events(settings, request.job_id)
    assert isinstance(events[-1], JobCancelled)

    s3 = make_s3_client(settings)
    slices_prefix = f"{request.tenant}/jobs/{request.job_id}/slices/"

    def stored() -> int:
        return int(s3.list_objects_v2(Bucket=bucket, Prefix=slices_prefix)["KeyCount"])

    await asyncio.sleep(max(0.0, sent + 1.0 - time.monotonic()))
    after_a_second = await asyncio.to_thread(stored)
    await asyncio.sleep(2.0)
    assert await asyncio.to_thread(stored) == after_a_second  # no range still at work
    assert after_a_second < SLICES // 2
