"""Rows of the projection -> product views, with presigned URLs for what is ready."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

import orjson

from dicompress_api.products.models import ItemCounts, ProductImage, ProductView
from dicompress_infra.s3 import S3Uri

Presign = Callable[[S3Uri], str]


def product_view(
    row: Mapping[str, Any],
    images: Sequence[Mapping[str, Any]],
    presign: Presign,
    expires_at: datetime | None,
) -> ProductView:
    job = row["job_id"]
    bucket = S3Uri.parse(row["target_uri"]).bucket
    return ProductView(
        id=job,
        kind=row["kind"],
        series_instance_uid=row["series_instance_uid"],
        status=row["status"],
        params=orjson.loads(row["params"]),
        product_key=row["product_key"],
        trigger=row["trigger"],
        items=ItemCounts(
            total=row["slices_total"], done=row["slices_done"], failed=row["slices_failed"]
        ),
        requested_at=row["requested_at"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        wall_ms=row["wall_ms"],
        error_code=row["error_code"],
        reason=row["reason"],
        job_url=f"/jobs/{job}",
        stream_url=f"/jobs/{job}/stream",
        slices_url=f"/jobs/{job}/slices" if row["kind"] == "preview" else None,
        images=[_image(image, bucket, presign) for image in images],
        urls_expire_at=expires_at if images else None,
    )


def _image(row: Mapping[str, Any], bucket: str, presign: Presign) -> ProductImage:
    fields = {k: row[k] for k in ProductImage.model_fields if k != "url"}
    return ProductImage(**fields, url=presign(S3Uri(bucket, row["key"])))
