"""Uploads against the real broker, Postgres and S3: presigned multipart in parts with a resume,
exactly one ArchiveUploaded per upload however often it is completed, the streamed body, the
size caps, tenant isolation, unsafe names, aborts and the sweep."""

from __future__ import annotations

import asyncio
import io
import random
import uuid
import zipfile
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from api_live import bearer, end_offsets, read_request, serve, wait_until_ready

from dicompress_api.adapters.database import Database
from dicompress_api.adapters.kafka_publisher import KafkaPublisher
from dicompress_api.adapters.s3client import S3Connection
from dicompress_api.app import create_app
from dicompress_api.settings import ApiSettings
from dicompress_api.uploads.announce import ingest_id_for
from dicompress_api.uploads.multipart import S3Multipart
from dicompress_api.uploads.policy import UploadPolicy
from dicompress_api.uploads.records import PostgresUploads
from dicompress_api.uploads.sweep import SweepResult, UploadSweep
from dicompress_infra.s3 import make_s3_client
from dicompress_schemas import ArchiveUploaded, decode_ingest_event

pytestmark = pytest.mark.integration

MIB = 1024 * 1024
PART = 5 * MIB  # S3's smallest part: keeps the test's uploads small but multipart


@pytest.fixture
def settings(settings_for: Callable[..., ApiSettings], test_env: dict[str, str]) -> ApiSettings:
    return settings_for(
        ApiSettings,
        api_allowed_buckets=[test_env["S3_BUCKET"]],
        api_upload_part_bytes=PART,
        api_upload_stream_part_bytes=PART,
        api_upload_max_bytes=40 * MIB,
    )


def study_zip(size: int, seed: int = 7) -> bytes:
    """A ZIP of about `size` bytes of incompressible members (stored), the same for a seed."""
    rng = random.Random(seed)  # noqa: S311 - test data, not a secret
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:
        left, index = size, 0
        while left > 0:
            chunk = min(left, 2 * MIB)
            archive.writestr(f"series/{index:04d}.dcm", rng.randbytes(chunk))
            left -= chunk
            index += 1
    return out.getvalue()


async def put_part(url: str, data: bytes) -> str:
    async with httpx.AsyncClient(timeout=30) as s3:
        answer = await s3.put(url, content=data, headers={"Content-Type": "application/zip"})
    assert answer.status_code == 200, answer.text
    return answer.headers["etag"]


def part_bytes(data: bytes, number: int, part_size: int) -> bytes:
    return data[(number - 1) * part_size : number * part_size]


def s3_object(settings: ApiSettings, bucket: str, key: str) -> bytes:
    client = make_s3_client(settings)
    try:
        return client.get_object(Bucket=bucket, Key=key)["Body"].read()
    finally:
        client.close()


def open_uploads(settings: ApiSettings, bucket: str, prefix: str) -> list[str]:
    client = make_s3_client(settings)
    try:
        found = client.list_multipart_uploads(Bucket=bucket, Prefix=prefix)
    finally:
        client.close()
    return [u["Key"] for u in found.get("Uploads", [])]


async def ingest_requests(settings: ApiSettings) -> int:
    return await end_offsets(settings.kafka_bootstrap_servers, settings.topics.ingest_requests)


async def archive_event(settings: ApiSettings, ingest_id: uuid.UUID) -> ArchiveUploaded:
    record, event = await read_request(
        settings.kafka_bootstrap_servers,
        settings.topics.ingest_requests,
        ingest_id,
        decode=decode_ingest_event,
    )
    assert record.key == str(ingest_id).encode()
    assert isinstance(event, ArchiveUploaded)
    return event


