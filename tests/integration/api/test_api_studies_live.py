"""The study index end to end on the real backends: ingest events (built from the golden
examples) published to Kafka, projected by the real progress worker into Postgres, read through
the API; and POST /jobs with a study, listing the real S3 prefix of its instances."""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaProducer
from api_live import bearer, read_request

import polling
from dicompress_api.settings import ApiSettings
from dicompress_infra.kafka import publish
from dicompress_infra.s3 import make_s3_client
from dicompress_progress.store import Delivered, ProjectionStore
from dicompress_schemas import ArchiveUploaded, IngestEvent, InstanceKind, study_id
from dicompress_schemas.histories.ingests import AXIAL, BASIC_TEXT_SR, STUDY, IngestHistory
from dicompress_stack.testing import ServiceRunner
from metrics_scrape import scrape

pytestmark = pytest.mark.integration

SLICES = 10
CORONAL = "1.2.826.0.1.3680043.8.498.2002"
MEDIA_DIRECTORY = "1.2.840.10008.1.3.10"


def an_upload(history: IngestHistory, slices: int = SLICES) -> list[IngestEvent]:
    """An axial series 2 mm apart stored in a scrambled order, a report, a rejected file."""
    order = list(range(slices))
    random.Random(len(history.tenant)).shuffle(order)  # noqa: S311 - a fixed test order
    events: list[IngestEvent] = [history.uploaded(), history.started()]
    events += [history.image(z=2.0 * i - 9.0, number=i + 1) for i in order]
    events.append(
        history.instance(
            f"{STUDY}.900",
            series_uid=f"{STUDY}.9",
            kind=InstanceKind.NON_IMAGE,
            sop_class_uid=BASIC_TEXT_SR,
            modality="SR",
            image=None,
        )
    )
    events.append(
        history.instance(
            f"{STUDY}.{len(history.tenant)}.0",  # a DICOMDIR: no study, kept under the ingest
            series_uid=None,
            study_uid=None,
            kind=InstanceKind.NON_IMAGE,
            sop_class_uid=MEDIA_DIRECTORY,
            modality=None,
            image=None,
        )
    )
    events.append(history.rejection("DICOM/README.TXT"))
    events.append(history.completed(skipped=2))
    return events


async def published(
    producer: AIOKafkaProducer, settings: ApiSettings, events: list[IngestEvent]
) -> None:
    topics = settings.topics
    for event in events:
        topic = (
            topics.ingest_requests if isinstance(event, ArchiveUploaded) else topics.ingest_events
        )
        await publish(producer, topic, event)


async def ingest_done(api: httpx.AsyncClient, auth: dict[str, str], ingest: Any) -> Any:
    """Poll GET /ingests/{id} as `dicompress upload` does, until the ingest is over and its
    upload is projected too."""

    async def over() -> dict[str, Any] | None:
        answer = await api.get(f"/ingests/{ingest}", headers=auth)
        if answer.status_code == 404:
            return None
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        return body if body["status"] in ("completed", "failed") and body["fileName"] else None

    return await polling.eventually(over, f"ingest {ingest} to end", 60)


