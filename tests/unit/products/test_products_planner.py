"""The process manager's rule: which products a received study gets, with which identity."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from dicompress_products.planner import ReceivedSeries, plan
from dicompress_products.settings import ProductsSettings
from dicompress_schemas import Topics, event_key
from dicompress_schemas.products import (
    DEFAULT_PRODUCTS,
    PreviewParams,
    ProductKind,
    key_instance,
    product_request,
    request_topic,
    series_version,
)

INGEST = uuid.UUID("7d2e4c1a-5b3f-4e8a-9c6d-0f1e2a3b4c5d")
AT = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
VERSION = series_version([("1.2.3.1", "aa"), ("1.2.3.2", "bb")])


def _series(uid: str, modality: str | None = "CT", images: int = 40) -> ReceivedSeries:
    return ReceivedSeries("1.2.3", uid, modality, images, VERSION, "dicompress-data")


def test_every_ct_volume_gets_every_product_of_the_policy_previews_first() -> None:
    requests = plan(
        "acme",
        [_series("1.2.3.4"), _series("1.2.3.5")],
        (ProductKind.SNAPSHOT, ProductKind.THUMBNAILS, ProductKind.PREVIEW),
        INGEST,
        AT,
    )
    assert [(r.series_instance_uid, r.kind) for r in requests] == [
        ("1.2.3.4", ProductKind.PREVIEW),
        ("1.2.3.4", ProductKind.SNAPSHOT),
        ("1.2.3.4", ProductKind.THUMBNAILS),
        ("1.2.3.5", ProductKind.PREVIEW),
        ("1.2.3.5", ProductKind.SNAPSHOT),
        ("1.2.3.5", ProductKind.THUMBNAILS),
    ]
    assert {r.trigger for r in requests} == {"upload"}
    assert {r.ingest_id for r in requests} == {INGEST}
    assert len({r.job_id for r in requests}) == 6


def test_a_scout_a_capture_and_a_dose_report_get_none() -> None:
    received = [
        _series("1.1", images=1),
        _series("1.2", "OT"),
        _series("1.3", "SR"),
        _series("1.4", None),
    ]
    assert plan("acme", received, DEFAULT_PRODUCTS, INGEST, AT) == []


def test_the_same_series_asked_twice_is_the_same_job_and_prefix() -> None:
    first = plan("acme", [_series("1.2.3.4")], DEFAULT_PRODUCTS, INGEST, AT)
    again = plan("acme", [_series("1.2.3.4")], DEFAULT_PRODUCTS, uuid.uuid4(), datetime.now(UTC))
    assert [(r.job_id, r.event_id, r.target_uri) for r in first] == [
        (r.job_id, r.event_id, r.target_uri) for r in again
    ]


def test_other_content_other_parameters_or_another_tenant_is_another_product() -> None:
    def job(tenant: str = "acme", version: str = VERSION, bin_xy: int = 2) -> uuid.UUID:
        return product_request(
            tenant=tenant,
            bucket="dicompress-data",
            study_uid="1.2.3",
            series_uid="1.2.3.4",
            source_version=version,
            params=PreviewParams.model_validate({"bin_xy": bin_xy}),
            trigger="request",
        ).job_id

    assert len({job(), job(tenant="other"), job(version=series_version([])), job(bin_xy=4)}) == 4


def test_a_series_version_ignores_arrival_order_but_not_content() -> None:
    pairs = [("1.2.3.1", "aa"), ("1.2.3.2", "bb")]
    assert series_version(pairs) == series_version(list(reversed(pairs)))
    assert series_version(pairs) != series_version([("1.2.3.1", "aa"), ("1.2.3.2", "bc")])


def test_the_product_lies_under_its_tenant_and_goes_to_whoever_makes_it() -> None:
    (preview, snapshot, thumbs) = plan("acme", [_series("1.2.3.4")], DEFAULT_PRODUCTS, INGEST, AT)
    for request in (preview, snapshot, thumbs):
        assert request.target_uri.startswith("s3://dicompress-data/acme/products/1.2.3/1.2.3.4/")
        assert request.source_uri == "s3://dicompress-data/acme/studies/1.2.3/1.2.3.4/"
    topics = Topics("t-")
    assert request_topic(preview.kind, topics) == "t-compression.interactive"
    assert request_topic(thumbs.kind, topics) == "t-render.requests"
    assert request_topic(snapshot.kind, topics) == "t-render.requests"


def test_the_policy_is_a_setting_with_a_per_tenant_override() -> None:
    settings = ProductsSettings(
        products_policy=["preview", "thumbnails"],
        products_tenant_policies={"lab": ["snapshot"], "quiet": []},
    )
    assert settings.policy("acme") == (ProductKind.PREVIEW, ProductKind.THUMBNAILS)
    assert settings.policy("lab") == (ProductKind.SNAPSHOT,)
    assert settings.policy("quiet") == ()
    assert ProductsSettings().policy("acme") == DEFAULT_PRODUCTS
    with pytest.raises(ValueError, match="mri"):
        ProductsSettings(products_policy=["mri"])


def test_the_key_image_is_nearest_the_middle_of_the_positions() -> None:
    # positions with a gap: the middle of the range (5.0), not the middle index
    positions = [("1.1", 0.0), ("1.2", 1.0), ("1.3", 2.0), ("1.4", 6.0), ("1.5", 10.0)]
    assert key_instance(reversed(positions)) == "1.4"
    assert key_instance([("1.2", 0.0), ("1.1", 2.0)]) == "1.1"  # a tie: the lower UID
    assert key_instance([("1.1", None), ("1.2", 4.0)]) == "1.2"
    assert key_instance([("1.1", None)]) is None


def test_the_requests_of_one_series_share_a_kafka_key_and_carry_its_key_image() -> None:
    series = ReceivedSeries("1.2.3", "1.2.3.4", "CT", 40, VERSION, "dicompress-data", "1.2.3.4.20")
    requests = plan("acme", [series, _series("1.2.3.5")], DEFAULT_PRODUCTS, INGEST, AT)
    keys = {
        s: {event_key(r) for r in requests if r.series_instance_uid == s}
        for s in ("1.2.3.4", "1.2.3.5")
    }
    assert keys == {"1.2.3.4": {b"acme/1.2.3/1.2.3.4"}, "1.2.3.5": {b"acme/1.2.3/1.2.3.5"}}
    assert {r.key_instance_uid for r in requests if r.series_instance_uid == "1.2.3.4"} == {
        "1.2.3.4.20"
    }
    # a hint, not identity: the same product without it
    assert (
        requests[0].job_id
        == plan("acme", [_series("1.2.3.4")], DEFAULT_PRODUCTS, INGEST, AT)[0].job_id
    )
