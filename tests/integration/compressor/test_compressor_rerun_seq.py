"""A re-run that fails earlier than its crashed first run had got, on real Kafka, S3 and
Postgres: its JobFailed lands past every seq the first run wrote (the contract's attempts
rule), and the projection shows the job failed instead of running for ever."""

from __future__ import annotations

import asyncio
import functools

import pytest
from aiokafka import AIOKafkaProducer
from compressor_support import job_events, request_for, running

from dicompress_compressor.encoder import EncodedSlice, EncodeOptions, encode_slice
from dicompress_compressor.job import JobRunner
from dicompress_compressor.settings import CompressorSettings
from dicompress_compressor.storage import S3ObjectStore
from dicompress_infra.kafka import publish
from dicompress_infra.s3 import make_s3_client
from dicompress_schemas import JobFailed, SliceEncoded, TerminalEvent, new_event_id
from dicompress_schemas.attempts import decode_marker, job_ceiling
from dicompress_stack.synthetic_ct import generate_series
from projected import projected_row

pytestmark = pytest.mark.integration

SLICES = 8


class StallsAfter:
    """The real encoder for the first `count` slices; then it hangs (the worker is about to be
    killed), so the run has written exactly those slices' events."""

    def __init__(self, count: int) -> None:
        self.left = count

    async def encode(self, data: bytes, options: EncodeOptions) -> EncodedSlice:
        if self.left == 0:
            await asyncio.Event().wait()
        self.left -= 1
        return await asyncio.to_thread(encode_slice, data, options)


async def test_a_rerun_that_finds_its_source_gone_fails_past_the_first_runs_events(
    compressor_settings: CompressorSettings, producer: AIOKafkaProducer, test_env: dict[str, str]
) -> None:
    settings, bucket = compressor_settings, test_env["S3_BUCKET"]
    s3 = make_s3_client(settings)
    for name, data in generate_series(n_slices=SLICES, size=64, seed=5):
        s3.put_object(Bucket=bucket, Key=f"rerun/{name}", Body=data)
    request = request_for(bucket, "rerun/")

    # The first run: the real job runner on the real S3 and events topic, killed after three
    # slices (its task cancelled where the worker hangs: nothing after reaches the log).
    first = JobRunner(
        store=S3ObjectStore(s3),
        encoder=StallsAfter(3),
        emit=functools.partial(publish, producer, settings.topics.events),
        worker="first-run",
        max_in_flight=1,
        allowed_buckets=frozenset({bucket}),
    )
    dead = asyncio.create_task(first.run(request))
    before = await job_events(
        settings,
        request.job_id,
        until=lambda found: sum(isinstance(e, SliceEncoded) for e in found) == 3,
    )
    dead.cancel()
    await asyncio.gather(dead, return_exceptions=True)
    assert [e.seq for e in before] == [1, 2, 3, 4]
    marker = s3.get_object(Bucket=bucket, Key=f"acme/jobs/{request.job_id}/attempts/1")
    assert decode_marker(marker["Body"].read()).ceiling == job_ceiling(SLICES)

    # The series is deleted; the request, never committed, reaches the real compressor again.
    for name, _ in generate_series(n_slices=SLICES, size=64, seed=5):
        s3.delete_object(Bucket=bucket, Key=f"rerun/{name}")
    await publish(producer, settings.topics.requests, request)
    async with running(settings):
        events = await job_events(settings, request.job_id)

    failed = events[-1]
    assert [type(e) for e in events if isinstance(e, TerminalEvent)] == [JobFailed]
    assert isinstance(failed, JobFailed)
    assert failed.error_code == "source-empty"
    assert failed.attempt == 2
    # past 2+8, the first run's ceiling; without the rule it took seq 2, a slice's of the first
    # run, and every reader dropped it
    assert failed.seq == SLICES + 3
    assert failed.seq > max(e.seq for e in before)
    assert failed.event_id == new_event_id(request.job_id, failed.seq)

    row = await projected_row(test_env, "SELECT * FROM jobs WHERE job_id = $1", request.job_id)
    assert row is not None
    assert (row["status"], row["error_code"]) == ("failed", "source-empty")
    assert row["last_seq"] == SLICES + 3
    assert row["slices_done"] == 3  # what the first run encoded, as told before the crash
