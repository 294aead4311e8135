"""The audit endpoints of the API over a projection written by the real store (real Postgres)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import pytest

from dicompress_api.app import create_app
from dicompress_api.settings import ApiSettings
from dicompress_infra.auth import issue_token
from dicompress_progress.migrate import apply_migrations
from dicompress_progress.store import Delivered, Origin, ProjectionStore
from dicompress_schemas import CancelRequested, Event
from dicompress_schemas.histories import JobHistory

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def history(job: uuid.UUID) -> list[Event]:
    """A running job's first events, the `seq`-th one `seq` seconds after T0."""
    h = JobHistory(job, "acme", start=T0, step=timedelta(seconds=1), total=3)
    h.requested(20)
    h.started()
    for i in range(3):
        h.encoded(i)
    return h.events


@pytest.fixture
async def api(
    test_env: dict[str, str], settings_for: Callable[..., ApiSettings]
) -> AsyncIterator[tuple[httpx.AsyncClient, ApiSettings, asyncpg.Pool]]:
    settings: ApiSettings = settings_for(ApiSettings)
    app = create_app(settings)
    async with asyncpg.create_pool(test_env["DATABASE_URL"], min_size=1, max_size=2) as pool:
        async with pool.acquire() as conn:
            await apply_migrations(conn)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://api") as client,
        ):
            yield client, settings, pool


def bearer(settings: ApiSettings, tenant: str) -> dict[str, str]:
    token = issue_token(settings.jwt_secret.get_secret_value(), tenant, settings.jwt_audience)
    return {"Authorization": f"Bearer {token}"}


async def test_the_audit_trail_lists_every_event_in_order_with_offsets(
    api: tuple[httpx.AsyncClient, ApiSettings, asyncpg.Pool],
) -> None:
    client, settings, pool = api
    job, store = uuid.uuid4(), ProjectionStore(pool)
    events = history(job)
    # Recorded out of order (the request after the start, as two topics allow).
    order = [1, 0, 2, 3, 4]
    await store.record(
        [
            Delivered(events[i], Origin("t.compression.events", 2, 10 + n))
            for n, i in enumerate(order)
        ]
    )
    cancel = CancelRequested(job_id=job, tenant="acme", requested_at=T0 + timedelta(seconds=9))
    await store.record([Delivered(cancel, Origin("t.compression.control", 0, 3))])

    response = await client.get(f"/jobs/{job}/events", headers=bearer(settings, "acme"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert [e["seq"] for e in body["events"]] == [0, 1, 2, 3, 4]
    assert [e["type"] for e in body["events"]][:2] == ["CompressionRequested", "JobStarted"]
    assert [e["offset"] for e in body["events"]] == [11, 10, 12, 13, 14]
    assert body["events"][0]["eventId"] == str(events[0].event_id)
    assert body["events"][2]["payload"]["slice_index"] == 0
    assert [(c["type"], c["offset"]) for c in body["commands"]] == [("CancelRequested", 3)]

    # Another tenant (or no such job) sees nothing: 404, as problem details.
    other = await client.get(f"/jobs/{job}/events", headers=bearer(settings, "globex"))
    assert other.status_code == 404
    assert other.headers["content-type"].startswith("application/problem+json")
    unknown = await client.get(f"/jobs/{uuid.uuid4()}/events", headers=bearer(settings, "acme"))
    assert unknown.status_code == 404


async def test_state_as_of_a_time_is_folded_from_the_events_that_had_occurred(
    api: tuple[httpx.AsyncClient, ApiSettings, asyncpg.Pool],
) -> None:
    client, settings, pool = api
    job = uuid.uuid4()
    await ProjectionStore(pool).record([Delivered(e) for e in history(job)])
    headers = bearer(settings, "acme")

    as_of = (T0 + timedelta(seconds=3, milliseconds=500)).isoformat()
    past = await client.get(f"/jobs/{job}/state", params={"as_of": as_of}, headers=headers)
    assert past.status_code == 200, past.text
    body = past.json()
    assert body["eventsApplied"] == 4  # request, start, slices 0 and 1
    assert (body["state"]["status"], body["state"]["slices_done"]) == ("running", 2)

    before = (T0 - timedelta(seconds=1)).isoformat()
    empty = await client.get(f"/jobs/{job}/state", params={"as_of": before}, headers=headers)
    assert empty.status_code == 404
    naive = await client.get(f"/jobs/{job}/state", params={"as_of": "2026-03-01T09:00:03"},
                             headers=headers)  # fmt: skip
    assert naive.status_code == 422
