"""GET/POST /studies/{id}/products and the products in GET /studies/{id}, on fakes of the
index and the broker (the product flow on real backends: tests/e2e/test_products_e2e.py)."""

from __future__ import annotations

import uuid
from datetime import timedelta

import httpx
from api_fakes import FakeProductIndex, FakePublisher, FakeStudyIndex, bearer, product_row
from test_api_http import assert_problem

from dicompress_api.settings import ApiSettings
from dicompress_schemas.histories.ingests import AXIAL, STUDY, T0
from dicompress_schemas.products import ThumbnailView


def _project(products: FakeProductIndex, publisher: FakePublisher, status: str) -> None:
    """What the progress worker would have written for every product published so far."""
    for n, event in enumerate(publisher.products):
        products.product_rows.append(product_row(event, status, T0 + timedelta(seconds=n), 1))


async def test_products_are_requested_once_and_then_answered_as_they_stand(
    studies_client: httpx.AsyncClient,
    settings: ApiSettings,
    index: FakeStudyIndex,
    products: FakeProductIndex,
    publisher: FakePublisher,
) -> None:
    sid = index.add_study("acme", STUDY)
    auth = bearer(settings, "acme")
    body = {"products": [{"kind": "preview", "bin_xy": 4}, {"kind": "thumbnails"}]}
    first = await studies_client.post(f"/studies/{sid}/products", json=body, headers=auth)
    assert first.status_code == 202, first.text
    items = first.json()["items"]
    assert [(i["kind"], i["status"], i["trigger"]) for i in items] == [
        ("preview", "queued", "request"),
        ("thumbnails", "queued", "request"),
    ]
    assert items[0]["params"]["bin_xy"] == 4
    assert items[0]["slicesUrl"] == f"/jobs/{items[0]['id']}/slices"
    assert [str(e.job_id) for e in publisher.products] == [i["id"] for i in items]
    assert {e.series_instance_uid for e in publisher.products} == {AXIAL}
    assert all(
        e.target_uri.startswith(f"s3://dicompress-data/acme/products/{STUDY}/")
        for e in publisher.products
    )

    _project(products, publisher, "running")
    again = await studies_client.post(f"/studies/{sid}/products", json=body, headers=auth)
    assert again.status_code == 202
    assert [i["id"] for i in again.json()["items"]] == [i["id"] for i in items]
    assert [i["status"] for i in again.json()["items"]] == ["running", "running"]
    assert len(publisher.products) == 2  # nothing asked twice

    other = await studies_client.post(
        f"/studies/{sid}/products",
        json={"products": [{"kind": "preview", "bin_xy": 2}]},
        headers=auth,
    )
    assert other.json()["items"][0]["id"] not in {i["id"] for i in items}
    assert len(publisher.products) == 3


async def test_the_study_lists_its_products_with_short_lived_image_urls(
    studies_client: httpx.AsyncClient,
    settings: ApiSettings,
    index: FakeStudyIndex,
    products: FakeProductIndex,
    publisher: FakePublisher,
) -> None:
    sid = index.add_study("acme", STUDY)
    auth = bearer(settings, "acme")
    await studies_client.post(
        f"/studies/{sid}/products", json={"products": [{"kind": "thumbnails"}]}, headers=auth
    )
    _project(products, publisher, "completed")
    (event,) = publisher.products
    prefix = event.target_uri.removeprefix("s3://dicompress-data/")
    products.image_rows.append(
        {
            "job_id": event.job_id,
            "item_index": 0,
            "view": ThumbnailView.KEY.value,
            "preset": "default",
            "window_center": 40.0,
            "window_width": 400.0,
            "size": 256,
            "width": 256,
            "height": 256,
            "format": "png",
            "key": f"{prefix}key-default-256.png",
            "bytes": 1234,
            "fallback": None,
        }
    )
    study = (await studies_client.get(f"/studies/{sid}", headers=auth)).json()
    (product,) = study["products"]
    assert (product["kind"], product["status"], product["items"]["done"]) == (
        "thumbnails",
        "completed",
        1,
    )
    (image,) = product["images"]
    assert image["url"].split("?")[0].endswith(f"/dicompress-data/{prefix}key-default-256.png")
    assert "Signature" in image["url"] or "X-Amz-Signature" in image["url"]
    assert product["urlsExpireAt"] is not None
    listed = (await studies_client.get(f"/studies/{sid}/products", headers=auth)).json()["items"]
    assert [p["id"] for p in listed] == [product["id"]]


async def test_what_cannot_be_made_is_refused_with_the_reason(
    studies_client: httpx.AsyncClient,
    settings: ApiSettings,
    index: FakeStudyIndex,
    publisher: FakePublisher,
) -> None:
    sid = index.add_study("acme", STUDY)
    auth = bearer(settings, "acme")
    url = f"/studies/{sid}/products"
    unknown = await studies_client.post(
        url, json={"products": [{"kind": "preview"}], "series": ["1.2.9"]}, headers=auth
    )
    assert "1.2.9" in assert_problem(unknown, 404)["detail"]
    index.instance_rows[:] = index.instance_rows[:2]  # a series of 2 images is no volume
    thin = await studies_client.post(
        url, json={"products": [{"kind": "snapshot"}], "series": [AXIAL]}, headers=auth
    )
    assert "2 image(s)" in assert_problem(thin, 422)["detail"]
    for bad in (
        {"kind": "preview", "bin_xy": 3},
        {"kind": "mri"},
        {"kind": "thumbnails", "sizes": [4096]},
    ):
        refused = await studies_client.post(url, json={"products": [bad]}, headers=auth)
        assert refused.status_code == 422, (bad, refused.text)
    assert publisher.products == []


async def test_another_tenants_study_is_unknown(
    studies_client: httpx.AsyncClient,
    settings: ApiSettings,
    index: FakeStudyIndex,
    publisher: FakePublisher,
) -> None:
    sid = index.add_study("globex", STUDY)
    auth = bearer(settings, "acme")
    for answer in (
        await studies_client.post(
            f"/studies/{sid}/products", json={"products": [{"kind": "preview"}]}, headers=auth
        ),
        await studies_client.get(f"/studies/{sid}/products", headers=auth),
        await studies_client.get(f"/studies/{uuid.uuid4()}/products", headers=auth),
    ):
        assert_problem(answer, 404)
    assert publisher.products == []
