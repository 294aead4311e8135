"""What GET /studies/{id}/download answers: the tenant's instances from the study index, the
entries chosen, and their sized ZIP stream. Rules on the ports (no HTTP)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

from dicompress_api.downloads.archive import Chunks, SizedZip
from dicompress_api.downloads.selection import entries
from dicompress_api.studies.errors import SeriesNotFound, StudyNotFound
from dicompress_api.studies.ports import StudyIndex
from dicompress_api.studies.summary import indexed_instance
from dicompress_api.web.errors import ApiError, FieldProblem, InvalidRequest

ChunksOf = Callable[[str], Chunks]  # the reader of one bucket


class NotStoredYet(ApiError):
    """The study's upload is not fully projected: where its instances are is not known yet."""


class ForeignObject(ApiError):
    """The index names an object outside the tenant's prefix (never read for this tenant)."""


@dataclass(frozen=True)
class Download:
    file_name: str
    archive: SizedZip
    files: int


class StudyDownloads:
    def __init__(self, index: StudyIndex, chunks_of: ChunksOf) -> None:
        self._index = index
        self._chunks_of = chunks_of

    async def prepare(
        self,
        tenant: str,
        study_id: uuid.UUID,
        series_uid: str | None,
        z_start: int | None,
        z_end: int | None,
    ) -> Download:
        """The ZIP of the tenant's study, series or slice range (module doc of `selection`)."""
        if series_uid is None and (z_start is not None or z_end is not None):
            raise InvalidRequest(
                [
                    FieldProblem(
                        field="zStart" if z_start is not None else "zEnd",
                        rule="needs-series",
                        detail="a slice range is one series': give series= as well",
                        location="query",
                    )
                ]
            )
        study = await self._index.study(tenant, study_id)
        if study is None:
            raise StudyNotFound(f"no study {study_id} for this tenant")
        uid = str(study["study_instance_uid"])
        rows = await self._index.instances(tenant, uid, series_uid)
        if series_uid is not None and not rows:
            raise SeriesNotFound(f"no series {series_uid} in study {study_id}")
        bucket = await self._index.source_bucket(tenant, uid, series_uid)
        if bucket is None:
            raise NotStoredYet(
                f"the upload of study {study_id} is still being indexed: ask again in a moment"
            )
        chosen = entries([indexed_instance(r) for r in rows], z_start, z_end)
        own = f"{tenant}/"
        if any(not entry.key.startswith(own) for entry in chosen):
            raise ForeignObject(f"study {study_id} names objects outside this tenant's prefix")
        name = uid if series_uid is None else series_uid
        if z_start is not None or z_end is not None:
            name += f"-z{z_start or 0}-{'end' if z_end is None else z_end}"
        return Download(f"{name}.zip", SizedZip(chosen, self._chunks_of(bucket)), len(chosen))
