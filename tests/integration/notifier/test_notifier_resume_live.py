"""Snapshot on subscribe, resume from any seq, and an explicit gap where resuming cannot work,
against real Kafka and Postgres (fed by the real projection code, which NOTIFYs)."""

from __future__ import annotations

import uuid

import pytest
from notifier_harness import (
    LAST_SEQ,
    SLICES,
    StartNotifier,
    assert_nothing_more,
    frames_until,
    is_end,
    is_op,
    job_events,
    next_frame,
    seqs,
    subscribe,
)

pytestmark = pytest.mark.integration


async def test_a_snapshot_then_every_later_event_without_gap_or_duplicate(
    start_notifier: StartNotifier,
) -> None:
    job = uuid.uuid4()
    events = job_events(job, "acme")
    async with start_notifier() as notifier, notifier.connect("acme") as ws:
        head, rest = events[:4], events[4:]  # seq 0..3: requested, started, 2 slices
        await notifier.publish(head)
        await notifier.project(head)
        await subscribe(ws, job)
        snapshot = await next_frame(ws)
        assert snapshot["op"] == "snapshot"
        assert snapshot["seq"] == 3
        job_state = snapshot["job"]
        assert job_state["status"] == "running"
        assert (job_state["slices_total"], job_state["slices_done"]) == (SLICES, 2)
        assert (job_state["bytes_in"], job_state["bytes_out"]) == (2000, 100)
        # the contract's ratio so far (pixel / codestream bytes, from the slices' own ratios),
        # not the file sizes' quotient (2000 / 100): the figures GET /jobs/{id} answers too
        assert job_state["ratio"] == pytest.approx(100.0)
        assert job_state["figures"]["ratio"] == pytest.approx(100.0)
        await notifier.publish(rest)
        assert seqs(await frames_until(ws, is_end)) == list(range(4, LAST_SEQ + 1))
        await assert_nothing_more(notifier, ws, "acme")
        # a finished job: the snapshot shows the end, and nothing follows
        await notifier.project(rest)
        await subscribe(ws, job)
        snapshot = await next_frame(ws)
        assert (snapshot["seq"], snapshot["job"]["status"]) == (LAST_SEQ, "completed")
        assert snapshot["job"]["artifact_uri"] == f"s3://bucket-out/zips/{job}.zip"
        await assert_nothing_more(notifier, ws, "acme")


async def test_resume_from_every_seq_returns_exactly_the_missing_events(
    start_notifier: StartNotifier,
) -> None:
    in_postgres, in_cache = uuid.uuid4(), uuid.uuid4()
    async with start_notifier() as notifier:
        await notifier.project(job_events(in_postgres, "acme"))  # older than the window
        await notifier.publish(job_events(in_cache, "acme"))  # not projected yet
        async with notifier.connect("acme") as ws:
            for job in (in_postgres, in_cache):
                for since in range(-1, LAST_SEQ):
                    await subscribe(ws, job, since_seq=since)
                    frames = await frames_until(ws, is_end)
                    assert seqs(frames) == list(range(since + 1, LAST_SEQ + 1)), (job, since)
                await subscribe(ws, job, since_seq=LAST_SEQ)  # has it all: nothing comes
                await assert_nothing_more(notifier, ws, "acme")


async def test_an_unfillable_resume_gets_a_gap_frame_and_a_fresh_snapshot(
    start_notifier: StartNotifier,
) -> None:
    purged, running = uuid.uuid4(), uuid.uuid4()
    async with start_notifier() as notifier, notifier.connect("acme") as ws:
        await notifier.project(job_events(purged, "acme"))
        # the log no longer holds seqs 2 and 3 of a finished job
        await notifier.db.execute(
            "DELETE FROM job_events WHERE job_id = $1 AND seq IN (2, 3)", purged
        )
        await subscribe(ws, purged, since_seq=1)
        gap, snapshot = await next_frame(ws), await next_frame(ws)
        assert (gap["op"], gap["reason"], gap["since_seq"]) == ("gap", "not-in-log", 1)
        assert "seq 2 to 3" in gap["message"]
        assert (snapshot["op"], snapshot["seq"]) == ("snapshot", LAST_SEQ)
        assert snapshot["job"]["status"] == "completed"
        await assert_nothing_more(notifier, ws, "acme")
        # beyond the end
        await subscribe(ws, purged, since_seq=LAST_SEQ + 5)
        frames = [await next_frame(ws), await next_frame(ws)]
        assert [(f["op"], f.get("reason")) for f in frames] == [
            ("gap", "beyond-end"),
            ("snapshot", None),
        ]
        # beyond what a running job has: gap, snapshot, then its live events from there
        events = job_events(running, "acme")
        await notifier.project(events[:4])
        await subscribe(ws, running, since_seq=40)
        gap = await next_frame(ws)
        assert (gap["reason"], gap["since_seq"]) == ("beyond-log", 40)
        snapshot = await next_frame(ws)
        assert (snapshot["seq"], snapshot["job"]["status"]) == (3, "running")
        await notifier.publish(events)
        assert seqs(await frames_until(ws, is_end)) == list(range(4, LAST_SEQ + 1))
        await assert_nothing_more(notifier, ws, "acme")


async def test_an_event_only_the_projection_has_arrives_by_its_notification(
    start_notifier: StartNotifier,
) -> None:
    """No polling: the projection's NOTIFY wakes the subscription, which reads Postgres."""
    job = uuid.uuid4()
    events = job_events(job, "acme")
    async with start_notifier() as notifier, notifier.connect("acme") as ws:
        await subscribe(ws, job, since_seq=-1)
        await notifier.project(events[:2])  # never on Kafka
        frames = await frames_until(ws, is_op("event"))
        frames += await frames_until(ws, is_op("event"))
        assert seqs(frames) == [0, 1]
        await notifier.project(events[2:])
        assert seqs(await frames_until(ws, is_end)) == list(range(2, LAST_SEQ + 1))
