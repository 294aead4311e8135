"""Requesting a Mini CT: the region read off the series' geometry, then the product answered
from the index when it exists, published when it does not. Rules on the ports (no HTTP, no SQL).

Identical requests at the same time make one job: the job id derives from the product's key,
and `PublishOnce` lets one request of this process publish while the others wait, then answer
`queued` until the projection has the product. Two API processes may still both publish it:
the same event id (`new_event_id(job_id, 0)`) is folded once by the progress projection, and a
second run of a product request makes the same objects at the same keys with the same event ids
(the products plan's rule), so a duplicate costs work at worst, never a second product.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from dicompress_api.products.answers import Presign
from dicompress_api.products.mini_ct_models import MiniCtAnswer, MiniCtRequest, PixelBox, RegionView
from dicompress_api.products.mini_ct_region import Region, region_of
from dicompress_api.products.ports import ProductIndex, ProductPublisher
from dicompress_api.products.requesting import NotIndexedYet
from dicompress_api.studies.errors import SeriesNotFound, StudyNotFound
from dicompress_api.studies.ports import StudyIndex
from dicompress_api.studies.summary import indexed_instance, pixel_facts, series_geometry
from dicompress_api.web.errors import ApiError, FieldProblem, InvalidRequest
from dicompress_infra.s3 import S3Uri, S3UriError
from dicompress_schemas import ProductRequested
from dicompress_schemas.products import MiniCtParams, product_request, series_version

RECENT_S = 600.0  # longer than any projection lag: then the index answers for the product


class ArtifactUnreadable(ApiError):
    """The projection names a Mini CT location that is not the tenant's (a 500: never signed)."""


class PublishOnce:
    """Publishes each product once per process while the projection has not caught up."""

    def __init__(self, recent_s: float = RECENT_S, clock: Callable[[], float] = time.monotonic):
        self._recent_s = recent_s
        self._clock = clock
        self._published: dict[uuid.UUID, float] = {}
        self._locks: dict[uuid.UUID, asyncio.Lock] = {}

    async def publish(
        self, event: ProductRequested, publish: Callable[[ProductRequested], Awaitable[None]]
    ) -> bool:
        """Publish unless this process did lately (or does now); True if this call did."""
        now = self._clock()
        self._published = {k: t for k, t in self._published.items() if now - t < self._recent_s}
        lock = self._locks.setdefault(event.job_id, asyncio.Lock())
        try:
            async with lock:
                if event.job_id in self._published:
                    return False
                await publish(event)
                self._published[event.job_id] = self._clock()
                return True
        finally:
            if not lock.locked():
                self._locks.pop(event.job_id, None)


class MiniCtService:
    def __init__(
        self,
        index: ProductIndex,
        studies: StudyIndex,
        publisher: ProductPublisher,
        presign: Presign,
        expires_at: Callable[[], datetime],
        once: PublishOnce | None = None,
    ) -> None:
        self._index = index
        self._studies = studies
        self._publisher = publisher
        self._presign = presign
        self._expires_at = expires_at
        self._once = once or PublishOnce()

    async def request(
        self, tenant: str, study_id: uuid.UUID, series_uid: str, body: MiniCtRequest
    ) -> MiniCtAnswer:
        """The Mini CT of the region: as it stands if it exists, else requested now."""
        study = await self._studies.study(tenant, study_id)
        if study is None:
            raise StudyNotFound(f"no study {study_id} for this tenant")
        study_uid = str(study["study_instance_uid"])
        rows = await self._studies.instances(tenant, study_uid, series_uid)
        images = [indexed_instance(r) for r in rows if r["kind"] == "image"]
        if not images:
            raise SeriesNotFound(f"no image series {series_uid} in study {study_id}")
        geometry = series_geometry(images)
        region = region_of(body, geometry, pixel_facts(geometry.slices))
        params = _params(body, region)
        volume = await self._volume(tenant, study_uid, series_uid, study_id)
        event = product_request(
            tenant=tenant,
            bucket=volume["bucket"],
            study_uid=study_uid,
            series_uid=series_uid,
            source_version=series_version(zip(volume["uids"], volume["digests"], strict=True)),
            params=params,
            trigger="request",
        )
        row = next(
            (
                r
                for r in await self._index.products(tenant, study_uid)
                if r["job_id"] == event.job_id
            ),
            None,
        )
        if row is None:
            await self._once.publish(event, self._publisher.publish_product)
        return self._answer(event, region, row, tenant)

    async def _volume(
        self, tenant: str, study_uid: str, series_uid: str, study_id: uuid.UUID
    ) -> Mapping[str, Any]:
        volumes = await self._index.volumes(tenant, study_uid)
        volume = next((v for v in volumes if v["series_instance_uid"] == series_uid), None)
        if volume is None:
            raise SeriesNotFound(f"no image series {series_uid} in study {study_id}")
        if volume["bucket"] is None:
            raise NotIndexedYet(
                f"the upload of series {series_uid} is still being indexed: ask again in a moment"
            )
        return volume

    def _answer(
        self,
        event: ProductRequested,
        region: Region,
        row: Mapping[str, Any] | None,
        tenant: str,
    ) -> MiniCtAnswer:
        job = event.job_id
        url: str | None = None
        expires: datetime | None = None
        status = "queued" if row is None else str(row["status"])
        artifact = row.get("artifact_uri") if row is not None else None
        if status == "completed" and artifact:
            uri = _own_artifact(str(artifact), tenant)
            expires = self._expires_at()  # before signing: the URL lasts at least this long
            url = self._presign(uri)
        roi = region.roi
        return MiniCtAnswer(
            id=job,
            status=status,
            product_key=event.product_key,
            series_instance_uid=event.series_instance_uid,
            params=event.params.model_dump(mode="json"),
            region=RegionView(
                z_start=region.z_start,
                z_end=region.z_end,
                slices=region.z_end - region.z_start + 1,
                first_mm=region.first_mm,
                last_mm=region.last_mm,
                roi=PixelBox(**roi.model_dump()) if roi is not None else None,
            ),
            job_url=f"/jobs/{job}",
            stream_url=f"/jobs/{job}/stream",
            download_url=url,
            url_expires_at=expires,
            artifact_bytes=row.get("artifact_bytes") if row is not None else None,
            error_code=row.get("error_code") if row is not None else None,
            reason=row.get("reason") if row is not None else None,
        )


def _params(body: MiniCtRequest, region: Region) -> MiniCtParams:
    codec, rate = body.codec_and_rate()
    try:
        return MiniCtParams(
            z_start=region.z_start,
            z_end=region.z_end,
            roi=region.roi,
            downsample=body.downsample,
            format=body.format,
            codec=codec,
            rate=rate,
        )
    except ValidationError as exc:  # a lossy codec without a rate, a rate out of range...
        raise InvalidRequest(
            [
                FieldProblem(
                    field=".".join(str(p) for p in error["loc"]) or "codec",
                    rule=error["type"],
                    detail=error["msg"],
                )
                for error in exc.errors()
            ]
        ) from exc


def _own_artifact(artifact: str, tenant: str) -> S3Uri:
    """The product's artifact, which the compressor put under the tenant's prefix; anything
    else is never signed for this tenant."""
    try:
        uri = S3Uri.parse(artifact)
    except S3UriError as exc:
        raise ArtifactUnreadable(f"the Mini CT's location {artifact!r} is not readable") from exc
    if not uri.key.startswith(f"{tenant}/"):
        raise ArtifactUnreadable("the Mini CT is not stored under this tenant's prefix")
    return uri
