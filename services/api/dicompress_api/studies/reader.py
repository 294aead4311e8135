"""What each study index route answers, assembled from the index's rows and the pure summary."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from dicompress_api.jobs.listing import Cursor, decode_cursor, encode_cursor
from dicompress_api.products.models import ProductView
from dicompress_api.studies.answers import (
    ingest_detail,
    series_detail,
    series_summary,
    study_detail,
    study_item,
)
from dicompress_api.studies.errors import IngestNotFound, SeriesNotFound, StudyNotFound
from dicompress_api.studies.models import IngestDetail, SeriesDetail, StudyDetail, StudyPage
from dicompress_api.studies.ports import StudyIndex
from dicompress_api.studies.summary import (
    IndexedInstance,
    indexed_instance,
    pixel_facts,
    series_geometry,
)

ProductsOf = Callable[[str, str], Awaitable[Sequence[ProductView]]]


async def _no_products(tenant: str, study_uid: str) -> Sequence[ProductView]:
    return ()


class StudyReader:
    """Reads the tenant's studies, series and ingests; one per app. `products_of` (tenant,
    StudyInstanceUID) lists a study's products for its detail."""

    def __init__(self, index: StudyIndex, products_of: ProductsOf = _no_products) -> None:
        self._index = index
        self._products_of = products_of

    async def page(self, tenant: str, limit: int, cursor: str | None) -> StudyPage:
        """A page of the tenant's studies, newest first (keyset on received_at, study id)."""
        after = decode_cursor(cursor) if cursor is not None else None
        rows = await self._index.studies(tenant, limit + 1, after)
        page, more = rows[:limit], len(rows) > limit
        last = page[-1] if page else None
        return StudyPage(
            items=[study_item(row) for row in page],
            next_cursor=(
                encode_cursor(Cursor(last["received_at"], last["study_id"]))
                if more and last is not None
                else None
            ),
        )

    async def detail(self, tenant: str, study_id: uuid.UUID) -> StudyDetail:
        study = await self._study(tenant, study_id)
        uid = study["study_instance_uid"]
        series_rows = await self._index.series(tenant, uid)
        instances = [indexed_instance(row) for row in await self._index.instances(tenant, uid)]
        by_series: dict[str | None, list[IndexedInstance]] = defaultdict(list)
        for instance in instances:
            by_series[instance.series_instance_uid].append(instance)
        summaries = []
        for row in series_rows:
            images = [i for i in by_series[row["series_instance_uid"]] if i.is_image]
            geometry = series_geometry(images)
            summaries.append(series_summary(study_id, row, geometry, pixel_facts(geometry.slices)))
        ingests = await self._index.study_ingests(tenant, uid)
        rejections = await self._index.rejections(tenant, [g["ingest_id"] for g in ingests])
        non_images = [i for i in instances if not i.is_image]
        products = await self._products_of(tenant, uid)
        return study_detail(study, summaries, non_images, ingests, rejections, products)

    async def series(self, tenant: str, study_id: uuid.UUID, series_uid: str) -> SeriesDetail:
        study = await self._study(tenant, study_id)
        uid = study["study_instance_uid"]
        series = await self._index.series(tenant, uid)
        row = next((r for r in series if r["series_instance_uid"] == series_uid), None)
        if row is None:
            raise SeriesNotFound(f"no series {series_uid} in study {study_id}")
        rows = await self._index.instances(tenant, uid, series_uid)
        instances = [indexed_instance(r) for r in rows]
        geometry = series_geometry(i for i in instances if i.is_image)
        facts = pixel_facts(geometry.slices)
        return series_detail(study, row, geometry, facts, [i for i in instances if not i.is_image])

    async def ingest(self, tenant: str, ingest_id: uuid.UUID) -> IngestDetail:
        row = await self._index.ingest(tenant, ingest_id)
        if row is None:
            raise IngestNotFound(
                f"no ingest {ingest_id} for this tenant (it may not be projected yet)"
            )
        rejections = await self._index.rejections(tenant, [ingest_id])
        studies = await self._index.ingest_studies(tenant, ingest_id)
        unfiled = [indexed_instance(r) for r in await self._index.unfiled(tenant, ingest_id)]
        return ingest_detail(row, rejections, studies, unfiled)

    async def _study(self, tenant: str, study_id: uuid.UUID) -> Mapping[str, Any]:
        study = await self._index.study(tenant, study_id)
        if study is None:
            raise StudyNotFound(f"no study {study_id} for this tenant")
        return study