async def test_presigned_upload_in_parts_resumes_and_publishes_exactly_once(
    api: httpx.AsyncClient, settings: ApiSettings, test_env: dict[str, str]
) -> None:
    bucket, acme = test_env["S3_BUCKET"], bearer(settings, "acme")
    data = study_zip(12 * MIB)
    begun = await api.post(
        "/uploads",
        json={"fileName": "CT head.zip", "size": len(data), "contentType": "application/zip"},
        headers=acme,
    )
    assert begun.status_code == 201, begun.text
    upload = begun.json()
    upload_id = upload["uploadId"]
    assert begun.headers["location"] == f"/uploads/{upload_id}"
    assert (upload["state"], upload["partSize"], upload["partCount"]) == ("open", PART, 3)
    assert [p["partNumber"] for p in upload["missingParts"]] == [1, 2, 3]
    assert [p["size"] for p in upload["missingParts"]] == [PART, PART, len(data) - 2 * PART]
    assert upload["parts"] == []

    # The client sends part 1, then is interrupted.
    first = upload["missingParts"][0]
    etag_1 = await put_part(first["url"], part_bytes(data, 1, PART))

    # On restart it asks what S3 holds and sends only the rest, on fresh URLs.
    resumed = (await api.get(f"/uploads/{upload_id}", headers=acme)).json()
    assert resumed["parts"] == [{"partNumber": 1, "size": PART, "etag": etag_1}]
    assert resumed["receivedBytes"] == PART
    assert [p["partNumber"] for p in resumed["missingParts"]] == [2, 3]
    early = await api.post(f"/uploads/{upload_id}/complete", headers=acme)
    assert early.status_code == 409, early.text
    assert early.json()["missingParts"] == [2, 3]
    for part in resumed["missingParts"]:
        await put_part(part["url"], part_bytes(data, part["partNumber"], PART))

    done = await api.post(f"/uploads/{upload_id}/complete", headers=acme)
    assert done.status_code == 202, done.text
    accepted = done.json()
    ingest_id = uuid.UUID(accepted["ingestId"])
    assert ingest_id == ingest_id_for(uuid.UUID(upload_id))
    assert done.headers["location"] == accepted["statusUrl"] == f"/ingests/{ingest_id}"
    key = f"acme/uploads/{upload_id}/CT_head.zip"
    assert s3_object(settings, bucket, key) == data

    event = await archive_event(settings, ingest_id)
    assert (event.tenant, event.bucket, event.key, event.size) == ("acme", bucket, key, len(data))
    assert (event.channel, event.upload_id, event.seq) == ("presigned", uuid.UUID(upload_id), 0)
    assert (event.file_name, event.content_type) == ("CT head.zip", "application/zip")
    assert event.etag == accepted["etag"]

    # A retried complete answers the same and publishes nothing new.
    again = await api.post(f"/uploads/{upload_id}/complete", headers=acme)
    assert (again.status_code, again.json()) == (202, accepted)
    assert await ingest_requests(settings) == 1
    after = (await api.get(f"/uploads/{upload_id}", headers=acme)).json()
    assert (after["state"], after["ingestId"], after["missingParts"]) == (
        "completed",
        str(ingest_id),
        [],
    )
    # Completing an upload is final: it cannot be aborted any more.
    assert (await api.delete(f"/uploads/{upload_id}", headers=acme)).status_code == 409


async def test_complete_checks_a_parts_list_against_s3(
    api: httpx.AsyncClient, settings: ApiSettings
) -> None:
    acme = bearer(settings, "acme")
    data = study_zip(6 * MIB, seed=3)
    upload = (
        await api.post(
            "/uploads",
            json={"fileName": "s.zip", "size": len(data), "contentType": "application/zip"},
            headers=acme,
        )
    ).json()
    etags = [
        await put_part(p["url"], part_bytes(data, p["partNumber"], PART))
        for p in upload["missingParts"]
    ]
    wrong = {"parts": [{"partNumber": 1, "etag": etags[0]}, {"partNumber": 2, "etag": '"0"'}]}
    refused = await api.post(f"/uploads/{upload['uploadId']}/complete", json=wrong, headers=acme)
    assert refused.status_code == 422, refused.text
    assert [e["field"] for e in refused.json()["errors"]] == ["parts.2"]
    listed = {"parts": [{"partNumber": n, "etag": e} for n, e in enumerate(etags, start=1)]}
    done = await api.post(f"/uploads/{upload['uploadId']}/complete", json=listed, headers=acme)
    assert done.status_code == 202, done.text
    assert await ingest_requests(settings) == 1


