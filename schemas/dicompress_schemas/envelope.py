"""The envelope every event shares, and the small types the events of every stream use.

Kept apart from the event types so the product events (`products`) and the job events (`events`)
can both build on it without importing each other.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    field_validator,
)
from pydantic_core import PydanticCustomError

# Fixed namespace so event ids derived from (job, seq, attempt) are the same in every process.
_EVENT_NAMESPACE = uuid.UUID("6c0f4e1e-6a55-4d8c-9a0e-3b1f0f3f6a21")

# An S3 bucket name (lower-case letters, digits, '.', '-'; 3 to 63 characters).
BUCKET_PATTERN = r"[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]"
# `s3://bucket/key`: the key holds no control character (a newline included) and no backslash,
# which S3 clients cannot sign or file systems read differently.
S3_URI_PATTERN = rf"^s3://{BUCKET_PATTERN}(/[^\x00-\x1f\x7f\\]*)?$"
S3_URI_MAX = 2048  # an S3 key has at most 1024 bytes
_UNSIGNABLE = re.compile(r"[\x00-\x1f\x7f\\]")


def key_problem(key: str) -> str | None:
    """Why an object's key breaks the rule of S3_URI_PATTERN (a control character, a newline
    included, or a backslash: what S3 clients cannot sign reliably), in words; None if it
    keeps it. An object under such a key is refused where it is listed, before any read."""
    found = _UNSIGNABLE.search(key)
    if found is None:
        return None
    return (
        f"its file name holds a character storage cannot handle reliably ({found.group()!r}): "
        "rename the file and upload it again"
    )


def _explain_uri(value: object, handler: ValidatorFunctionWrapHandler) -> str:
    try:
        checked: str = handler(value)
    except ValidationError:
        raise PydanticCustomError(
            "s3_uri",
            "{value} is not an S3 URI s3://bucket/prefix: a bucket of 3 to 63 lower-case letters, "
            "digits, '.' or '-', then a key without control characters (a trailing newline "
            "included) or backslashes, at most {max_length} characters in all",
            {"value": repr(value)[:100], "max_length": S3_URI_MAX},
        ) from None
    return checked


# The one rule for an S3 location in any event, and in any request that becomes one (the API's
# request models use this very type, so whatever they accept publishes).
S3Uri = Annotated[
    str, Field(max_length=S3_URI_MAX, pattern=S3_URI_PATTERN), WrapValidator(_explain_uri)
]


# The highest seq a reader accepts (a resume point, a Last-Event-ID): the projection stores a
# seq as a 32-bit integer, so a larger one names no event and must not reach a query.
SEQ_MAX = 2**31 - 1


def new_event_id(job_id: uuid.UUID, seq: int, attempt: int = 1) -> uuid.UUID:
    """Deterministic id of the `seq`-th event of a job's `attempt`-th run."""
    return uuid.uuid5(_EVENT_NAMESPACE, f"{job_id}/{attempt}/{seq}")


def utc_now() -> datetime:
    return datetime.now(UTC)


class Codec(StrEnum):
    """Target encoding, with its DICOM transfer syntax."""

    J2K_LOSSY = "j2k-lossy"  # JPEG 2000, 1.2.840.10008.1.2.4.91
    J2K_LOSSLESS = "j2k-lossless"  # JPEG 2000 lossless, 1.2.840.10008.1.2.4.90
    HTJ2K_LOSSY = "htj2k-lossy"  # High-Throughput JPEG 2000, 1.2.840.10008.1.2.4.203
    HTJ2K_LOSSLESS = "htj2k-lossless"  # HTJ2K lossless, 1.2.840.10008.1.2.4.201

    @property
    def lossless(self) -> bool:
        return self in (Codec.J2K_LOSSLESS, Codec.HTJ2K_LOSSLESS)


# The one rule for a tenant's name, wherever one is read (events, commands, keys, and the
# `tenant` claim of a bearer token: `tenant_name`). ASCII only, so no homoglyph of another name.
TENANT_RULE = "1 to 64 ASCII letters, digits, '_', '.' or '-', starting with a letter or a digit"
Tenant = Annotated[
    str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
]
_TENANT: TypeAdapter[str] = TypeAdapter(Tenant)


class InvalidTenant(ValueError):
    """A tenant name that breaks the contract's rule (`Tenant`)."""


def tenant_name(value: object) -> str:
    """`value` if it is a tenant name by the contract's rule, else InvalidTenant saying the rule.

    What the token verifier applies to a token's claim, so the API and the notifier refuse the
    same names that an event would. The message never repeats the value: it may be anything
    (a NUL, 5,000 characters).
    """
    try:
        return _TENANT.validate_python(value, strict=True)
    except ValidationError as exc:
        raise InvalidTenant(f"a tenant name has {TENANT_RULE}") from exc


# The name of a job's ZIP under its target prefix: dot-separated runs of letters, digits, '_'
# and '-' (so no slash, space, control character, leading or trailing dot, or '..'), with its
# extension at most 128 characters.
OUTPUT_FILENAME_MAX = 128
FILENAME_RULE = (
    f"use only letters, digits, '_' and '-', in parts joined by single dots (no leading or "
    f"trailing dot), at most {OUTPUT_FILENAME_MAX} characters, '.zip' included"
)


def _explain_filename(value: object, handler: ValidatorFunctionWrapHandler) -> str:
    try:
        checked: str = handler(value)
    except ValidationError:
        raise PydanticCustomError("unsafe_filename", FILENAME_RULE) from None
    return checked


OutputFilename = Annotated[
    str,
    Field(
        min_length=1,
        max_length=OUTPUT_FILENAME_MAX,
        pattern=r"^[A-Za-z0-9_\-]+(\.[A-Za-z0-9_\-]+)*$",
    ),
    WrapValidator(_explain_filename),
]
_OUTPUT_FILENAME: TypeAdapter[str] = TypeAdapter(OutputFilename)


class InvalidFilename(ValueError):
    """An output file name that breaks the contract's rule (`OutputFilename`)."""


def zip_filename(name: str) -> str:
    """`name` with '.zip' added unless it ends so, if the result keeps the `OutputFilename`
    rule; else InvalidFilename saying the rule. A request's name and the one its event carries
    are held to this same rule."""
    final = name if name.lower().endswith(".zip") else name + ".zip"
    try:
        _OUTPUT_FILENAME.validate_python(name, strict=True)
        return _OUTPUT_FILENAME.validate_python(final, strict=True)
    except ValidationError as exc:
        raise InvalidFilename(FILENAME_RULE) from exc


class Envelope(BaseModel):
    """What every event of every stream carries, besides the id of its stream (a job's, an
    ingest's)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    event_id: uuid.UUID
    tenant: Tenant
    seq: int = Field(ge=0, description="Position of this event in its stream's history")
    attempt: int = Field(
        default=1, ge=1, description="Which run emitted it (a re-run after a crash: 2+)"
    )
    occurred_at: AwareDatetime = Field(default_factory=utc_now)

    @field_validator("occurred_at")
    @classmethod
    def _to_utc(cls, value: datetime) -> datetime:
        return value.astimezone(UTC)


class EventBase(Envelope):
    """The envelope of every job event."""

    job_id: uuid.UUID


# A DICOM UID (PS3.5 9.1): digits and dots, at most 64 characters. Only UIDs of this shape are
# ever used in an S3 key, so a crafted header cannot name another tenant's objects.
DicomUid = Annotated[str, Field(pattern=r"^[0-9]+(\.[0-9]+)*$", max_length=64)]
