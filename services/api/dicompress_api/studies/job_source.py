"""A study, or one of its series, as the source of a compression job: the S3 prefix where the
ingest service stored its instances (`{tenant}/studies/{study}/{series}/`)."""

from __future__ import annotations

import uuid

from dicompress_api.studies.errors import SeriesNotFound, StudyNotFound
from dicompress_api.studies.ports import StudyIndex
from dicompress_schemas.studies import study_prefix


async def study_source_uri(
    index: StudyIndex,
    tenant: str,
    study_id: uuid.UUID,
    series_uid: str | None,
    default_bucket: str,
) -> str:
    """`s3://{bucket}/{study_prefix(...)}` of the tenant's study (or series); StudyNotFound or
    SeriesNotFound (404) when the index has no such thing for this tenant.

    The bucket is the one the study's uploads were put in (the ingest stores instances beside
    the archive), `default_bucket` while no upload of it is projected yet.
    """
    study = await index.study(tenant, study_id)
    if study is None:
        raise StudyNotFound(f"no study {study_id} for this tenant (it may not be indexed yet)")
    uid: str = study["study_instance_uid"]
    if series_uid is not None:
        series = await index.series(tenant, uid)
        if all(row["series_instance_uid"] != series_uid for row in series):
            raise SeriesNotFound(f"no series {series_uid} in study {study_id}")
    bucket = await index.source_bucket(tenant, uid, series_uid) or default_bucket
    return f"s3://{bucket}/{study_prefix(tenant, uid, series_uid)}"
