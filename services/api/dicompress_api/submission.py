"""Submitting a job, as pure functions: the request body, its rules, and the event it becomes."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from dicompress_api.camel import CAMEL
from dicompress_api.errors import FieldProblem, InvalidRequest
from dicompress_api.naming import UnsafeFilename, artifact_uri, output_filename
from dicompress_infra.s3 import S3Uri, S3UriError
from dicompress_schemas import Codec, CompressionRequested, new_event_id


class JobRequest(BaseModel):
    """Body of `POST /jobs`. Unknown fields are refused, so a typo is an error, not a default."""

    model_config = ConfigDict(
        alias_generator=to_camel, extra="forbid", strict=True, frozen=True, allow_inf_nan=False
    )

    s3_source_uri: str = Field(max_length=2048, description="S3 prefix holding the DICOM slices")
    s3_target_uri: str = Field(max_length=2048, description="S3 prefix the ZIP is written under")
    compression_rate: float | None = Field(
        default=None, gt=1, le=1000, description="Target ratio; the API's default when absent"
    )
    anonymize: bool = False
    output_filename: str | None = Field(
        default=None, description="ZIP name: [A-Za-z0-9._-], no leading dot, '.zip' added"
    )
    overwrite_existing: bool = False

    @field_validator("s3_source_uri", "s3_target_uri")
    @classmethod
    def _s3_uri(cls, value: str) -> str:
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
            return output_filename(value)
        except UnsafeFilename as exc:
            raise PydanticCustomError("unsafe_filename", "{reason}", {"reason": str(exc)}) from exc


class JobOptions(BaseModel):
    """The options a job runs with, defaults filled in."""

    model_config = CAMEL

    compression_rate: float
    codec: Codec
    anonymize: bool
    output_filename: str | None
    overwrite_existing: bool


class JobAccepted(BaseModel):
    """Answer of `POST /jobs`: the job is on the log and a compressor will pick it up."""

    model_config = CAMEL

    job_id: uuid.UUID
    status: Literal["queued"] = "queued"
    artifact_uri: str
    status_url: str
    options: JobOptions


def plan_job(
    request: JobRequest,
    *,
    tenant: str,
    job_id: uuid.UUID,
    allowed_buckets: Collection[str],
    default_rate: float,
) -> tuple[CompressionRequested, JobAccepted]:
    """Turn a valid body into the event to publish and the answer to give once it is acked.

    Raises InvalidRequest naming each field whose bucket is not one the API may touch.
    """
    source = S3Uri.parse(request.s3_source_uri)
    target = S3Uri.parse(request.s3_target_uri)
    problems = [
        FieldProblem(
            field,
            "bucket_not_allowed",
            f"bucket {uri.bucket!r} is not one of {sorted(allowed_buckets)}",
        )
        for field, uri in (("s3SourceUri", source), ("s3TargetUri", target))
        if uri.bucket not in allowed_buckets
    ]
    if problems:
        raise InvalidRequest(problems)
    rate = request.compression_rate if request.compression_rate is not None else default_rate
    event = CompressionRequested(
        event_id=new_event_id(job_id, 0),
        job_id=job_id,
        tenant=tenant,
        seq=0,
        source_uri=request.s3_source_uri,
        target_uri=request.s3_target_uri,
        compression_rate=rate,
        anonymize=request.anonymize,
        output_filename=request.output_filename,
        overwrite_existing=request.overwrite_existing,
    )
    accepted = JobAccepted(
        job_id=job_id,
        artifact_uri=artifact_uri(target, job_id, request.output_filename),
        status_url=f"/jobs/{job_id}",
        options=JobOptions(
            compression_rate=rate,
            codec=event.codec,
            anonymize=event.anonymize,
            output_filename=event.output_filename,
            overwrite_existing=event.overwrite_existing,
        ),
    )
    return event, accepted
