"""Cancel, list, slices and download at the HTTP edge, with fake adapters (no I/O: presigning
is a local signature)."""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from api_fakes import FakePublisher, FakeStore

from dicompress_api.jobs.listing import Cursor, decode_cursor, encode_cursor
from dicompress_api.jobs.slices import slice_view
from dicompress_api.web.errors import InvalidRequest
from dicompress_api.web.problems import Problem

T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


def job(tenant: str = "acme", **fields: Any) -> dict[str, Any]:
    return {
        "job_id": uuid.uuid4(),
        "tenant": tenant,
        "status": "running",
        "codec": "j2k-lossy",
        "target_uri": "s3://dicompress-data/out",
        "requested_at": T0,
        "updated_at": T0,
        **fields,
    }


def put(store: FakeStore, **fields: Any) -> uuid.UUID:
    row = job(**fields)
    store.rows[row["job_id"]] = row
    job_id: uuid.UUID = row["job_id"]
    return job_id


def problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    return body


async def test_cancel_sends_the_command_with_tenant_and_reason(
    client: httpx.AsyncClient, auth: dict[str, str], store: FakeStore, publisher: FakePublisher
) -> None:
    job_id = put(store)
    response = await client.post(
        f"/jobs/{job_id}/cancel", json={"reason": "wrong series"}, headers=auth
    )
    assert response.status_code == 202, response.text
    [command] = publisher.commands
    assert (command.job_id, command.tenant, command.reason) == (job_id, "acme", "wrong series")
    assert response.json() == {
        "commandId": str(command.command_id),
        "jobId": str(job_id),
        "reason": "wrong series",
        "statusUrl": f"/jobs/{job_id}",
    }
    no_body = await client.post(f"/jobs/{job_id}/cancel", headers=auth)
    assert no_body.status_code == 202, no_body.text
    assert publisher.commands[1].reason == "cancelled by the requester"


async def test_cancel_refuses_finished_foreign_and_unsent(
    client: httpx.AsyncClient, auth: dict[str, str], store: FakeStore, publisher: FakePublisher
) -> None:
    done = put(store, status="completed")
    theirs = put(store, tenant="globex")
    conflict = problem(await client.post(f"/jobs/{done}/cancel", headers=auth), 409)
    assert conflict["jobStatus"] == "completed"
    assert "already completed" in conflict["detail"]
    problem(await client.post(f"/jobs/{theirs}/cancel", headers=auth), 404)
    bad = problem(
        await client.post(f"/jobs/{put(store)}/cancel", json={"why": 1}, headers=auth), 422
    )
    assert bad["errors"][0]["field"] == "why"
    publisher.unavailable = "Kafka did not acknowledge the command within 10 s"
    response = await client.post(f"/jobs/{put(store)}/cancel", headers=auth)
    assert "Kafka" in problem(response, 503)["detail"]
    assert int(response.headers["retry-after"]) > 0
    assert publisher.commands == []


def test_cursor_round_trips_and_rejects_forgeries() -> None:
    cursor = Cursor(T0, uuid.uuid4())
    assert decode_cursor(encode_cursor(cursor)) == cursor
    for forged in ("", "not-base64!", "e30", encode_cursor(cursor)[:-3]):
        with pytest.raises(InvalidRequest) as raised:
            decode_cursor(forged)
        assert raised.value.problems[0].field == "cursor"