async def test_streamed_upload_is_written_while_it_arrives(
    api: httpx.AsyncClient, settings: ApiSettings, test_env: dict[str, str]
) -> None:
    bucket = test_env["S3_BUCKET"]
    data = study_zip(13 * MIB, seed=11)
    seen_in_s3_midway: list[int] = []

    async def body() -> AsyncIterator[bytes]:
        for offset in range(0, len(data), MIB):
            if offset == 12 * MIB:  # two parts cut: the first is in S3 before the body ends
                seen_in_s3_midway.append(await asyncio.to_thread(_parts_stored, settings, bucket))
            yield data[offset : offset + MIB]

    answer = await api.put(
        "/uploads/stream",
        params={"fileName": "../../globex/uploads/x/streamed.zip"},
        content=body(),
        headers={**bearer(settings, "acme"), "Content-Type": "application/zip"},
    )
    assert answer.status_code == 202, answer.text
    accepted = answer.json()
    assert seen_in_s3_midway == [2] or seen_in_s3_midway == [1]  # not [0]: not held back
    assert answer.headers["location"] == f"/ingests/{accepted['ingestId']}"
    assert (accepted["size"], accepted["channel"]) == (len(data), "streamed")
    key = f"acme/uploads/{accepted['uploadId']}/streamed.zip"
    assert s3_object(settings, bucket, key) == data
    event = await archive_event(settings, uuid.UUID(accepted["ingestId"]))
    assert (event.key, event.channel, event.size) == (key, "streamed", len(data))
    assert event.file_name == "streamed.zip"
    assert await ingest_requests(settings) == 1


