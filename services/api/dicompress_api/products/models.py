"""Bodies of the product routes (camelCase JSON); `answers` builds the responses."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from dicompress_api.web.camel import CAMEL
from dicompress_schemas.products import ProductParams


class ProductImage(BaseModel):
    """One thumbnail or snapshot image, readable at `url` until `urlsExpireAt` of its product."""

    model_config = CAMEL

    view: str = Field(description="key (axial, middle by position), coronal, sagittal, anterior")
    preset: str = Field(description="The window (thumbnails) or rendering preset (snapshot)")
    size: int = Field(description="Long side asked for, px")
    width: int
    height: int
    format: str
    bytes: int
    window_center: float | None = None
    window_width: float | None = None
    fallback: str | None = Field(
        default=None, description="Why the image is not what was asked for, when it is not"
    )
    url: str


class ItemCounts(BaseModel):
    model_config = CAMEL

    total: int | None = Field(description="Slices of a preview, images of the others")
    done: int
    failed: int


class ProductView(BaseModel):
    """A product of one series: what it is, how far it got, and where to read it."""

    model_config = CAMEL

    id: uuid.UUID = Field(description="Its job id: GET /jobs/{id}, /jobs/{id}/stream, WebSocket")
    kind: str
    series_instance_uid: str
    status: str
    params: dict[str, Any]
    product_key: str
    trigger: str = Field(description="upload (made on arrival) or request")
    items: ItemCounts
    requested_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    wall_ms: float | None = None
    error_code: str | None = None
    reason: str | None = None
    job_url: str
    stream_url: str
    slices_url: str | None = Field(
        default=None, description="A preview's slices (GET /jobs/{id}/slices), as they are made"
    )
    images: list[ProductImage] = Field(default_factory=list)
    urls_expire_at: datetime | None = None


class ProductList(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True)

    items: list[ProductView]


class ProductsRequest(BaseModel):
    """Which products, of which series (default: every CT volume of the study)."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, frozen=True, extra="forbid"
    )

    products: list[ProductParams] = Field(
        min_length=1,
        max_length=6,
        description="Each with its `kind` (preview, thumbnails, snapshot) and parameters, e.g. "
        '{"kind": "preview", "bin_xy": 4, "rate": 20}, with the contract\'s names (those of the '
        "events); omitted parameters take their defaults",
    )
    series: list[str] | None = Field(
        default=None, max_length=100, description="SeriesInstanceUIDs; default: every CT volume"
    )