async def test_list_pages_newest_first_with_filters(
    client: httpx.AsyncClient, auth: dict[str, str], store: FakeStore
) -> None:
    mine = [put(store, requested_at=T0 + timedelta(minutes=i % 3)) for i in range(7)]
    put(store, tenant="globex")
    put(store, status="failed", codec="htj2k-lossy", requested_at=None)
    seen: list[str] = []
    cursor: str | None = None
    for _ in range(10):  # bounded: a cursor bug must fail the test, not hang it
        params = {"limit": "3", **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/jobs", params=params, headers=auth)).json()
        seen += [item["jobId"] for item in page["items"]]
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 8
    assert set(map(str, mine)) < set(seen)
    times = [
        store.rows[uuid.UUID(s)]["requested_at"] or datetime.min.replace(tzinfo=UTC) for s in seen
    ]
    assert times == sorted(times, reverse=True)

    failed = (await client.get("/jobs?status=failed&codec=htj2k-lossy", headers=auth)).json()
    assert [i["status"] for i in failed["items"]] == ["failed"]
    assert failed["nextCursor"] is None
    for query, field in (
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("codec=gif", "codec"),
        ("status=lost", "status"),
        ("cursor=abc", "cursor"),
    ):
        bad = problem(await client.get(f"/jobs?{query}", headers=auth), 422)
        assert [e["field"] for e in bad["errors"]] == [field], query


def test_slice_view_links_only_encoded_slices() -> None:
    base = {"entry_name": "00000.dcm", "occurred_at": T0, "bytes_in": 10}
    encoded = slice_view(
        {**base, "slice_index": 0, "status": "encoded", "slice_key": "k0", "psnr_db": 51.5},
        lambda key: f"https://s3/{key}",
    )
    failed = slice_view(
        {**base, "slice_index": 1, "status": "failed", "error_code": "decode", "slice_key": None},
        lambda key: f"https://s3/{key}",
    )
    assert (encoded.url, encoded.psnr_db, failed.url, failed.error_code) == (
        "https://s3/k0",
        51.5,
        None,
        "decode",
    )


async def test_slices_and_download_hand_out_presigned_urls(
    client: httpx.AsyncClient, auth: dict[str, str], store: FakeStore
) -> None:
    job_id = put(store, status="completed", artifact_uri="s3://dicompress-data/out/ct1.zip")
    key = f"acme/jobs/{job_id}/slices/00000.dcm"
    legacy = f"jobs/{job_id}/slices/00001.dcm"  # recorded before the tenant rule, since moved
    store.slice_rows[job_id] = [
        {"slice_index": 0, "status": "encoded", "slice_key": key, "occurred_at": T0, "ratio": 9.5},
        {"slice_index": 1, "status": "encoded", "slice_key": legacy, "occurred_at": T0},
    ]
    listed = (await client.get(f"/jobs/{job_id}/slices", headers=auth)).json()
    only, moved = listed["slices"]
    url = urlsplit(only["url"])
    assert url.path == f"/dicompress-data/{key}"
    assert urlsplit(moved["url"]).path == f"/dicompress-data/acme/{legacy}"
    assert {"Signature", "X-Amz-Signature"} & parse_qs(url.query).keys()  # signed (v2 or v4)
    assert (only["index"], only["ratio"], listed["jobId"]) == (0, 9.5, str(job_id))
    assert listed["urlExpiresAt"] is not None

    download = await client.get(f"/jobs/{job_id}/download", headers=auth)
    assert download.status_code == 307, download.text
    assert urlsplit(download.headers["location"]).path == "/dicompress-data/out/ct1.zip"
    running = put(store)
    conflict = problem(await client.get(f"/jobs/{running}/download", headers=auth), 409)
    assert conflict["jobStatus"] == "running"
    theirs = put(
        store, tenant="globex", status="completed", artifact_uri="s3://dicompress-data/x.zip"
    )
    problem(await client.get(f"/jobs/{theirs}/download", headers=auth), 404)
    problem(await client.get(f"/jobs/{theirs}/slices", headers=auth), 404)


async def test_compress_dicom_aliases(
    client: httpx.AsyncClient, auth: dict[str, str], store: FakeStore, publisher: FakePublisher
) -> None:
    body = {
        "s3SourceUri": "s3://dicompress-data/acme/in",
        "s3TargetUri": "s3://dicompress-data/acme/out",
    }
    accepted = await client.post("/compress-dicom", json=body, headers=auth)
    assert accepted.status_code == 202, accepted.text
    assert publisher.events[0].job_id == uuid.UUID(accepted.json()["jobId"])
    job_id = put(store)
    status = await client.get(f"/compress-dicom/{job_id}", headers=auth)
    assert status.json()["jobId"] == str(job_id)
    operations = (await client.get("/openapi.json")).json()["paths"]
    assert {"/compress-dicom", "/compress-dicom/{job_id}", "/jobs", "/jobs/{job_id}/cancel"} <= set(
        operations
    )


async def test_every_error_response_in_openapi_is_a_documented_problem(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    """Issue 16: error answers have a schema in OpenAPI (RFC 9457 problem details), and what
    the API really answers matches it."""
    document = (await client.get("/openapi.json")).json()
    problem = document["components"]["schemas"]["Problem"]
    assert {"type", "title", "status", "detail"} <= set(problem["required"])
    errors = [
        (path, method, status, answer)
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        for status, answer in operation["responses"].items()
        if status[0] in "45"
    ]
    assert len(errors) > 40  # every route names its errors
    for path, method, status, answer in errors:
        schema = answer.get("content", {}).get("application/problem+json", {}).get("schema")
        assert schema == {"$ref": "#/components/schemas/Problem"}, (path, method, status)
    # and a real one validates against it
    missing = await client.get(f"/jobs/{uuid.uuid4()}", headers=auth)
    assert missing.headers["content-type"] == "application/problem+json"
    Problem.model_validate(missing.json())
    invalid = await client.post("/jobs", json={"s3SourceUri": "x"}, headers=auth)
    assert invalid.status_code == 422
    assert {e.field for e in Problem.model_validate(invalid.json()).errors or []} >= {"s3SourceUri"}
