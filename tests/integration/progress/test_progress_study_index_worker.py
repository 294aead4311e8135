"""The real worker projects the study index from the ingest topics (real Kafka, real Postgres):
both topics, scrambled and redelivered events, garbage dead-lettered while the loop goes on,
and a replay of the log that rebuilds the very same index."""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from pathlib import Path

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer
from progress_harness import healthy, wait_for, worker
from test_progress_worker import dead_letters

from dicompress_infra.kafka import publish
from dicompress_progress.replay import check
from dicompress_progress.settings import ProgressSettings
from dicompress_schemas import ArchiveUploaded, IngestEvent, ingest_event_key
from dicompress_schemas.histories.ingests import AXIAL, STUDY, IngestHistory
from dicompress_stack.net import free_port

pytestmark = pytest.mark.integration

SLICES = 12


def a_study(history: IngestHistory) -> list[IngestEvent]:
    events: list[IngestEvent] = [history.uploaded(), history.started()]
    events += [history.image(z=1.25 * i, number=SLICES - i) for i in range(SLICES)]
    events.append(history.rejection("DICOM/README.TXT"))
    events.append(history.completed())
    return events


async def test_worker_projects_both_ingest_topics_and_a_replay_rebuilds_the_same_index(
    test_env: dict[str, str],
    settings_for: Callable[..., ProgressSettings],
    tmp_path: Path,
    producer: AIOKafkaProducer,
) -> None:
    settings: ProgressSettings = settings_for(ProgressSettings)
    topics = settings.topics
    history, other = IngestHistory("acme"), IngestHistory("globex")
    events, others = a_study(history), a_study(other)
    # Members published out of anatomical and of archive order, some twice; each ingest's
    # upload on the requests topic, the rest on the events topic.
    members = events[2:-1] + others[2:-1]
    random.Random(5).shuffle(members)  # noqa: S311 - a fixed test order
    members += members[::4]
    db = await asyncpg.connect(test_env["DATABASE_URL"])
    port = free_port()
    try:
        with worker(test_env, tmp_path, f"index-{uuid.uuid4().hex[:8]}", port) as (proc, log):
            await healthy(proc, port, log)
            for event in [events[1], others[1], *members]:
                await publish(producer, topics.ingest_events, event)
            await producer.send_and_wait(
                topics.ingest_events, b"\xffnot an event", key=ingest_event_key(events[1])
            )
            for event in (events[-1], others[-1]):
                await publish(producer, topics.ingest_events, event)
            for event in (events[0], others[0]):
                assert isinstance(event, ArchiveUploaded)
                await publish(producer, topics.ingest_requests, event)

            async def indexed() -> bool:
                rows = await db.fetch(
                    "SELECT status, file_name FROM ingests WHERE status = 'completed'"
                )
                return len(rows) == 2 and all(r["file_name"] for r in rows)

            await wait_for(indexed, "both ingests completed with their upload", logs=log)
            (parked,) = await dead_letters(
                settings.kafka_bootstrap_servers, topics.dead_letter, expected=1
            )
            assert parked.value == b"\xffnot an event"
            assert dict(parked.headers)["origin"].decode().startswith(f"{topics.ingest_events}/")

        recorded = await db.fetchval("SELECT count(*) FROM ingest_events")
        assert recorded == len(events) + len(others)  # each once, the duplicates dropped
        for tenant, ingest in (("acme", history), ("globex", other)):
            row = await db.fetchrow(
                "SELECT * FROM ingests WHERE ingest_id = $1 AND tenant = $2",
                ingest.ingest_id,
                tenant,
            )
            assert row is not None
            assert (row["instances"], row["rejected"], row["bytes_stored"]) == (
                SLICES,
                1,
                SLICES * 526182,
            )
            positions = await db.fetch(
                "SELECT position, instance_number FROM study_instances "
                "WHERE tenant = $1 AND series_instance_uid = $2 ORDER BY position",
                tenant,
                AXIAL,
            )
            assert [r["position"] for r in positions] == [1.25 * i for i in range(SLICES)]
            assert [r["instance_number"] for r in positions] == list(range(SLICES, 0, -1))
        studies = await db.fetch("SELECT tenant, study_instance_uid, instance_count FROM studies")
        assert sorted(tuple(r) for r in studies) == [
            ("acme", STUDY, SLICES),
            ("globex", STUDY, SLICES),
        ]

        report = await check(settings)
        assert report.equal, report.render()
        diffs = {d.table: d for d in report.diffs}
        assert diffs["study_instances"].rebuilt_rows == 2 * SLICES
        assert diffs["ingest_events"].rebuilt_rows == recorded
        assert report.skipped == 1  # the garbage, as the worker dead-lettered it
    finally:
        await db.close()
