"""POST /studies/{id}/series/{uid}/mini-ct on fakes of the study index, the product index and
the broker: one identity per region however it is asked, one job per identity, the URL once it
is made, and the valid range when the region is not in the series."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

import httpx
import orjson
import pytest
from api_fakes import FakeProductIndex, FakePublisher, FakeStudyIndex, bearer, product_row
from test_api_http import assert_problem

from dicompress_api.products.mini_ct import PublishOnce
from dicompress_api.settings import ApiSettings
from dicompress_schemas import Codec, ProductRequested
from dicompress_schemas.histories.ingests import AXIAL, STUDY, T0
from dicompress_schemas.products import MiniCtParams, ProductKind, RoiBox, product_request

# The fake study's axial series: three 512 x 512 slices at z = -5, 0, 5 mm (indexes 0, 1, 2),
# pixels 0.703125 mm apart, the first pixel's centre at (-180, -180).
PIXEL = 0.703125
URL = f"/series/{AXIAL}/mini-ct"


def _project(products: FakeProductIndex, event: ProductRequested, status: str) -> None:
    """What the progress worker writes for the product, and the compressor's artifact."""
    done = status == "completed"
    failed = status == "failed"
    products.product_rows.append(
        product_row(
            event,
            status,
            T0 + timedelta(seconds=1),
            2,
            error_code="SOURCE_UNREADABLE" if failed else None,
            reason="a slice could not be read" if failed else None,
            artifact_uri=f"{event.target_uri}mini-ct.zip" if done else None,
            artifact_bytes=4321 if done else None,
        )
    )


async def test_a_region_is_one_product_however_it_is_asked_and_is_published_once(
    studies_client: httpx.AsyncClient,
    settings: ApiSettings,
    index: FakeStudyIndex,
    publisher: FakePublisher,
) -> None:
    sid = index.add_study("acme", STUDY)
    auth = bearer(settings, "acme")
    by_index = {"zStart": 0, "zEnd": 1, "roi": {"row": 10, "column": 20, "rows": 8, "columns": 6}}
    first = await studies_client.post(f"/studies/{sid}{URL}", json=by_index, headers=auth)
    assert first.status_code == 202, first.text
    answer = first.json()
    assert answer["status"] == "queued"
    assert answer["region"] == {
        "zStart": 0,
        "zEnd": 1,
        "slices": 2,
        "firstMm": -5.0,
        "lastMm": 0.0,
        "roi": {"row": 10, "column": 20, "rows": 8, "columns": 6},
    }
    assert answer["streamUrl"] == f"/jobs/{answer['id']}/stream"
    assert answer["downloadUrl"] is None
    (event,) = publisher.products
    assert event.kind is ProductKind.MINI_CT
    assert event.params == MiniCtParams(
        z_start=0, z_end=1, roi=RoiBox(row=10, column=20, rows=8, columns=6)
    )
    assert (str(event.job_id), event.trigger) == (answer["id"], "request")
    assert event.source_uri == f"s3://dicompress-data/acme/studies/{STUDY}/{AXIAL}/"

    # The same region in millimetres: slices between -5.2 and 0.3 mm, a box centred on the
    # centre of rows 10..17, columns 20..25 (x along the rows, y down the columns).
    centre = [-180.0 + 22.5 * PIXEL, -180.0 + 13.5 * PIXEL, 0.0]
    by_mm = {
        "zUnit": "mm",
        "zStart": -5.2,
        "zEnd": 0.3,
        "roiMm": {"center": centre, "size": [6 * PIXEL, 8 * PIXEL]},
    }
    again = await asyncio.gather(
        studies_client.post(f"/studies/{sid}{URL}", json=by_mm, headers=auth),
        studies_client.post(f"/studies/{sid}{URL}", json=by_index, headers=auth),
    )
    assert [a.status_code for a in again] == [202, 202]
    assert {a.json()["id"] for a in again} == {answer["id"]}
    assert len(publisher.products) == 1  # not projected yet, and still not asked twice

    other = await studies_client.post(
        f"/studies/{sid}{URL}", json={**by_index, "zEnd": 2}, headers=auth
    )
    assert other.json()["id"] != answer["id"]
    assert len(publisher.products) == 2


async def test_a_made_mini_ct_is_answered_at_once_with_a_short_lived_url(
    studies_client: httpx.AsyncClient,
    settings: ApiSettings,
    index: FakeStudyIndex,
    products: FakeProductIndex,
    publisher: FakePublisher,
) -> None:
    sid = index.add_study("acme", STUDY)
    auth = bearer(settings, "acme")
    body = {"zStart": 1, "format": "multiframe", "preset": "rate10", "downsample": 2}
    await studies_client.post(f"/studies/{sid}{URL}", json=body, headers=auth)
    (event,) = publisher.products
    assert event.params == MiniCtParams(
        z_start=1, z_end=2, downsample=2, format="multiframe", codec=Codec.J2K_LOSSY, rate=10.0
    )

    _project(products, event, "running")
    running = await studies_client.post(f"/studies/{sid}{URL}", json=body, headers=auth)
    assert (running.status_code, running.json()["status"]) == (202, "running")

    products.product_rows.clear()
    _project(products, event, "completed")
    made = await studies_client.post(f"/studies/{sid}{URL}", json=body, headers=auth)
    assert made.status_code == 200, made.text
    answer = made.json()
    assert (answer["status"], answer["artifactBytes"]) == ("completed", 4321)
    prefix = event.target_uri.removeprefix("s3://")
    assert answer["downloadUrl"].split("?")[0].endswith(f"/{prefix}mini-ct.zip")
    assert "Signature" in answer["downloadUrl"]
    assert answer["urlExpiresAt"] is not None
    assert len(publisher.products) == 1  # nothing made again

    products.product_rows.clear()
    _project(products, event, "failed")
    failed = await studies_client.post(f"/studies/{sid}{URL}", json=body, headers=auth)
    assert failed.status_code == 200
    assert (failed.json()["status"], failed.json()["reason"]) == (
        "failed",
        "a slice could not be read",
    )
    listed = (await studies_client.get(f"/studies/{sid}/products", headers=auth)).json()["items"]
    assert [(p["kind"], p["id"]) for p in listed] == [("mini-ct", str(event.job_id))]


