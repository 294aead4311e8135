"""The notifier against real Kafka and Postgres: ordering, late subscribers, tenancy, auth."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import uuid

import orjson
import pytest
from notifier_harness import (
    LAST_SEQ,
    StartNotifier,
    assert_nothing_more,
    frames_until,
    is_end,
    job_events,
    seqs,
    subscribe,
    until_healthy,
)
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from dicompress_infra.auth import issue_token
from dicompress_stack.net import free_port
from metrics_scrape import scrape

pytestmark = pytest.mark.integration


async def test_a_subscriber_waiting_for_a_job_gets_all_of_it_in_order(
    start_notifier: StartNotifier,
) -> None:
    job = uuid.uuid4()
    async with start_notifier() as notifier, notifier.connect("acme") as ws:
        await subscribe(ws, job)
        events = job_events(job, "acme")
        await notifier.publish(events)
        snapshot, *frames = await frames_until(ws, is_end)
        # nothing known yet: an empty snapshot, then every event
        assert snapshot == {"op": "snapshot", "job_id": str(job), "seq": -1, "job": None}
        assert seqs(frames) == list(range(LAST_SEQ + 1))
        assert [f["event"] for f in frames] == [e.model_dump(mode="json") for e in events]
        await assert_nothing_more(notifier, ws, "acme")
        samples = await scrape(f"http://127.0.0.1:{notifier.port}/metrics")
        assert samples["dicompress_notifier_connections"] == 1
        assert samples["dicompress_notifier_subscriptions"] == 0  # ended with the job
        # 'subscribed' + the job's events (+ 'ended' if the protocol sends one)
        assert samples["dicompress_notifier_frames_sent_total"] >= len(frames) + 1
        assert samples["dicompress_notifier_events_relayed_total"] >= len(events)
        assert samples["dicompress_notifier_slow_client_disconnects_total"] == 0


async def test_late_subscribers_get_exactly_what_they_lack_from_the_warm_cache(
    start_notifier: StartNotifier,
) -> None:
    job = uuid.uuid4()
    async with start_notifier() as notifier:
        await notifier.publish(job_events(job, "acme"))
    # a fresh instance must find the finished job by rewinding Kafka (nothing in Postgres)
    async with start_notifier() as notifier:
        async with connect(f"{notifier.url}?token={notifier.token('acme')}") as ws:
            await subscribe(ws, job, since_seq=-1)
            assert seqs(await frames_until(ws, is_end)) == list(range(LAST_SEQ + 1))
            await assert_nothing_more(notifier, ws, "acme")
        async with notifier.connect("acme") as ws:
            await subscribe(ws, job, since_seq=3)
            assert seqs(await frames_until(ws, is_end)) == list(range(4, LAST_SEQ + 1))
            await subscribe(ws, job, since_seq=LAST_SEQ)  # has it all: nothing comes
            await assert_nothing_more(notifier, ws, "acme")


async def test_history_missing_from_the_cache_comes_from_postgres(
    start_notifier: StartNotifier,
) -> None:
    old, split = uuid.uuid4(), uuid.uuid4()
    async with start_notifier() as notifier:
        # `old` predates the window: only the projection has it
        await notifier.project(job_events(old, "acme"))
        # `split`: its head only in Postgres, the rest arrives on Kafka
        events = job_events(split, "acme")
        await notifier.project(events[:3])
        async with notifier.connect("acme") as ws:
            await subscribe(ws, old, since_seq=1)
            assert seqs(await frames_until(ws, is_end)) == list(range(2, LAST_SEQ + 1))
            await notifier.publish(events[3:])
            # once a subscriber from seq 3 on has it all, the cache holds 3.. for sure
            await subscribe(ws, split, since_seq=2)
            assert seqs(await frames_until(ws, is_end)) == list(range(3, LAST_SEQ + 1))
            await subscribe(ws, split, since_seq=-1)
            assert seqs(await frames_until(ws, is_end)) == list(range(LAST_SEQ + 1))


async def test_connections_without_a_valid_token_are_refused_with_401(
    start_notifier: StartNotifier,
) -> None:
    async with start_notifier() as notifier:
        forged = issue_token("not-the-secret-0123456789abcdef-0123", "acme", "dicompress")
        for url, headers in [
            (notifier.url, {}),
            (notifier.url, {"Authorization": f"Bearer {forged}"}),
            (f"{notifier.url}?token={forged}", {}),
            (f"{notifier.url}?token=", {}),
        ]:
            with pytest.raises(InvalidStatus) as refused:
                async with connect(url, additional_headers=headers):
                    pass
            assert refused.value.response.status_code == 401


async def test_a_malformed_frame_gets_an_error_and_the_connection_stays_usable(
    start_notifier: StartNotifier,
) -> None:
    job = uuid.uuid4()
    async with start_notifier() as notifier, notifier.connect("acme") as ws:
        for bad, code in [
            ("{not json", "bad-frame"),
            ('{"op": "dance"}', "unknown-op"),
            ('{"op": "subscribe", "job_id": "12345"}', "bad-frame"),
            (orjson.dumps({"op": "subscribe", "job_id": str(job), "since_seq": "x"}), "bad-frame"),
        ]:
            await ws.send(bad)
            frame = orjson.loads(await asyncio.wait_for(ws.recv(), 5))
            assert (frame["op"], frame["code"]) == ("error", code)
        await subscribe(ws, job, since_seq=-1)
        await notifier.publish(job_events(job, "acme"))
        assert seqs(await frames_until(ws, is_end)) == list(range(LAST_SEQ + 1))


async def test_the_service_runs_as_a_module_and_stops_cleanly_on_sigterm(
    test_env: dict[str, str],
) -> None:
    port = free_port()
    env = {**os.environ, **test_env, "NOTIFIER_PORT": str(port), "LOG_LEVEL": "WARNING"}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "dicompress_notifier", env=env
    )
    try:
        waiting = asyncio.create_task(process.wait())
        await until_healthy(port, waiting)
        token = issue_token(
            test_env["JWT_SECRET"], "acme", test_env.get("JWT_AUDIENCE", "dicompress")
        )
        async with connect(f"ws://127.0.0.1:{port}/ws?token={token}") as ws:
            await subscribe(ws, uuid.uuid4())
            process.send_signal(signal.SIGTERM)
            await asyncio.wait_for(ws.wait_closed(), 10)
            assert ws.close_code == 1001
        assert await asyncio.wait_for(waiting, 10) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
