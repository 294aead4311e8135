"""The study index routes and POST /jobs with a study, over a fake index (no database)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import asdict
from datetime import timedelta
from typing import Any

import httpx
import pytest
from api_app import serving, study_app
from api_fakes import (
    SECRET,
    FakeProductIndex,
    FakePublisher,
    FakeSources,
)
from test_api_http import BODY, assert_problem

from dicompress_api.jobs.listing import Cursor
from dicompress_api.settings import ApiSettings
from dicompress_infra.auth import issue_token
from dicompress_progress.study_rows import instance_row
from dicompress_schemas import study_id
from dicompress_schemas.histories.ingests import AXIAL, STUDY, T0, IngestHistory


class FakeStudyIndex:
    """Rows as the progress service writes them, for two tenants."""

    def __init__(self) -> None:
        self.studies_rows: list[dict[str, Any]] = []
        self.series_rows: list[dict[str, Any]] = []
        self.instance_rows: list[dict[str, Any]] = []
        self.ingest_rows: list[dict[str, Any]] = []
        self.bucket: str | None = "dicompress-data"

    def add_study(self, tenant: str, uid: str, received: int = 0) -> uuid.UUID:
        sid = study_id(tenant, uid)
        self.studies_rows.append(
            {
                "tenant": tenant,
                "study_id": sid,
                "study_instance_uid": uid,
                "patient_name": "Doe^Jane",
                "modalities": ["CT"],
                "series_count": 1,
                "instance_count": 3,
                "image_count": 3,
                "non_image_count": 0,
                "bytes": 30,
                "received_at": T0 + timedelta(minutes=received),
                "last_stored_at": T0 + timedelta(minutes=received),
            }
        )
        self.series_rows.append(
            {
                "tenant": tenant,
                "study_instance_uid": uid,
                "series_instance_uid": AXIAL,
                "modality": "CT",
                "series_number": 2,
                "series_description": "Axial",
                "sop_class_uids": ["1.2.840.10008.5.1.4.1.1.2"],
                "instance_count": 3,
                "image_count": 3,
                "non_image_count": 0,
                "frame_count": 3,
                "bytes": 30,
            }
        )
        history = IngestHistory(tenant)
        for n, z in ((1, 5.0), (2, -5.0), (3, 0.0)):
            row = asdict(instance_row(history.image(z=z, number=n, study_uid=uid)))
            self.instance_rows.append(row)
        return sid

    async def studies(
        self, tenant: str, limit: int, after: Cursor | None
    ) -> list[Mapping[str, Any]]:
        def key(row: Mapping[str, Any]) -> tuple[Any, uuid.UUID]:
            return (row["received_at"], row["study_id"])

        rows = [
            r
            for r in self.studies_rows
            if r["tenant"] == tenant
            and (after is None or key(r) < (after.requested_at, after.job_id))
        ]
        return sorted(rows, key=key, reverse=True)[:limit]

    async def study(self, tenant: str, sid: uuid.UUID) -> Mapping[str, Any] | None:
        found = [r for r in self.studies_rows if (r["tenant"], r["study_id"]) == (tenant, sid)]
        return found[0] if found else None

    async def series(self, tenant: str, study_uid: str) -> list[Mapping[str, Any]]:
        return [
            r
            for r in self.series_rows
            if (r["tenant"], r["study_instance_uid"]) == (tenant, study_uid)
        ]

    async def instances(
        self, tenant: str, study_uid: str, series_uid: str | None = None
    ) -> list[Mapping[str, Any]]:
        return [
            r
            for r in self.instance_rows
            if (r["tenant"], r["study_instance_uid"]) == (tenant, study_uid)
            and series_uid in (None, r["series_instance_uid"])
        ]

    async def study_ingests(self, tenant: str, study_uid: str) -> list[Mapping[str, Any]]:
        return []

    async def rejections(
        self, tenant: str, ingest_ids: Sequence[uuid.UUID]
    ) -> list[Mapping[str, Any]]:
        return []

    async def ingest(self, tenant: str, ingest_id: uuid.UUID) -> Mapping[str, Any] | None:
        found = [
            r for r in self.ingest_rows if (r["tenant"], r["ingest_id"]) == (tenant, ingest_id)
        ]
        return found[0] if found else None

    async def ingest_studies(self, tenant: str, ingest_id: uuid.UUID) -> list[Mapping[str, Any]]:
        return []

    async def unfiled(self, tenant: str, ingest_id: uuid.UUID) -> list[Mapping[str, Any]]:
        return []

    async def source_bucket(
        self, tenant: str, study_uid: str, series_uid: str | None
    ) -> str | None:
        return self.bucket


@pytest.fixture
def index() -> FakeStudyIndex:
    return FakeStudyIndex()


@pytest.fixture
async def studies_client(
    settings: ApiSettings, index: FakeStudyIndex, publisher: FakePublisher, sources: FakeSources
) -> AsyncIterator[httpx.AsyncClient]:
    products = FakeProductIndex(index.instance_rows)
    async with serving(study_app(settings, publisher, sources, index, products)) as http:
        yield http


def bearer(settings: ApiSettings, tenant: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(SECRET, tenant, settings.jwt_audience)}"}


async def test_studies_are_listed_newest_first_a_page_at_a_time(
    studies_client: httpx.AsyncClient, settings: ApiSettings, index: FakeStudyIndex
) -> None:
    ids = [index.add_study("acme", f"{STUDY}.{n}", received=n) for n in range(3)]
    index.add_study("globex", f"{STUDY}.9")
    auth = bearer(settings, "acme")
    first = await studies_client.get("/studies?limit=2", headers=auth)
    assert first.status_code == 200, first.text
    page = first.json()
    assert [item["id"] for item in page["items"]] == [str(ids[2]), str(ids[1])]
    assert page["items"][0]["url"] == f"/studies/{ids[2]}"
    second = await studies_client.get(f"/studies?cursor={page['nextCursor']}", headers=auth)
    assert [item["id"] for item in second.json()["items"]] == [str(ids[0])]
    assert second.json()["nextCursor"] is None
    bad = await studies_client.get("/studies?cursor=nope", headers=auth)
    assert assert_problem(bad, 422)["errors"][0]["field"] == "cursor"


async def test_a_study_and_its_series_in_anatomical_order(
    studies_client: httpx.AsyncClient, settings: ApiSettings, index: FakeStudyIndex
) -> None:
    sid = index.add_study("acme", STUDY)
    auth = bearer(settings, "acme")
    study = (await studies_client.get(f"/studies/{sid}", headers=auth)).json()
    (series,) = study["series"]
    assert (series["seriesInstanceUid"], series["rows"], series["orientationUniform"]) == (
        AXIAL,
        512,
        True,
    )
    assert series["spacing"] == {"mean": 5.0, "min": 5.0, "max": 5.0, "uniform": True}
    assert series["url"] == f"/studies/{sid}/series/{AXIAL}"
    detail = (await studies_client.get(series["url"], headers=auth)).json()
    assert [s["position"] for s in detail["slices"]] == [-5.0, 0.0, 5.0]
    assert [s["instanceNumber"] for s in detail["slices"]] == [2, 3, 1]
    assert (detail["studyId"], detail["bitsStored"], detail["signed"]) == (str(sid), 12, False)


async def test_unknown_and_foreign_things_are_the_same_404(
    studies_client: httpx.AsyncClient, settings: ApiSettings, index: FakeStudyIndex
) -> None:
    sid = index.add_study("acme", STUDY)
    other = bearer(settings, "globex")
    for path, kind in (
        (f"/studies/{sid}", "study-not-found"),
        (f"/studies/{sid}/series/{AXIAL}", "study-not-found"),
        (f"/studies/{uuid.uuid4()}", "study-not-found"),
        (f"/ingests/{uuid.uuid4()}", "ingest-not-found"),
    ):
        problem = assert_problem(await studies_client.get(path, headers=other), 404)
        assert problem["type"] == f"urn:dicompress:problem:{kind}"
    mine = bearer(settings, "acme")
    missing = await studies_client.get(f"/studies/{sid}/series/1.2.3", headers=mine)
    assert assert_problem(missing, 404)["type"].endswith("series-not-found")
    not_a_uid = await studies_client.get(f"/studies/{sid}/series/1.2.x", headers=mine)
    assert_problem(not_a_uid, 422)
    unauthenticated = await studies_client.get("/studies")
    assert_problem(unauthenticated, 401)


async def test_a_job_of_a_study_reads_the_prefix_of_its_instances(
    studies_client: httpx.AsyncClient,
    settings: ApiSettings,
    index: FakeStudyIndex,
    publisher: FakePublisher,
) -> None:
    sid = index.add_study("acme", STUDY)
    body = {k: v for k, v in BODY.items() if k != "s3SourceUri"}
    auth = bearer(settings, "acme")
    whole = await studies_client.post("/jobs", json={**body, "studyId": str(sid)}, headers=auth)
    assert whole.status_code == 202, whole.text
    assert whole.json()["studyId"] == str(sid)
    one = await studies_client.post(
        "/jobs",
        json={**body, "studyId": str(sid), "seriesUid": AXIAL, "includeNonImage": False},
        headers=auth,
    )
    assert one.status_code == 202, one.text
    assert one.json()["seriesUid"] == AXIAL
    study_uri = f"s3://dicompress-data/acme/studies/{STUDY}/"
    assert [e.source_uri for e in publisher.events] == [study_uri, f"{study_uri}{AXIAL}/"]
    assert [e.include_non_image for e in publisher.events] == [True, False]

    index.bucket = None  # no upload projected yet: the upload bucket of the settings
    fallback = await studies_client.post("/jobs", json={**body, "studyId": str(sid)}, headers=auth)
    assert fallback.json()["sourceUri"] == study_uri

    foreign = await studies_client.post(
        "/jobs", json={**body, "studyId": str(sid)}, headers=bearer(settings, "globex")
    )
    assert assert_problem(foreign, 404)["type"].endswith("study-not-found")
    no_series = await studies_client.post(
        "/jobs", json={**body, "studyId": str(sid), "seriesUid": "1.2.3"}, headers=auth
    )
    assert assert_problem(no_series, 404)["type"].endswith("series-not-found")
    both = await studies_client.post("/jobs", json={**BODY, "studyId": str(sid)}, headers=auth)
    assert {e["field"] for e in assert_problem(both, 422)["errors"]} == {"s3SourceUri", "studyId"}
    assert len(publisher.events) == 3
