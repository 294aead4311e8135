"""Which products a received study needs: pure, so the rule is tested without a broker."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from dicompress_schemas.products import (
    DEFAULT_PARAMS,
    ProductKind,
    ProductRequested,
    makes_products,
    product_request,
)


@dataclass(frozen=True)
class ReceivedSeries:
    """A series an ingest stored instances of, as the study index has it now."""

    study_uid: str
    series_uid: str
    modality: str | None
    images: int
    version: str  # dicompress_schemas.products.series_version of all its images
    bucket: str
    key_instance: str | None = None  # dicompress_schemas.products.key_instance


def plan(
    tenant: str,
    series: Iterable[ReceivedSeries],
    kinds: Sequence[ProductKind],
    ingest_id: uuid.UUID,
    occurred_at: datetime,
) -> list[ProductRequested]:
    """One request per eligible series and product kind of the policy, default parameters.
    Previews first: the compressor starts on them while the renderer makes the images."""
    order = sorted(kinds, key=lambda k: k is not ProductKind.PREVIEW)
    return [
        product_request(
            tenant=tenant,
            bucket=s.bucket,
            study_uid=s.study_uid,
            series_uid=s.series_uid,
            source_version=s.version,
            params=DEFAULT_PARAMS[kind],
            trigger="upload",
            ingest_id=ingest_id,
            occurred_at=occurred_at,
            key_instance_uid=s.key_instance,
        )
        for s in series
        if makes_products(s.modality, s.images)
        for kind in order
    ]
