"""The study index routes and POST /jobs with a study, over a fake index (no database)."""

from __future__ import annotations

import uuid

import httpx
from api_fakes import FakePublisher, FakeStudyIndex, bearer
from test_api_http import BODY, assert_problem

from dicompress_api.settings import ApiSettings
from dicompress_schemas.histories.ingests import AXIAL, STUDY


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
