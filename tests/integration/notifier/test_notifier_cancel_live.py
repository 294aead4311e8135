"""The `cancel` op: the owner's cancel puts CancelRequested on the control topic (as the API
does); another tenant's gets not-found, as an unknown job does, and publishes nothing."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from aiokafka import AIOKafkaConsumer
from notifier_harness import (
    Notifier,
    StartNotifier,
    assert_nothing_more,
    job_events,
    next_frame,
    send,
    subscribe,
)

from dicompress_notifier.feed import find_partitions
from dicompress_schemas import decode_command
from dicompress_schemas.commands import CancelRequested

pytestmark = pytest.mark.integration


async def control_commands(notifier: Notifier) -> list[tuple[bytes | None, CancelRequested]]:
    """Every command on the test's control topic so far, with its key."""
    bootstrap = notifier.settings.kafka_bootstrap_servers
    partitions = await find_partitions(bootstrap, [notifier.settings.topics.control])
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await consumer.start()
    try:
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        found: list[tuple[bytes | None, CancelRequested]] = []
        async with asyncio.timeout(10):
            while [tp for tp, end in ends.items() if await consumer.position(tp) < end]:
                for records in (await consumer.getmany(timeout_ms=200)).values():
                    found += [(r.key, decode_command(r.value or b"")) for r in records]
        return found
    finally:
        await consumer.stop()


async def test_the_owner_cancels_a_running_job_through_the_control_topic(
    start_notifier: StartNotifier,
) -> None:
    job, done = uuid.uuid4(), uuid.uuid4()
    async with start_notifier() as notifier, notifier.connect("acme") as ws:
        await notifier.project(job_events(job, "acme", complete=False))
        await notifier.project(job_events(done, "acme"))
        await send(ws, op="cancel", job_id=str(job), reason="wrong series")
        answer = await next_frame(ws)
        assert (answer["op"], answer["job_id"]) == ("cancel-requested", str(job))
        commands = await control_commands(notifier)
        assert [(key, c.command_id, c.job_id, c.tenant, c.reason) for key, c in commands] == [
            (str(job).encode(), uuid.UUID(answer["command_id"]), job, "acme", "wrong series")
        ]
        # a finished job cannot be cancelled: an error frame, and nothing published
        await send(ws, op="cancel", job_id=str(done))
        refused = await next_frame(ws)
        assert (refused["op"], refused["code"]) == ("error", "not-cancellable")
        assert len(await control_commands(notifier)) == 1


async def test_another_tenant_can_neither_watch_nor_cancel_a_job(
    start_notifier: StartNotifier,
) -> None:
    job = uuid.uuid4()
    async with start_notifier() as notifier, notifier.connect("intruder") as ws:
        events = job_events(job, "acme", complete=False)
        await notifier.project(events)
        await notifier.publish(events)
        await subscribe(ws, job)
        # watched: only what a job nobody has heard of gets (test_notifier_edges_live)
        assert await next_frame(ws) == {
            "op": "snapshot",
            "job_id": str(job),
            "seq": -1,
            "job": None,
        }
        await send(ws, op="cancel", job_id=str(job))
        refused = await next_frame(ws)
        assert (refused["op"], refused["code"], refused["job_id"]) == (
            "error",
            "not-found",
            str(job),
        )
        # the same answer as for a job that does not exist at all
        await send(ws, op="cancel", job_id=str(uuid.uuid4()))
        assert (await next_frame(ws))["code"] == "not-found"
        for bad in ('{"op": "cancel"}', '{"op": "cancel", "job_id": "x", "reason": 5}'):
            await ws.send(bad)
            assert (await next_frame(ws))["code"] == "bad-frame"
        await assert_nothing_more(notifier, ws, "intruder")
        assert await control_commands(notifier) == []
