"""Read-your-writes (issue 16): a frame that tells a client a job ended means `GET /jobs/{id}`
answers that end from then on. 200 jobs are followed over the WebSocket and over SSE, and each
client reads `GET /jobs/{id}` the instant it receives the job's terminal frame: no answer may
still say the job is running.

Real processes on the real backends: the progress service projecting, the notifier relaying
(it holds a terminal event until the projection has applied it), the API answering. The jobs'
events are published to Kafka as the API and a compressor publish them (no compressor runs: the
test is about who says what, when): the requests first (SSE serves only a job the projection
knows), then, with every client listening, all the rest at once, so the live stream runs ahead
of the projection as it does under load."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect

from dicompress_infra.auth import issue_token
from dicompress_infra.kafka import make_producer
from dicompress_infra.settings import CommonSettings
from dicompress_schemas import CompressionRequested, EventBase, encode_event, event_key
from dicompress_schemas.histories import JobHistory
from dicompress_schemas.jobs import TERMINAL_EVENT_TYPES

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

JOBS = 200
SLICES = 3
TENANT = "clinic-ryw"
PER_CONNECTION = 50  # the notifier allows 100 subscriptions a connection
UNLIMITED = {"API_RATE_LIMIT_PER_S": "100000", "API_RATE_LIMIT_BURST": "100000"}


def _history(job_id: uuid.UUID) -> list[EventBase]:
    h = JobHistory(job_id, TENANT, start=datetime.now(UTC), total=SLICES)
    h.requested(10)
    h.started()
    for index in range(SLICES):
        h.encoded(index)
    h.completed(artifact_uri=f"s3://results/{TENANT}/results/{job_id}.zip")
    return [*h.events]


async def _publish(settings: CommonSettings, histories: list[list[EventBase]]) -> None:
    """Every history's events, without waiting for each acknowledgement in turn."""
    producer = make_producer(settings.kafka_bootstrap_servers)
    await producer.start()
    try:
        topics = settings.topics
        sent = []
        for events in histories:
            for event in events:
                topic = (
                    topics.requests if isinstance(event, CompressionRequested) else topics.events
                )
                sent.append(await producer.send(topic, encode_event(event), key=event_key(event)))
        await asyncio.gather(*sent)
    finally:
        await producer.stop()


class Reads:
    """Each client's `GET /jobs/{id}` at the instant its terminal frame arrived."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http
        self.answers: dict[tuple[str, uuid.UUID], str] = {}

    async def read(self, path: str, job_id: uuid.UUID) -> None:
        answer = await self.http.get(f"/jobs/{job_id}")
        self.answers[(path, job_id)] = (
            answer.json()["status"] if answer.status_code == 200 else f"HTTP {answer.status_code}"
        )


async def _follow_ws(
    ws_url: str, token: str, jobs: list[uuid.UUID], subscribed: Callable[[], None], reads: Reads
) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    async with connect(ws_url, additional_headers=headers) as ws:
        for job_id in jobs:
            await ws.send(json.dumps({"op": "subscribe", "job_id": str(job_id), "since_seq": -1}))
        left = set(jobs)
        async for raw in ws:
            frame = json.loads(raw)
            assert frame.get("op") != "error", frame
            if frame["op"] == "subscribed":
                subscribed()
            if frame["op"] == "event" and frame["event"]["type"] in TERMINAL_EVENT_TYPES:
                job_id = uuid.UUID(frame["job_id"])
                await reads.read("ws", job_id)  # at once, before reading the next frame
                left.discard(job_id)
                if not left:
                    return


async def _follow_sse(
    http: httpx.AsyncClient, job_id: uuid.UUID, opened: Callable[[], None], reads: Reads
) -> None:
    async with http.stream("GET", f"/jobs/{job_id}/stream") as response:
        assert response.status_code == 200
        opened()
        event = ""
        async for line in response.aiter_lines():
            if line.startswith("event: "):
                event = line.removeprefix("event: ")
            elif line == "" and event in TERMINAL_EVENT_TYPES:
                await reads.read("sse", job_id)
                return


async def test_every_terminal_frame_is_read_back_from_the_api_at_once(
    test_env: dict[str, str], service_runner: Any, settings_for: Any
) -> None:
    service_runner.start("progress")
    notifier = service_runner.start("notifier")
    api = service_runner.start("api", env=UNLIMITED)
    token = issue_token(test_env["JWT_SECRET"], TENANT, "dicompress")
    jobs = [uuid.uuid4() for _ in range(JOBS)]
    ready = asyncio.Semaphore(0)
    limits = httpx.Limits(max_connections=JOBS + 50)
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(
        base_url=api.base_url, headers=headers, timeout=60, limits=limits
    ) as http:
        reads = Reads(http)
        ws_url = f"ws://127.0.0.1:{notifier.port}/ws"
        histories = [_history(j) for j in jobs]
        settings = settings_for(CommonSettings)
        await _publish(settings, [events[:1] for events in histories])  # the requests
        async with asyncio.timeout(60):
            for job_id in jobs:
                # the API is what is observed: asked until it knows the job (no event to wait on)
                while (await http.get(f"/jobs/{job_id}")).status_code != 200:  # noqa: ASYNC110
                    await asyncio.sleep(0.05)
        clients = [
            asyncio.create_task(
                _follow_ws(ws_url, token, jobs[i : i + PER_CONNECTION], ready.release, reads)
            )
            for i in range(0, JOBS, PER_CONNECTION)
        ]
        clients += [asyncio.create_task(_follow_sse(http, j, ready.release, reads)) for j in jobs]
        async with asyncio.timeout(60):  # every subscription acknowledged, every stream open
            for _ in range(2 * JOBS):
                await ready.acquire()
        await _publish(settings, [events[1:] for events in histories])
        async with asyncio.timeout(180):
            await asyncio.gather(*clients)

    assert len(reads.answers) == 2 * JOBS  # every job's end, heard on both paths
    stale = {key: status for key, status in reads.answers.items() if status != "completed"}
    assert stale == {}, f"{len(stale)} stale answers, e.g. {list(stale.items())[:3]}"
