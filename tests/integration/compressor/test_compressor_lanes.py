"""Two lanes on one compressor (docs/SCHEDULING.md): a job someone waits for, put on the
interactive lane behind another clinic's batch of 20 studies, starts and ends while the
batch's first study is still being encoded, not after the batch.

Real broker and S3; one compressor with one encoder process, so the batch holds every core
the compressor has while the interactive job arrives.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from compressor_support import job_events, request_for, running

from dicompress_compressor.settings import CompressorSettings
from dicompress_infra.kafka import publish
from dicompress_infra.s3 import make_s3_client
from dicompress_schemas import (
    Event,
    JobCompleted,
    JobStarted,
    Lane,
    SliceEncoded,
    TerminalEvent,
)
from dicompress_schemas.envelope import utc_now
from dicompress_schemas.histories import JobHistory
from dicompress_stack.net import free_port
from dicompress_stack.synthetic_ct import generate_series

pytestmark = pytest.mark.integration

log = logging.getLogger(__name__)

BATCH_STUDIES = 20
BATCH_SLICES = 60
INTERACTIVE_SLICES = 4


def _upload(settings: CompressorSettings, bucket: str, prefix: str, slices: int) -> None:
    s3 = make_s3_client(settings)
    for name, data in generate_series(n_slices=slices, seed=5):
        s3.put_object(Bucket=bucket, Key=f"{prefix}{name}", Body=data)


def _first(events: list[Event], kind: type[Any]) -> Any:
    return next(e for e in events if isinstance(e, kind))


async def test_an_interactive_job_runs_while_the_batch_ahead_of_it_waits(
    settings_for: Callable[..., Any], producer: AIOKafkaProducer, test_env: dict[str, str]
) -> None:
    bucket = test_env["S3_BUCKET"]
    settings: CompressorSettings = settings_for(
        CompressorSettings,
        compressor_allowed_buckets=[bucket],
        compressor_processes=1,
        compressor_health_port=free_port(),
        compressor_group_id=f"lanes-{time.monotonic_ns()}",
        compressor_worker_id="lanes-worker",
    )
    await asyncio.to_thread(_upload, settings, bucket, "batch/", BATCH_SLICES)
    await asyncio.to_thread(_upload, settings, bucket, "chair/", INTERACTIVE_SLICES)
    async with running(settings):
        batch = [request_for(bucket, "batch/") for _ in range(BATCH_STUDIES)]  # tenant acme
        # the first study first, so it is the one running; the 19 others queue behind it
        await publish(producer, settings.topics.lane(Lane.BATCH), batch[0])
        await job_events(
            settings,
            batch[0].job_id,
            until=lambda found: any(isinstance(e, SliceEncoded) for e in found),
        )
        for request in batch[1:]:
            await publish(producer, settings.topics.lane(Lane.BATCH), request)
        chair = JobHistory(tenant="globex").requested(
            at=utc_now(),
            bare=True,
            source_uri=f"s3://{bucket}/chair/",
            target_uri=f"s3://{bucket}/out/",
            compression_rate=50.0,
        )
        sent = time.time()
        await publish(producer, settings.topics.lane(Lane.INTERACTIVE), chair)
        interactive = await job_events(settings, chair.job_id)
        first_batch = await job_events(settings, batch[0].job_id)

    started: JobStarted = _first(interactive, JobStarted)
    ended: TerminalEvent = interactive[-1]
    batch_ended: TerminalEvent = first_batch[-1]
    assert isinstance(ended, JobCompleted)
    assert ended.slices_encoded == INTERACTIVE_SLICES
    assert isinstance(batch_ended, JobCompleted)
    # within the first batch study, not after it (let alone after the 20)
    assert started.occurred_at < batch_ended.occurred_at
    assert ended.occurred_at < batch_ended.occurred_at
    log.info(
        "interactive job: started %.3f s and ended %.3f s after it was queued; the batch's "
        "first study ended %.3f s after it",
        started.occurred_at.timestamp() - sent,
        ended.occurred_at.timestamp() - sent,
        batch_ended.occurred_at.timestamp() - sent,
    )
