"""A small client of the running stack: submit a job over HTTP, follow it over WebSocket.

The demo and `dicompress submit/watch` use it; it speaks the same protocol as the web viewer.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from typing import Any

from websockets.asyncio.client import connect

TERMINAL_TYPES = frozenset({"JobCompleted", "JobFailed", "JobCancelled"})


class ClientError(Exception):
    """The API or the notifier answered with an error."""


def _request(method: str, url: str, token: str, body: dict[str, Any] | None = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)  # noqa: S310 (http URL of our stack)
    req.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310
            return json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode(errors="replace")
        raise ClientError(f"{method} {url} -> {exc.code}: {detail}") from exc


def submit_job(api_url: str, token: str, request: dict[str, Any]) -> dict[str, Any]:
    """POST /jobs; returns the API's answer (with `jobId`)."""
    answer = _request("POST", f"{api_url}/jobs", token, request)
    if not isinstance(answer, dict) or "jobId" not in answer:
        raise ClientError(f"unexpected answer to POST /jobs: {answer!r}")
    return answer


def get_job(api_url: str, token: str, job_id: str) -> dict[str, Any]:
    """GET /jobs/{id}: the projection's view of the job."""
    answer = _request("GET", f"{api_url}/jobs/{job_id}", token)
    if not isinstance(answer, dict):
        raise ClientError(f"unexpected answer to GET /jobs/{job_id}: {answer!r}")
    return answer


async def watch_job(
    ws_url: str, token: str, job_id: str, since_seq: int = -1
) -> AsyncIterator[dict[str, Any]]:
    """Yield the job's events in sequence order until its terminal event."""
    async with connect(ws_url, additional_headers={"Authorization": f"Bearer {token}"}) as ws:
        await ws.send(json.dumps({"op": "subscribe", "job_id": job_id, "since_seq": since_seq}))
        async for frame in ws:
            message = json.loads(frame)
            if message.get("op") == "error":
                raise ClientError(f"notifier: {message.get('code')}: {message.get('message')}")
            if message.get("op") != "event":
                continue
            event = message["event"]
            yield event
            if event["type"] in TERMINAL_TYPES:
                return
