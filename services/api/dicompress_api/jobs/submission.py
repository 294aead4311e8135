"""Submitting a job, as pure functions: the request body, its rules, and the event it becomes."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from dicompress_api.jobs.naming import planned_artifact
from dicompress_api.jobs.sources import SourceInfo
from dicompress_api.settings import ApiSettings
from dicompress_api.tenancy import TenantRules
from dicompress_api.web.camel import CAMEL
from dicompress_api.web.errors import FieldProblem, ForbiddenLocation, InvalidRequest
from dicompress_infra.s3 import S3Uri, S3UriError
from dicompress_schemas import Codec, CompressionRequested, Lane, new_event_id
from dicompress_schemas.envelope import DicomUid, InvalidFilename, OutputFilename, zip_filename
from dicompress_schemas.envelope import S3Uri as S3UriText
from dicompress_schemas.events import CompressionRate, PsnrFloor

# The contract's field types (S3UriText, DicomUid, CompressionRate...) throughout, so a body that
# validates here makes a valid CompressionRequested; the API's own checks (`S3Uri.parse`, the
# locations) only narrow them.


class JobRequest(BaseModel):
    """Body of `POST /jobs`. Unknown fields are refused, so a typo is an error, not a default."""

    model_config = ConfigDict(
        alias_generator=to_camel, extra="forbid", strict=True, frozen=True, allow_inf_nan=False
    )

    s3_source_uri: S3UriText | None = Field(
        default=None, description="S3 prefix holding the DICOM slices; give this or `studyId`"
    )
    # strict=False: the JSON string names the UUID (strict mode wants a UUID object).
    study_id: Annotated[uuid.UUID | None, Field(strict=False)] = Field(
        default=None,
        description="An indexed study (`id` of GET /studies) as the source instead of a prefix: "
        "its series, each in anatomical order",
    )
    series_uid: DicomUid | None = Field(
        default=None,
        description="With `studyId`: only this series (SeriesInstanceUID) of the study",
    )
    s3_target_uri: S3UriText = Field(description="S3 prefix the ZIP is written under")
    compression_rate: CompressionRate | None = Field(
        default=None,
        description="Target ratio of a lossy codec; the API's default when absent",
    )
    # strict=False: the JSON string names the enum member (strict mode wants the member itself).
    codec: Annotated[Codec | None, Field(strict=False)] = Field(
        default=None, description="Target encoding; the API's default when absent"
    )
    anonymize: bool | None = Field(default=None, description="PS3.15 basic profile")
    output_filename: OutputFilename | None = Field(
        default=None,
        description="ZIP name: letters, digits, '_' and '-' in parts joined by single dots; "
        "'.zip' added",
    )
    overwrite_existing: bool | None = Field(
        default=None, description="Replace a ZIP of the same name instead of adding -1, -2..."
    )
    min_psnr_db: PsnrFloor | None = Field(
        default=None,
        description="Quality floor of a lossy job: the lowest PSNR in dB over each slice's own "
        "value range (the same scale on every scanner) a slice may have; a slice below it fails "
        "instead of shipping. The API's default (30 dB) when absent",
    )
    include_non_image: bool | None = Field(
        default=None,
        description="Copy DICOM objects without pixels (reports, DICOMDIR) into the ZIP as they "
        "are (default), or leave them out; never counted as slices",
    )
    # strict=False: the JSON string names the enum member.
    priority: Annotated[Lane | None, Field(strict=False)] = Field(
        default=None,
        description="'interactive' (default: someone waits for it; served before any batch "
        "work, a few per clinic at a time) or 'batch' (archives, scripts: served when no "
        "interactive work waits)",
    )

    @model_validator(mode="before")
    @classmethod
    def _replaced_floor(cls, data: object) -> object:
        if isinstance(data, dict) and "minPsnr" in data:
            raise PydanticCustomError(
                "replaced_field",
                "minPsnr (PSNR against 2^BitsStored - 1, a different scale per scanner) was "
                "replaced by minPsnrDb: PSNR over each slice's own value range",
            )
        return data

    @field_validator("s3_source_uri", "s3_target_uri")
    @classmethod
    def _s3_uri(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            S3Uri.parse(value)
        except S3UriError as exc:
            raise PydanticCustomError("s3_uri", "{reason}", {"reason": str(exc)}) from exc
        return value

    @field_validator("output_filename")
    @classmethod
    def _filename(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return zip_filename(value)
        except InvalidFilename as exc:
            raise PydanticCustomError("unsafe_filename", "{reason}", {"reason": str(exc)}) from exc


class JobOptions(BaseModel):
    """The options a job runs with, defaults filled in."""

    model_config = CAMEL

    compression_rate: float | None
    codec: Codec
    anonymize: bool
    output_filename: str | None
    overwrite_existing: bool
    min_psnr_db: float | None
    include_non_image: bool


class JobAccepted(BaseModel):
    """Answer of `POST /jobs`: the job is on the log and a compressor will pick it up.

    `artifactUri` is where the naming rules put the ZIP; when that name is taken and
    `overwriteExisting` is false the compressor adds `-1`, `-2`... before '.zip'.
    """

    model_config = CAMEL

    job_id: uuid.UUID
    status: str = "queued"
    source_uri: str
    study_id: uuid.UUID | None = Field(default=None, description="The study it compresses")
    series_uid: str | None = Field(default=None, description="The one series it compresses")
    target_uri: str
    artifact_uri: str
    status_url: str
    source: SourceInfo
    options: JobOptions
    priority: Lane = Field(description="The queue it waits in: interactive or batch")
    idempotency_key: str | None = None


@dataclass(frozen=True)
class SubmitPolicy:
    """What the settings decide about a submission: buckets, tenant prefixes, defaults."""

    allowed_buckets: frozenset[str]
    rules: TenantRules
    default_rate: float
    default_codec: Codec
    default_anonymize: bool
    default_overwrite: bool
    default_min_psnr_db: float | None
    study_bucket: str  # where uploads land, so where their ingest stores the instances

    @classmethod
    def of(cls, settings: ApiSettings) -> SubmitPolicy:
        buckets = frozenset(settings.api_allowed_buckets)
        return cls(
            allowed_buckets=buckets,
            rules=TenantRules(
                settings.api_tenant_prefixes, settings.api_default_tenant_prefixes, buckets
            ),
            default_rate=settings.api_default_rate,
            default_codec=settings.api_default_codec,
            default_anonymize=settings.api_default_anonymize,
            default_overwrite=settings.api_default_overwrite,
            default_min_psnr_db=settings.api_default_min_psnr_db,
            study_bucket=settings.api_upload_bucket or settings.api_allowed_buckets[0],
        )


def check_source_choice(request: JobRequest) -> None:
    """InvalidRequest (422) unless the body names exactly one source: `s3SourceUri` or
    `studyId` (with `seriesUid` only beside a `studyId`)."""
    problems = []
    if (request.s3_source_uri is None) == (request.study_id is None):
        given = "both" if request.study_id is not None else "neither"
        detail = f"give exactly one of s3SourceUri and studyId ({given} given)"
        problems += [FieldProblem(f, "one_source", detail) for f in ("s3SourceUri", "studyId")]
    if request.series_uid is not None and request.study_id is None:
        detail = "seriesUid names a series of a study: give studyId with it"
        problems.append(FieldProblem("seriesUid", "series_without_study", detail))
    if problems:
        raise InvalidRequest(problems)


def check_locations(request: JobRequest, tenant: str, policy: SubmitPolicy) -> S3Uri:
    """The parsed source, once both URIs are in allowed buckets (else 422) and under the
    tenant's prefixes (else ForbiddenLocation, 403). A study source must have been turned into
    its prefix first (`studies.job_source`)."""
    uris = (
        ("s3SourceUri", S3Uri.parse(_source_uri(request))),
        ("s3TargetUri", S3Uri.parse(request.s3_target_uri)),
    )
    allowed = policy.allowed_buckets
    problems = [
        FieldProblem(
            field, "bucket_not_allowed", f"bucket {uri.bucket!r} is not one of {sorted(allowed)}"
        )
        for field, uri in uris
        if uri.bucket not in allowed
    ]
    if problems:
        raise InvalidRequest(problems)
    refused = policy.rules.problems(tenant, uris)
    if refused:
        raise ForbiddenLocation(refused)
    return uris[0][1]


def plan_job(
    request: JobRequest,
    *,
    tenant: str,
    job_id: uuid.UUID,
    policy: SubmitPolicy,
    now: datetime | None = None,
) -> CompressionRequested:
    """The event to publish for a valid body, defaults filled in from the policy.

    Raises InvalidRequest (422) for a rate given with a lossless codec, and the errors of
    `check_locations` for a bucket or prefix the tenant may not use.
    """
    check_locations(request, tenant, policy)
    codec = request.codec or policy.default_codec
    if codec.lossless and request.compression_rate is not None:
        detail = f"codec {codec.value} is lossless: give no compressionRate"
        raise InvalidRequest([FieldProblem("compressionRate", "rate_with_lossless", detail)])
    rate = request.compression_rate
    if rate is None and not codec.lossless:
        rate = policy.default_rate
    min_psnr_db = request.min_psnr_db
    if min_psnr_db is None and not codec.lossless:
        min_psnr_db = policy.default_min_psnr_db
    return CompressionRequested(
        event_id=new_event_id(job_id, 0),
        job_id=job_id,
        tenant=tenant,
        seq=0,
        occurred_at=now or datetime.now(UTC),
        source_uri=_source_uri(request),
        target_uri=request.s3_target_uri,
        compression_rate=rate,
        codec=codec,
        anonymize=_given(request.anonymize, policy.default_anonymize),
        output_filename=request.output_filename,
        overwrite_existing=_given(request.overwrite_existing, policy.default_overwrite),
        min_psnr_db=min_psnr_db,
        include_non_image=_given(request.include_non_image, True),
    )


def accepted(
    event: CompressionRequested,
    source: SourceInfo,
    idempotency_key: str | None = None,
    request: JobRequest | None = None,
) -> JobAccepted:
    """The answer to give once the broker acknowledged `event` (planned from `request`)."""
    return JobAccepted(
        job_id=event.job_id,
        source_uri=event.source_uri,
        study_id=request.study_id if request is not None else None,
        series_uid=request.series_uid if request is not None else None,
        target_uri=event.target_uri,
        artifact_uri=planned_artifact(event),
        status_url=f"/jobs/{event.job_id}",
        source=source,
        options=JobOptions(
            compression_rate=event.compression_rate,
            codec=event.codec,
            anonymize=event.anonymize,
            output_filename=event.output_filename,
            overwrite_existing=event.overwrite_existing,
            min_psnr_db=event.min_psnr_db,
            include_non_image=event.include_non_image,
        ),
        priority=lane_of(request),
        idempotency_key=idempotency_key,
    )


def lane_of(request: JobRequest | None) -> Lane:
    """The lane a request asks for: interactive unless it says batch."""
    if request is None or request.priority is None:
        return Lane.INTERACTIVE
    return request.priority


def _source_uri(request: JobRequest) -> str:
    if request.s3_source_uri is None:
        problem = FieldProblem("s3SourceUri", "missing", "no source prefix: give s3SourceUri")
        raise InvalidRequest([problem])
    return request.s3_source_uri


def _given(value: bool | None, default: bool) -> bool:
    return default if value is None else value