async def test_a_stored_location_outside_the_tenant_is_never_signed(
    studies_client: httpx.AsyncClient,
    settings: ApiSettings,
    index: FakeStudyIndex,
    products: FakeProductIndex,
    publisher: FakePublisher,
) -> None:
    sid = index.add_study("acme", STUDY)
    auth = bearer(settings, "acme")
    await studies_client.post(f"/studies/{sid}{URL}", json={}, headers=auth)
    (event,) = publisher.products
    _project(products, event, "completed")
    products.product_rows[0]["artifact_uri"] = "s3://dicompress-data/globex/x.zip"
    answer = await studies_client.post(f"/studies/{sid}{URL}", json={}, headers=auth)
    assert answer.status_code == 500
    assert "Signature" not in answer.text


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"zEnd": 450}, "zEnd 450 is past the last slice: 0..2 (or -5.00..5.00 mm)"),
        ({"zUnit": "mm", "zStart": 6, "zEnd": 9}, "no slice lies between zStart 6 mm and zEnd 9"),
        (
            {"roi": {"row": 500, "column": 0, "rows": 20, "columns": 5}},
            "roi covers rows 500..519, columns 0..4, outside the slice: valid rows 0..511",
        ),
        ({"codec": "j2k-lossy"}, "a rate is required"),
        ({"rate": 0.5}, "greater than 1"),
        ({"preset": "rate10", "codec": "j2k-lossless"}, "a preset or a codec"),
        ({"zUnit": "cm"}, "'index' or 'mm'"),
        ({"downsample": 3}, "1, 2 or 4"),
    ],
)
async def test_a_region_not_in_the_series_is_refused_with_the_valid_range(
    studies_client: httpx.AsyncClient,
    settings: ApiSettings,
    index: FakeStudyIndex,
    publisher: FakePublisher,
    body: dict[str, Any],
    detail: str,
) -> None:
    sid = index.add_study("acme", STUDY)
    answer = await studies_client.post(
        f"/studies/{sid}{URL}", json=body, headers=bearer(settings, "acme")
    )
    assert detail in orjson.dumps(assert_problem(answer, 422)).decode()
    assert publisher.products == []


async def test_another_tenants_study_or_an_unknown_series_is_not_found(
    studies_client: httpx.AsyncClient,
    settings: ApiSettings,
    index: FakeStudyIndex,
    publisher: FakePublisher,
) -> None:
    sid = index.add_study("globex", STUDY)
    acme = bearer(settings, "acme")
    assert_problem(await studies_client.post(f"/studies/{sid}{URL}", json={}, headers=acme), 404)
    own = index.add_study("acme", STUDY)
    unknown = await studies_client.post(
        f"/studies/{own}/series/1.2.9/mini-ct", json={}, headers=acme
    )
    assert "1.2.9" in assert_problem(unknown, 404)["detail"]
    assert_problem(
        await studies_client.post(f"/studies/{uuid.uuid4()}{URL}", json={}, headers=acme), 404
    )
    assert publisher.products == []


async def test_requests_at_the_same_time_publish_once() -> None:
    once = PublishOnce()
    event = _event()
    entered, release = asyncio.Event(), asyncio.Event()
    sent: list[ProductRequested] = []

    async def slow_publish(e: ProductRequested) -> None:
        entered.set()
        await release.wait()
        sent.append(e)

    first = asyncio.create_task(once.publish(event, slow_publish))
    await entered.wait()  # the first holds the product's lock, its publish not acknowledged
    second = asyncio.create_task(once.publish(event, slow_publish))
    await asyncio.sleep(0)
    release.set()
    assert await asyncio.gather(first, second) == [True, False]
    assert sent == [event]
    assert await once.publish(event, slow_publish) is False


async def test_a_failed_publish_is_tried_again_by_the_next_request() -> None:
    once = PublishOnce()
    event = _event()

    async def down(_: ProductRequested) -> None:
        raise RuntimeError("broker away")

    async def up(_: ProductRequested) -> None:
        return None

    with pytest.raises(RuntimeError):
        await once.publish(event, down)
    assert await once.publish(event, up) is True


def _event() -> ProductRequested:
    return product_request(
        tenant="acme",
        bucket="dicompress-data",
        study_uid=STUDY,
        series_uid=AXIAL,
        source_version="0" * 64,
        params=MiniCtParams(z_start=0, z_end=1),
        trigger="request",
    )
