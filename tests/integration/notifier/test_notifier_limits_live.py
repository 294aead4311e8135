"""Limits of a connection: a slow reader's slices coalesced (terminal events never), 1013 for
one still too far behind, the idle timeout, the frame size limit and the Origin check."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import socket
import uuid
from typing import Any, cast

import orjson
import pytest
from notifier_harness import (
    Notifier,
    StartNotifier,
    frames_until,
    is_end,
    job_events,
    next_frame,
    subscribe,
)
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.typing import Origin

import polling

pytestmark = pytest.mark.integration

SLOW = {
    "notifier_send_buffer_bytes": 4096,  # so the kernel does not absorb the backlog
    "notifier_coalesce_after": 20,
    "notifier_max_queue": 200,
}


def stalled_client(notifier: Notifier, tenant: str) -> Any:
    """A client that reads nothing until told: a tiny receive buffer, no compression, and a
    one-frame queue, so the notifier's writes back up at once."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", notifier.port))
    headers = {"Authorization": f"Bearer {notifier.token(tenant)}"}
    return connect(
        notifier.url, sock=sock, additional_headers=headers, compression=None, max_queue=1
    )


async def test_a_slow_reader_gets_coalesced_progress_but_every_other_event(
    start_notifier: StartNotifier,
) -> None:
    slices = 400
    job = uuid.uuid4()
    events = job_events(job, "acme", slices)
    async with start_notifier(**SLOW) as notifier, stalled_client(notifier, "acme") as ws:
        await subscribe(ws, job, since_seq=-1)
        await notifier.publish_many(events)
        # the client reads nothing until the notifier has had to coalesce
        await polling.eventually(_coalesced(notifier), "coalesced slice frames", within_s=20)
        frames = await frames_until(ws, is_end, within_s=20)
    kinds = [(f["op"], f.get("event", {}).get("type")) for f in frames]
    assert kinds[:2] == [("event", "CompressionRequested"), ("event", "JobStarted")]
    assert kinds[-1] == ("event", "JobCompleted")
    progress = [f for f in frames if f["op"] == "progress"]
    assert progress, "no progress frame: the client never lagged"
    # nothing lost: every slice is in an event or in a progress frame, and seqs only go up
    seen: set[int] = set()
    last = -1
    for f in frames:
        assert f["seq"] > last
        last = f["seq"]
        if f["op"] == "event" and f["event"]["type"] == "SliceEncoded":
            seen.add(f["event"]["slice_index"])
        elif f["op"] == "progress":
            seen.update(f["slice_indexes"])
            assert f["slices_done"] == len(seen)  # counts as of its seq (latest wins)
            assert f["slices_total"] == slices
            assert f["coalesced"] == len(f["slice_indexes"])
    assert seen == set(range(slices))
    assert len(frames) < slices  # fewer frames than events: it was coalesced


def _coalesced(notifier: Notifier) -> Any:
    async def check() -> bool:
        samples = await notifier.metrics()
        return samples["dicompress_notifier_slice_frames_coalesced_total"] > 0

    return check


async def test_a_client_too_far_behind_even_coalesced_is_closed_with_1013(
    start_notifier: StartNotifier,
) -> None:
    # 100 jobs x 3 non-slice frames: far more than the kernel and the client's library buffer
    # (~100 frames) plus what the notifier may hold (50)
    jobs = [uuid.uuid4() for _ in range(100)]
    limits = SLOW | {"notifier_max_queue": 50}
    async with start_notifier(**limits) as notifier, stalled_client(notifier, "acme") as ws:
        for job in jobs:
            await subscribe(ws, job, since_seq=-1)
        await notifier.publish_many([e for job in jobs for e in job_events(job, "acme", 1)])

        async def slow_closed() -> bool:
            samples = await notifier.metrics()
            return samples["dicompress_notifier_slow_client_disconnects_total"] == 1

        await polling.eventually(slow_closed, "a 1013 close", within_s=20)
        await _drain(ws)
        assert ws.close_code == 1013
        assert ws.close_reason.startswith("too far behind")


async def _drain(ws: ClientConnection, within_s: float = 10) -> None:
    """Read until the connection closes."""
    async with asyncio.timeout(within_s):
        with contextlib.suppress(ConnectionClosed):
            while True:
                await ws.recv()


