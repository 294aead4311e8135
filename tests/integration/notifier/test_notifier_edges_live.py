"""The notifier's edges (issue 16) against real Kafka and Postgres: the tenant rule at the
handshake (the table the API's token test runs too), the range of `since_seq`, and another
tenant's job answered exactly as a job nobody has heard of."""

from __future__ import annotations

import time
import uuid
from typing import Any

import jwt
import orjson
import pytest
from notifier_harness import (
    LAST_SEQ,
    Notifier,
    StartNotifier,
    frames_before_marker,
    frames_until,
    is_end,
    is_op,
    job_events,
    next_frame,
    send,
    seqs,
    subscribe,
)
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from tenant_names import ACCEPTED, REFUSED

pytestmark = pytest.mark.integration


async def handshake_status(notifier: Notifier, tenant: str, *, in_query: bool) -> int:
    """101 if a token for `tenant` opens a connection, else the HTTP status of the refusal."""
    # the name in the tenant claim only (`issue_token` repeats it as `sub`), so that 5,000
    # characters stay within the server's header limit and meet the tenant rule, not that limit
    now = int(time.time())
    claims = {"sub": "t", "tenant": tenant, "aud": notifier.settings.jwt_audience, "exp": now + 60}
    token = jwt.encode(claims, notifier.settings.jwt_secret.get_secret_value(), "HS256")
    url, headers = notifier.url, {"Authorization": f"Bearer {token}"}
    if in_query:  # as browsers send it
        url, headers = f"{notifier.url}?token={token}", {}
    try:
        async with connect(url, additional_headers=headers) as ws:
            job = uuid.uuid4()
            await subscribe(ws, job)  # an open connection that serves frames
            return 101
    except InvalidStatus as refused:
        return refused.response.status_code


async def test_the_handshake_refuses_every_tenant_name_the_api_refuses(
    start_notifier: StartNotifier,
) -> None:
    async with start_notifier() as notifier:
        got = {
            (case, in_query): await handshake_status(notifier, name, in_query=in_query)
            for table in (REFUSED, ACCEPTED)
            for case, name in table.items()
            for in_query in (False, True)
        }
    expected = {
        (case, in_query): 401 if case in REFUSED else 101
        for case in (*REFUSED, *ACCEPTED)
        for in_query in (False, True)
    }
    assert got == expected


async def test_a_since_seq_out_of_range_is_an_error_frame_and_the_connection_stays_open(
    start_notifier: StartNotifier,
) -> None:
    job = uuid.uuid4()
    async with start_notifier() as notifier, notifier.connect("acme") as ws:
        await notifier.project(job_events(job, "acme"))
        for since in (2**31, 2**63, 2**64, -2, -(2**63)):
            await ws.send(f'{{"op": "subscribe", "job_id": "{job}", "since_seq": {since}}}')
            error = await next_frame(ws)
            assert (error["op"], error["code"]) == ("error", "bad-frame"), since
            assert "2147483647" in error["message"]
        # the largest valid seq is past the job's end: said so, not a crash
        await subscribe(ws, job, since_seq=2**31 - 1)
        gap = await next_frame(ws)
        assert (gap["op"], gap["reason"]) == ("gap", "beyond-end")
        assert (await next_frame(ws))["op"] == "snapshot"
        # and the same connection still serves the whole job
        await send(ws, op="unsubscribe", job_id=str(job))
        assert (await next_frame(ws))["op"] == "unsubscribed"
        await subscribe(ws, job, since_seq=-1)
        assert seqs(await frames_until(ws, is_end)) == list(range(LAST_SEQ + 1))


async def answers(notifier: Notifier, ws: ClientConnection, job: uuid.UUID) -> list[Any]:
    """All the notifier says to subscribe (new, from the start, resuming), unsubscribe and
    cancel for `job`, with its id masked: what comes before a marker job (of the intruder)
    arrives, before `unsubscribed` (nothing of a cancelled subscription follows it), and the
    cancel's one answer."""
    said: list[dict[str, Any]] = []
    for extra in ({}, {"since_seq": -1}, {"since_seq": 3}):
        await send(ws, op="subscribe", job_id=str(job), **extra)
        said += await frames_before_marker(notifier, ws, "intruder")
        await send(ws, op="unsubscribe", job_id=str(job))
        said += await frames_until(ws, is_op("unsubscribed"))
    await send(ws, op="cancel", job_id=str(job))
    said += await frames_until(ws, lambda f: f["op"] in ("error", "cancel-requested"))
    return [orjson.loads(orjson.dumps(f).decode().replace(str(job), "JOB")) for f in said]


async def test_another_tenants_job_is_answered_exactly_as_an_unknown_one(
    start_notifier: StartNotifier,
) -> None:
    projected, cached, later = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    async with start_notifier() as notifier:
        await notifier.project(job_events(projected, "acme"))  # only Postgres has it
        await notifier.publish(job_events(cached, "acme", complete=False))  # only the cache
        async with notifier.connect("acme") as owner:
            await subscribe(owner, cached, since_seq=-1)  # the notifier has it all: seq 0..6
            assert seqs(await frames_until(owner, lambda f: f["seq"] == LAST_SEQ - 1))
            async with notifier.connect("intruder") as ws:
                unknown = await answers(notifier, ws, uuid.uuid4())
                assert unknown[:2] == [
                    {"op": "subscribed", "job_id": "JOB"},
                    {"op": "snapshot", "job_id": "JOB", "seq": -1, "job": None},
                ]
                assert unknown[-1]["code"] == "not-found"
                assert await answers(notifier, ws, projected) == unknown
                assert await answers(notifier, ws, cached) == unknown

                # a job subscribed before anyone knows it, that then proves to be acme's
                await subscribe(ws, later)
                before = await frames_until(ws, is_op("snapshot"))
                await subscribe(owner, later, since_seq=-1)
                await notifier.publish(job_events(later, "acme"))
                await frames_until(owner, is_end)
                await notifier.project(job_events(later, "acme"))
                # the intruder learns the owner from the projection: a marker learnt the
                # same way comes whole, and nothing of `later` before it
                after = await frames_before_marker(notifier, ws, "intruder", projected=True)
                assert before + after == [
                    {"op": "snapshot", "job_id": str(later), "seq": -1, "job": None}
                ]
                await send(ws, op="unsubscribe", job_id=str(later))
                assert (await frames_until(ws, is_op("unsubscribed")))[-1]["job_id"] == str(later)
