"""What the product routes read and publish through; tests pass fakes."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from dicompress_schemas import ProductRequested


class ProductIndex(Protocol):
    """Reads the projection's products (each read names the tenant); raises StoreUnavailable
    when Postgres is away."""

    async def products(self, tenant: str, study_uid: str) -> list[Mapping[str, Any]]:
        """`products` rows of the study joined with their `jobs` row (state, counts, times,
        error, artifact_uri and artifact_bytes), newest first."""

    async def images(self, job_ids: Sequence[uuid.UUID]) -> list[Mapping[str, Any]]:
        """`product_images` rows of these jobs, by job and item."""

    async def volumes(self, tenant: str, study_uid: str) -> list[Mapping[str, Any]]:
        """Per image series: series_instance_uid, modality, uids and digests (by UID) of its
        images, and the bucket most of them came in."""


class ProductPublisher(Protocol):
    async def publish_product(self, event: ProductRequested) -> None:
        """Return once the broker acknowledged it, on the topic of whoever makes the product;
        raise PublishUnavailable if it did not in time."""