async def test_an_idle_connection_is_closed_but_one_with_a_subscription_is_not(
    start_notifier: StartNotifier,
) -> None:
    async with start_notifier(notifier_idle_timeout_s=0.5) as notifier:
        async with notifier.connect("acme") as ws:
            await asyncio.wait_for(ws.wait_closed(), 5)
            assert (ws.close_code, ws.close_reason) == (
                1000,
                "idle: no subscription and no frame for 0.5 s",
            )
        async with notifier.connect("acme") as ws:
            job = uuid.uuid4()
            await subscribe(ws, job)  # a job nobody knows yet: waits
            assert (await next_frame(ws))["op"] == "snapshot"
            # three idle periods pass, each shown by an idle connection opened after this one
            # being closed, and this one stays open
            for _ in range(3):
                async with notifier.connect("acme") as idle:
                    await asyncio.wait_for(idle.wait_closed(), 5)
                    assert idle.close_code == 1000
            assert ws.close_code is None
            await ws.send(orjson.dumps({"op": "unsubscribe", "job_id": str(job)}).decode())
            assert (await next_frame(ws))["op"] == "unsubscribed"
            await asyncio.wait_for(ws.wait_closed(), 5)
            assert ws.close_code == 1000


async def test_a_frame_over_the_size_limit_closes_with_1009(
    start_notifier: StartNotifier,
) -> None:
    limited = start_notifier(notifier_max_frame_bytes=1024)
    async with limited as notifier, notifier.connect("acme") as ws:
        job = uuid.uuid4()
        await subscribe(ws, job)  # well under the limit
        await ws.send(orjson.dumps({"op": "cancel", "job_id": str(job), "pad": "x" * 2000}))
        await asyncio.wait_for(ws.wait_closed(), 5)
        assert ws.close_code == 1009


async def test_origins_outside_the_allowed_list_are_refused(
    start_notifier: StartNotifier,
) -> None:
    allowed = "http://127.0.0.1:18080"
    async with start_notifier(notifier_allowed_origins=[allowed]) as notifier:
        headers = {"Authorization": f"Bearer {notifier.token('acme')}"}

        async def handshake(origin: str | None) -> int:
            """101 if the connection opens (and serves a subscription), else the status."""
            try:
                async with connect(
                    notifier.url,
                    origin=cast(Origin | None, origin),
                    additional_headers=headers,
                ) as ws:
                    await subscribe(ws, uuid.uuid4())
            except InvalidStatus as exc:
                return exc.response.status_code
            return 101

        assert await handshake(allowed) == 101
        assert await handshake(None) == 101  # not a browser
        assert await handshake("http://evil.example") == 403
        assert await handshake("http://127.0.0.1:18081") == 403


async def test_a_client_that_never_answers_pings_is_closed_with_1011(
    start_notifier: StartNotifier,
) -> None:
    """A raw socket does the handshake and then nothing: no pong to the server's pings."""
    pinging = start_notifier(notifier_ping_interval_s=0.2, notifier_ping_timeout_s=0.2)
    async with pinging as notifier:
        reader, writer = await asyncio.open_connection("127.0.0.1", notifier.port)
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(
            (
                "GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\n"
                f"Authorization: Bearer {notifier.token('acme')}\r\n\r\n"
            ).encode()
        )
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert head.startswith(b"HTTP/1.1 101")
        received = await asyncio.wait_for(reader.read(), 10)  # until the server hangs up
        writer.close()
    frames = _control_frames(received)
    assert frames[0][0] == 0x9  # a ping came first
    assert frames[-1][0] == 0x8  # then a close frame, code 1011
    assert int.from_bytes(frames[-1][1][:2], "big") == 1011


def _control_frames(data: bytes) -> list[tuple[int, bytes]]:
    """(opcode, payload) of the server's frames: unmasked, short (control frames only)."""
    frames = []
    while data:
        opcode, length = data[0] & 0x0F, data[1] & 0x7F
        assert length < 126, "only short frames expected here"
        frames.append((opcode, data[2 : 2 + length]))
        data = data[2 + length :]
    return frames
