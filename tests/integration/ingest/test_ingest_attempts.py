"""An ingest re-run that fails earlier than its crashed first run had got, on real Kafka, S3
and Postgres: killed after three members, then redelivered once its archive was deleted, its
IngestFailed lands past every seq the first run may have used (the contract's attempts rule),
and the projection shows the ingest failed instead of running for ever."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from ingest_support import ingest_events, upload, zip_of

from dicompress_infra.kafka import enqueue, make_producer
from dicompress_ingest.members import Caps
from dicompress_ingest.runner import IngestRunner
from dicompress_ingest.service import serve
from dicompress_ingest.settings import IngestSettings
from dicompress_schemas import IngestEventBase, IngestFailed, IngestStarted, InstanceStored
from dicompress_schemas.attempts import decode_marker, ingest_ceiling
from dicompress_stack.net import free_port
from dicompress_stack.synthetic_ct import slice_bytes
from dicompress_stack.testing import s3_client
from projected import projected_row

pytestmark = pytest.mark.integration

MAX_MEMBERS = 50  # the cap, and so the ceiling every run records: 2 + 50


class Killed(Exception):
    """The worker dies: nothing after this reaches the log."""


async def test_a_rerun_that_finds_the_archive_gone_fails_past_the_first_runs_events(
    test_env: dict[str, str], settings_for: Callable[..., Any]
) -> None:
    settings: IngestSettings = settings_for(
        IngestSettings,
        ingest_allowed_buckets=[test_env["S3_BUCKET"]],
        ingest_max_members=MAX_MEMBERS,
        ingest_health_port=free_port(),
        ingest_group_id=f"ingest-{uuid.uuid4().hex[:8]}",
    )
    count = 6
    slices = [slice_bytes(i, n_slices=count, size=32) for i in range(count)]
    request = await upload(test_env, zip_of([(f"IM{i}", s) for i, s in enumerate(slices)]))

    # The first run: the real runner on the real S3 and events topic, killed once IngestStarted
    # and three members are on the log.
    producer = make_producer(settings.kafka_bootstrap_servers)
    await producer.start()
    try:
        sent: list[IngestEventBase] = []

        async def send(event: IngestEventBase) -> asyncio.Future[Any]:
            if len(sent) == 4:
                raise Killed
            sent.append(event)
            return await enqueue(producer, settings.topics.ingest_events, event)

        first = IngestRunner(
            client=s3_client(test_env),
            settings=settings,
            send=send,
            caps=Caps(MAX_MEMBERS, settings.ingest_max_total_bytes, 2**30, 100.0),
            worker="first-run",
            allowed_buckets=frozenset({test_env["S3_BUCKET"]}),
            store_threads=1,
        )
        with pytest.raises(Killed):
            await first(request)
        await producer.flush()
    finally:
        await producer.stop()
    assert [type(e) for e in sent] == [IngestStarted] + [InstanceStored] * 3
    s3 = s3_client(test_env)
    marker = s3.get_object(
        Bucket=request.bucket, Key=f"acme/ingests/{request.ingest_id}/attempts/1"
    )
    assert decode_marker(marker["Body"].read()).ceiling == ingest_ceiling(MAX_MEMBERS)

    # The archive is deleted (expired); the request, never committed, reaches the real
    # ingest service.
    s3.delete_object(Bucket=request.bucket, Key=request.key)
    stop = asyncio.Event()
    service = asyncio.create_task(serve(settings, stop))
    try:
        events = await ingest_events(test_env, request.ingest_id)
    finally:
        stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(service, 60)

    failed = events[-1]
    assert isinstance(failed, IngestFailed)
    assert failed.error_code == "archive-missing"
    assert failed.attempt == 2
    # past 2 + 50, the first run's ceiling; without the rule it took seq 1, IngestStarted's,
    # and every reader dropped it
    assert failed.seq == MAX_MEMBERS + 3
    assert [e.seq for e in events[:-1]] == [1, 2, 3, 4]

    row = await projected_row(
        test_env, "SELECT * FROM ingests WHERE ingest_id = $1", request.ingest_id
    )
    assert row is not None
    assert (row["status"], row["error_code"]) == ("failed", "archive-missing")
    assert (row["last_seq"], row["instances"]) == (MAX_MEMBERS + 3, 3)
