"""Listing and requesting a study's products: the rules, on the ports (no HTTP, no SQL)."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from dicompress_api.products.answers import Presign, product_view
from dicompress_api.products.models import ItemCounts, ProductsRequest, ProductView
from dicompress_api.products.ports import ProductIndex, ProductPublisher
from dicompress_api.studies.errors import SeriesNotFound, StudyNotFound
from dicompress_api.studies.ports import StudyIndex
from dicompress_api.web.errors import ApiError
from dicompress_schemas import ProductRequested
from dicompress_schemas.products import (
    MIN_PRODUCT_IMAGES,
    key_instance,
    makes_products,
    product_request,
    series_version,
)


class NotAVolume(ApiError):
    """A series asked for by name has too few images to make products of."""


class NotIndexedYet(ApiError):
    """The study's upload is not fully projected: where its instances are is not known yet."""


class ProductService:
    def __init__(
        self,
        index: ProductIndex,
        studies: StudyIndex,
        publisher: ProductPublisher,
        presign: Presign,
        expires_at: Callable[[], datetime],  # when URLs signed now expire
    ) -> None:
        self._index = index
        self._studies = studies
        self._publisher = publisher
        self._presign = presign
        self._expires_at = expires_at

    async def of_study(self, tenant: str, study_id: uuid.UUID) -> list[ProductView]:
        uid = await self._study_uid(tenant, study_id)
        return await self._views(tenant, uid)

    async def of_study_uid(self, tenant: str, study_uid: str) -> list[ProductView]:
        """For GET /studies/{id}, which has read the study already."""
        return await self._views(tenant, study_uid)

    async def request(
        self, tenant: str, study_id: uuid.UUID, body: ProductsRequest
    ) -> list[ProductView]:
        """The products asked for: those that exist as they are, the others requested now."""
        uid = await self._study_uid(tenant, study_id)
        volumes = await self._index.volumes(tenant, uid)
        chosen = _chosen(volumes, body.series, study_id)
        requests = [
            product_request(
                tenant=tenant,
                bucket=volume["bucket"],
                study_uid=uid,
                series_uid=volume["series_instance_uid"],
                source_version=series_version(zip(volume["uids"], volume["digests"], strict=True)),
                params=params,
                trigger="request",
                key_instance_uid=key_instance(
                    zip(volume["uids"], volume.get("positions") or [], strict=False)
                ),
            )
            for volume in chosen
            for params in body.products
        ]
        known = {view.id: view for view in await self._views(tenant, uid)}
        answers = []
        for request in requests:
            if request.job_id in known:
                answers.append(known[request.job_id])
                continue
            await self._publisher.publish_product(request)
            known[request.job_id] = _queued(request)
            answers.append(known[request.job_id])
        return answers

    async def _views(self, tenant: str, study_uid: str) -> list[ProductView]:
        rows = await self._index.products(tenant, study_uid)
        images: dict[uuid.UUID, list[Mapping[str, Any]]] = defaultdict(list)
        for image in await self._index.images([r["job_id"] for r in rows]):
            images[image["job_id"]].append(image)
        expires: datetime = self._expires_at()
        return [product_view(r, images[r["job_id"]], self._presign, expires) for r in rows]

    async def _study_uid(self, tenant: str, study_id: uuid.UUID) -> str:
        study = await self._studies.study(tenant, study_id)
        if study is None:
            raise StudyNotFound(f"no study {study_id} for this tenant")
        return str(study["study_instance_uid"])


def _chosen(
    volumes: Sequence[Mapping[str, Any]], asked: list[str] | None, study_id: uuid.UUID
) -> list[Mapping[str, Any]]:
    """The series to make products of: those named, or every CT volume of the study."""
    if asked is None:
        chosen = [v for v in volumes if makes_products(v["modality"], len(v["uids"]))]
    else:
        by_uid = {v["series_instance_uid"]: v for v in volumes}
        missing = [uid for uid in asked if uid not in by_uid]
        if missing:
            raise SeriesNotFound(f"no image series {', '.join(missing)} in study {study_id}")
        chosen = [by_uid[uid] for uid in dict.fromkeys(asked)]
        for volume in chosen:
            if len(volume["uids"]) < MIN_PRODUCT_IMAGES:
                raise NotAVolume(
                    f"series {volume['series_instance_uid']} has {len(volume['uids'])} "
                    f"image(s): previews, thumbnails and 3D views need a volume of at least "
                    f"{MIN_PRODUCT_IMAGES} slices"
                )
    for volume in chosen:
        if volume["bucket"] is None:
            raise NotIndexedYet(
                f"the upload of series {volume['series_instance_uid']} is still being indexed: "
                "ask again in a moment"
            )
    return chosen


def _queued(request: ProductRequested) -> ProductView:
    """What is known of a product the moment it is requested (before the projection has it)."""
    job = request.job_id
    kind = request.kind.value
    return ProductView(
        id=job,
        kind=kind,
        series_instance_uid=request.series_instance_uid,
        status="queued",
        params=request.params.model_dump(mode="json"),
        product_key=request.product_key,
        trigger=request.trigger,
        items=ItemCounts(total=None, done=0, failed=0),
        requested_at=request.occurred_at,
        job_url=f"/jobs/{job}",
        stream_url=f"/jobs/{job}/stream",
        slices_url=f"/jobs/{job}/slices" if kind == "preview" else None,
    )
