"""Rows of `products` and `product_images`: what a product job is, and the images it made.

The store writes them for events it folds into their job (a late image after the job ended adds
no row), beside the `jobs` row the fold keeps.
"""

from __future__ import annotations

import orjson

from dicompress_progress.tracking import insert_sql
from dicompress_schemas import Event, ImageRendered, ProductRequested

PRODUCT_COLUMNS: tuple[str, ...] = (
    "job_id",
    "tenant",
    "study_instance_uid",
    "series_instance_uid",
    "kind",
    "params",
    "product_key",
    "source_version",
    "trigger",
    "ingest_id",
    "target_uri",
    "requested_at",
)

IMAGE_COLUMNS: tuple[str, ...] = (
    "job_id",
    "item_index",
    "seq",
    "view",
    "preset",
    "window_center",
    "window_width",
    "size",
    "width",
    "height",
    "format",
    "key",
    "bytes",
    "render_ms",
    "fallback",
    "occurred_at",
)


def product_values(event: Event) -> tuple[object, ...] | None:
    """The `products` row of a ProductRequested, or None for any other event."""
    if not isinstance(event, ProductRequested):
        return None
    return (
        event.job_id,
        event.tenant,
        event.study_instance_uid,
        event.series_instance_uid,
        event.kind.value,
        orjson.dumps(event.params.model_dump(mode="json")).decode(),
        event.product_key,
        event.source_version,
        event.trigger,
        event.ingest_id,
        event.target_uri,
        event.occurred_at,
    )


def image_values(event: Event) -> tuple[object, ...] | None:
    """The `product_images` row of an ImageRendered, or None for any other event."""
    if not isinstance(event, ImageRendered):
        return None
    return (
        event.job_id,
        event.item_index,
        event.seq,
        event.view.value,
        event.preset,
        event.window_center,
        event.window_width,
        event.size,
        event.width,
        event.height,
        event.format.value,
        event.key,
        event.bytes,
        event.render_ms,
        event.fallback,
        event.occurred_at,
    )


INSERT_PRODUCT = insert_sql("products", PRODUCT_COLUMNS, {"params": "::jsonb"})
INSERT_IMAGE = insert_sql("product_images", IMAGE_COLUMNS)