async def test_published_ingests_are_indexed_and_read_through_the_api(
    api: httpx.AsyncClient,
    settings: ApiSettings,
    producer: AIOKafkaProducer,
    service_runner: ServiceRunner,
) -> None:
    worker = service_runner.start("progress")
    acme, globex = IngestHistory("acme"), IngestHistory("globex")
    first = an_upload(acme)
    # The same study uploaded again an hour later: one slice again (new description), and a
    # second series. The re-uploaded slice must update its row, not add one.
    later = IngestHistory("acme", start=acme.start + timedelta(hours=1))
    again = [
        later.uploaded(file_name="again.zip"),
        later.started(),
        later.image(z=-9.0, number=1, series_description="Axial, re-sent"),
        later.image(z=0.0, number=1, series_uid=CORONAL, orientation=(1, 0, 0, 0, 0, -1)),
        later.completed(),
    ]
    other = an_upload(globex, slices=3)
    # Slices stored out of anatomical order (an_upload), the uploads' ArchiveUploaded (their
    # own topic) read after everything else.
    await published(producer, settings, [*first[1:], *again[1:], *other[1:]])
    await published(producer, settings, [first[0], again[0], other[0]])

    auth, foreign = bearer(settings, "acme"), bearer(settings, "globex")
    ingest = await ingest_done(api, auth, acme.ingest_id)
    await ingest_done(api, auth, later.ingest_id)
    await ingest_done(api, foreign, globex.ingest_id)
    sid = study_id("acme", STUDY)
    assert ingest["status"] == "completed"
    assert ingest["counts"] == {
        "members": SLICES + 3,
        "instances": SLICES + 2,
        "images": SLICES,
        "nonImages": 2,
        "rejected": 1,
        "skipped": 2,
    }
    (directory,) = ingest["unfiled"]
    assert (directory["sopClassUid"], directory["seriesInstanceUid"]) == (MEDIA_DIRECTORY, None)
    assert directory["key"].startswith(f"acme/ingests/{acme.ingest_id}/unfiled/")
    (rejected,) = ingest["rejections"]
    assert (rejected["member"], rejected["errorCode"]) == ("DICOM/README.TXT", "not-dicom")
    assert rejected["reason"].startswith("this file is not a DICOM object")
    assert [s["id"] for s in ingest["studies"]] == [str(sid)]

    listed = (await api.get("/studies", headers=auth)).json()
    (item,) = listed["items"]
    assert (item["id"], item["patientName"], item["studyDate"]) == (
        str(sid),
        "Doe^Jane",
        "20261206",
    )
    assert (item["seriesCount"], item["instanceCount"], item["modalities"]) == (
        3,
        SLICES + 2,
        ["CT", "SR"],
    )
    (theirs,) = (await api.get("/studies", headers=foreign)).json()["items"]
    assert theirs["id"] == str(study_id("globex", STUDY)) != item["id"]

    study = (await api.get(f"/studies/{sid}", headers=auth)).json()
    series = {s["seriesInstanceUid"]: s for s in study["series"]}
    axial = series[AXIAL]
    assert (axial["instanceCount"], axial["seriesDescription"]) == (SLICES, "Axial, re-sent")
    assert axial["spacing"] == {"mean": 2.0, "min": 2.0, "max": 2.0, "uniform": True}
    assert (axial["gantryTiltDeg"], axial["orientation"]) == (0.0, [1, 0, 0, 0, 1, 0])
    assert series[CORONAL]["orientation"] == [1, 0, 0, 0, 0, -1]
    assert [o["modality"] for o in study["nonImages"]] == ["SR"]
    assert {g["ingestId"] for g in study["ingests"]} == {str(acme.ingest_id), str(later.ingest_id)}
    assert [r["member"] for r in study["rejections"]] == ["DICOM/README.TXT"]

    detail = (await api.get(axial["url"], headers=auth)).json()
    assert [s["position"] for s in detail["slices"]] == [2.0 * i - 9.0 for i in range(SLICES)]
    assert [s["instanceNumber"] for s in detail["slices"]] == list(range(1, SLICES + 1))
    assert detail["slices"][0]["key"].startswith(f"acme/studies/{STUDY}/{AXIAL}/")
    assert detail["windows"] == [
        {"center": 40.0, "width": 400.0},
        {"center": 400.0, "width": 1800.0},
    ]
    assert detail["rescale"] == [{"slope": 1.0, "intercept": -1024.0}]
    assert (detail["rows"], detail["columns"], detail["pixelSpacing"]) == (512, 512, [0.703125] * 2)
    assert detail["transferSyntaxes"] == ["1.2.840.10008.1.2.4.70"]

    # Another tenant's study, series and ingest answer exactly as unknown ones.
    nowhere = str(study_id("acme", "1.2.3"))
    for path, unknown_path in (
        (f"/studies/{sid}", f"/studies/{nowhere}"),
        (axial["url"], axial["url"].replace(str(sid), nowhere)),
        (f"/ingests/{acme.ingest_id}", f"/ingests/{uuid.uuid4()}"),
    ):
        theirs_answer = await api.get(path, headers=foreign)
        unknown = await api.get(unknown_path, headers=auth)
        assert (theirs_answer.status_code, unknown.status_code) == (404, 404), path
        assert theirs_answer.json()["type"] == unknown.json()["type"]
        assert theirs_answer.json()["title"] == unknown.json()["title"]

    # A redelivered event changes nothing.
    before = [(await api.get(p, headers=auth)).json() for p in (f"/studies/{sid}", axial["url"])]
    await published(producer, settings, [first[4]])

    async def dropped() -> bool:
        samples = await scrape(f"http://127.0.0.1:{worker.port}/metrics")
        return (
            samples.get("dicompress_progress_events_total,outcome=duplicate,type=InstanceStored", 0)
            >= 1
        )

    await polling.eventually(dropped, "the redelivered event to be dropped", 30)
    after = [(await api.get(p, headers=auth)).json() for p in (f"/studies/{sid}", axial["url"])]
    assert after == before