def _parts_stored(settings: ApiSettings, bucket: str) -> int:
    client = make_s3_client(settings)
    try:
        uploads = client.list_multipart_uploads(Bucket=bucket, Prefix="acme/uploads/")
        found = uploads.get("Uploads", [])
        if not found:
            return 0
        upload = found[0]
        parts = client.list_parts(Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"])
        return len(parts.get("Parts", []))
    finally:
        client.close()


async def test_size_caps_are_413_and_leave_nothing_behind(
    api: httpx.AsyncClient, settings: ApiSettings, test_env: dict[str, str]
) -> None:
    bucket, acme = test_env["S3_BUCKET"], bearer(settings, "acme")
    declared = await api.post(
        "/uploads",
        json={"fileName": "big.zip", "size": 40 * MIB + 1, "contentType": "application/zip"},
        headers=acme,
    )
    assert declared.status_code == 413, declared.text
    assert declared.json()["maxBytes"] == 40 * MIB

    announced = await api.put(
        "/uploads/stream",
        params={"fileName": "big.zip"},
        content=b"x" * 1024,
        headers={**acme, "Content-Type": "application/zip", "Content-Length": str(40 * MIB + 1)},
    )
    assert announced.status_code == 413, announced.text

    async def endless() -> AsyncIterator[bytes]:  # chunked, no Content-Length: cut at the cap
        chunk = b"z" * MIB
        for _ in range(64):
            yield chunk

    streamed = await api.put(
        "/uploads/stream",
        params={"fileName": "big.zip"},
        content=endless(),
        headers={**acme, "Content-Type": "application/zip"},
    )
    assert streamed.status_code == 413, streamed.text
    assert streamed.headers["content-type"] == "application/problem+json"
    assert open_uploads(settings, bucket, "acme/") == []  # the partial multipart was aborted
    assert await ingest_requests(settings) == 0

    empty = await api.put(
        "/uploads/stream", params={"fileName": "e.zip"}, content=b"", headers=acme
    )
    assert empty.status_code == 422, empty.text
    assert open_uploads(settings, bucket, "acme/") == []


async def test_another_tenants_upload_is_404_like_an_unknown_one(
    api: httpx.AsyncClient, settings: ApiSettings
) -> None:
    acme, globex = bearer(settings, "acme"), bearer(settings, "globex")
    upload = (
        await api.post(
            "/uploads",
            json={"fileName": "a.zip", "size": 10, "contentType": "application/zip"},
            headers=acme,
        )
    ).json()
    mine = upload["uploadId"]
    for upload_id in (mine, str(uuid.uuid4())):
        for method, path in (
            ("GET", f"/uploads/{upload_id}"),
            ("POST", f"/uploads/{upload_id}/complete"),
            ("DELETE", f"/uploads/{upload_id}"),
        ):
            answer = await api.request(method, path, headers=globex)
            assert answer.status_code == 404, (method, path, answer.text)
            assert answer.json()["type"].endswith("upload-not-found")
    assert (await api.get(f"/uploads/{mine}", headers=acme)).status_code == 200
    assert (await api.get(f"/uploads/{mine}")).status_code == 401


async def test_unsafe_names_stay_under_the_tenants_prefix_or_are_refused(
    api: httpx.AsyncClient, settings: ApiSettings, test_env: dict[str, str]
) -> None:
    bucket, acme = test_env["S3_BUCKET"], bearer(settings, "acme")
    for name in ("../../globex/uploads/evil.zip", "..\\..\\x.zip", "%2e%2e%2fy.zip", ".."):
        answer = await api.post(
            "/uploads",
            json={"fileName": name, "size": 10, "contentType": "application/zip"},
            headers=acme,
        )
        assert answer.status_code == 201, answer.text
    keys = open_uploads(settings, bucket, "")
    assert len(keys) == 4
    for key in keys:
        tenant, folder, upload_id, name = key.split("/")
        assert (tenant, folder) == ("acme", "uploads")
        uuid.UUID(upload_id)
        assert name in {"evil.zip", "x.zip", "2e_2e_2fy.zip", "upload.zip"}
    for name in ("a\nb.zip", "x\u202egpj.zip"):
        refused = await api.post(
            "/uploads",
            json={"fileName": name, "size": 10, "contentType": "application/zip"},
            headers=acme,
        )
        assert refused.status_code == 422, refused.text
        assert refused.json()["errors"][0]["rule"] == "control_characters"
    odd = await api.post(
        "/uploads",
        json={"fileName": "a.zip", "size": 10, "contentType": "text/plain"},
        headers=acme,
    )
    assert odd.status_code == 422, odd.text


async def test_delete_aborts_and_drops_the_parts(
    api: httpx.AsyncClient, settings: ApiSettings, test_env: dict[str, str]
) -> None:
    bucket, acme = test_env["S3_BUCKET"], bearer(settings, "acme")
    data = study_zip(6 * MIB, seed=5)
    upload = (
        await api.post(
            "/uploads",
            json={"fileName": "d.zip", "size": len(data), "contentType": "application/zip"},
            headers=acme,
        )
    ).json()
    await put_part(upload["missingParts"][0]["url"], part_bytes(data, 1, PART))
    assert len(open_uploads(settings, bucket, "acme/")) == 1
    for _ in range(2):  # aborting twice is fine
        gone = await api.delete(f"/uploads/{upload['uploadId']}", headers=acme)
        assert gone.status_code == 204, gone.text
    assert open_uploads(settings, bucket, "acme/") == []
    view = (await api.get(f"/uploads/{upload['uploadId']}", headers=acme)).json()
    assert (view["state"], view["missingParts"]) == ("aborted", [])
    late = await api.post(f"/uploads/{upload['uploadId']}/complete", headers=acme)
    assert late.status_code == 409, late.text
    assert late.json()["uploadState"] == "aborted"
    assert await ingest_requests(settings) == 0


async def test_sweep_aborts_abandoned_and_orphan_uploads_and_announces_unacked_ones(
    api: httpx.AsyncClient,
    settings: ApiSettings,
    test_env: dict[str, str],
    database: asyncpg.Connection[Any],
) -> None:
    bucket, acme = test_env["S3_BUCKET"], bearer(settings, "acme")
    data = study_zip(6 * MIB, seed=9)

    async def begin(name: str) -> dict[str, Any]:
        answer = await api.post(
            "/uploads",
            json={"fileName": name, "size": len(data), "contentType": "application/zip"},
            headers=acme,
        )
        return dict(answer.json())

    abandoned, fresh, unacked = await begin("old.zip"), await begin("new.zip"), await begin("u.zip")
    await put_part(abandoned["missingParts"][0]["url"], part_bytes(data, 1, PART))
    for part in unacked["missingParts"]:
        await put_part(part["url"], part_bytes(data, part["partNumber"], PART))
    assert (await api.post(f"/uploads/{unacked['uploadId']}/complete", headers=acme)).is_success
    # As if the first had been left for two days, and the third's ack had never come.
    await database.execute(
        "UPDATE api_uploads SET created_at = now() - interval '2 days' WHERE upload_id = $1",
        uuid.UUID(abandoned["uploadId"]),
    )
    await database.execute(
        "UPDATE api_uploads SET published = false, finished_at = now() - interval '5 minutes' "
        "WHERE upload_id = $1",
        uuid.UUID(unacked["uploadId"]),
    )
    orphan_key = f"acme/uploads/{uuid.uuid4()}/lost.zip"
    client = make_s3_client(settings)
    try:
        client.create_multipart_upload(Bucket=bucket, Key=orphan_key)
    finally:
        client.close()

    first = await _sweep_once(settings, abandon_after=timedelta(days=1))
    assert (first.aborted, first.announced) == (1, 1)
    view = (await api.get(f"/uploads/{abandoned['uploadId']}", headers=acme)).json()
    assert view["state"] == "aborted"
    still_open = open_uploads(settings, bucket, "acme/")
    assert [key for key in still_open if fresh["uploadId"] in key] != []  # young: kept
    assert first.orphans == (0 if orphan_key in still_open else 1)  # moto dates uploads 2010

    # With a zero age every open upload is abandoned, and the orphan is old enough anywhere.
    second = await _sweep_once(settings, abandon_after=timedelta(0))
    assert (second.aborted, first.orphans + second.orphans, second.announced) == (1, 1, 0)
    assert open_uploads(settings, bucket, "acme/") == []
    # the unacked upload was published by the sweep (and by its own complete before)
    assert await ingest_requests(settings) == 2
    row = await database.fetchrow(
        "SELECT published FROM api_uploads WHERE upload_id = $1", uuid.UUID(unacked["uploadId"])
    )
    assert row is not None
    assert row["published"]


async def _sweep_once(settings: ApiSettings, abandon_after: timedelta) -> SweepResult:
    """One pass of a sweep on its own adapters (the app's runs only every interval)."""
    database = Database(settings.database_url)
    s3 = S3Connection(settings)
    multipart = S3Multipart(s3, 60)
    publisher = KafkaPublisher(settings.kafka_bootstrap_servers, settings.topics, 10)
    policy = replace(UploadPolicy.of(settings), abandon_after=abandon_after)
    await database.start()
    await multipart.start()
    await publisher.start()
    try:
        sweep = UploadSweep(policy, PostgresUploads(database), multipart, publisher, 3600)
        return await sweep.sweep_once()
    finally:
        await publisher.close()
        await multipart.close()
        await database.close()


async def test_an_upload_begun_on_one_instance_completes_on_another(
    settings: ApiSettings, database: asyncpg.Connection[Any]
) -> None:
    """GET and complete on another instance than the one that began the upload."""
    acme = bearer(settings, "acme")
    data = study_zip(6 * MIB, seed=13)
    async for one in serve(create_app(settings)):
        await wait_until_ready(one)
        upload = (
            await one.post(
                "/uploads",
                json={"fileName": "two.zip", "size": len(data), "contentType": "application/zip"},
                headers=acme,
            )
        ).json()
        await put_part(upload["missingParts"][0]["url"], part_bytes(data, 1, PART))
    async for two in serve(create_app(settings)):
        await wait_until_ready(two)
        view = (await two.get(f"/uploads/{upload['uploadId']}", headers=acme)).json()
        assert [p["partNumber"] for p in view["missingParts"]] == [2]
        await put_part(view["missingParts"][0]["url"], part_bytes(data, 2, PART))
        done = await two.post(f"/uploads/{upload['uploadId']}/complete", headers=acme)
        assert done.status_code == 202, done.text
    assert await ingest_requests(settings) == 1