def put_objects(settings: ApiSettings, bucket: str, keys: list[str]) -> None:
    client = make_s3_client(settings)
    try:
        for key in keys:
            client.put_object(Bucket=bucket, Key=key, Body=b"DICM" + key.encode())
    finally:
        client.close()


async def test_a_job_of_a_study_or_a_series_reads_the_prefix_of_its_instances(
    api: httpx.AsyncClient,
    settings: ApiSettings,
    database: asyncpg.Connection[Any],
    test_env: dict[str, str],
) -> None:
    bucket = test_env["S3_BUCKET"]
    history = IngestHistory("acme", bucket=bucket)
    events = [history.uploaded(), history.started()]
    events += [history.image(z=float(i), number=i + 1) for i in range(4)]
    events += [history.image(z=0.0, number=1, series_uid=CORONAL), history.completed()]
    pool = await asyncpg.create_pool(test_env["DATABASE_URL"], min_size=1, max_size=2)
    try:
        await ProjectionStore(pool).record([Delivered(e) for e in events])
    finally:
        await pool.close()
    await asyncio.to_thread(put_objects, settings, bucket, [e.key for e in history.stored])

    sid = study_id("acme", STUDY)
    auth = bearer(settings, "acme")
    target = f"s3://{bucket}/acme/out/"
    whole = await api.post("/jobs", json={"studyId": str(sid), "s3TargetUri": target}, headers=auth)
    assert whole.status_code == 202, whole.text
    answer = whole.json()
    assert answer["sourceUri"] == f"s3://{bucket}/acme/studies/{STUDY}/"
    assert answer["source"] == {"fileCount": 5, "totalBytes": answer["source"]["totalBytes"]}
    assert answer["studyId"] == str(sid)
    _, event = await read_request(
        settings.kafka_bootstrap_servers, settings.topics.interactive, answer["jobId"]
    )
    assert (event.source_uri, event.include_non_image) == (answer["sourceUri"], True)

    one = await api.post(
        "/jobs",
        json={"studyId": str(sid), "seriesUid": AXIAL, "s3TargetUri": target},
        headers=auth,
    )
    assert one.status_code == 202, one.text
    assert one.json()["sourceUri"] == f"s3://{bucket}/acme/studies/{STUDY}/{AXIAL}/"
    assert one.json()["source"]["fileCount"] == 4

    foreign = await api.post(
        "/jobs",
        json={"studyId": str(sid), "s3TargetUri": f"s3://{bucket}/globex/out/"},
        headers=bearer(settings, "globex"),
    )
    assert foreign.status_code == 404, foreign.text
    assert foreign.json()["type"] == "urn:dicompress:problem:study-not-found"
    both = await api.post(
        "/jobs",
        json={"studyId": str(sid), "s3SourceUri": target, "s3TargetUri": target},
        headers=auth,
    )
    assert both.status_code == 422, both.text
    assert "exactly one" in both.json()["errors"][0]["detail"]
