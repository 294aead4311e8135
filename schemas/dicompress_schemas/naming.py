"""The artifact's name: `{source folder}-rate{rate}-{YYYYMMDD-HHMMSS}.zip` unless one is given
(`study-...` or `series-...` for an ingested study or series).

Part of the contract because two services know it: the compressor writes the ZIP under this
name, and the API announces the same name when it accepts the job.

The time is the request's `occurred_at` (UTC), not the clock of whoever runs the job, so a
re-run after a crash picks the same name. The folder is reduced to ASCII letters, digits and
hyphens: '_' and spaces become '-', accents lose their marks, anything else is dropped
(`ct_study@v2.1` -> `ct-studyv21`); runs of '-' collapse, none leads or trails, at most
50 characters, and `compressed` stands in when nothing is left.
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from collections.abc import Iterator
from datetime import UTC

from dicompress_schemas.events import CompressionRequested

FOLDER_MAX = 50
EMPTY_FOLDER = "compressed"
_SEPARATORS = re.compile(r"[_\s]+")
_NOT_ALLOWED = re.compile(r"[^A-Za-z0-9-]")
_HYPHENS = re.compile(r"-{2,}")


def folder_label(source_key: str) -> str:
    """The last folder of a source prefix, reduced to what is safe in any file name."""
    folder = source_key.rstrip("/").rsplit("/", 1)[-1]
    ascii_only = unicodedata.normalize("NFKD", folder).encode("ascii", "ignore").decode()
    label = _NOT_ALLOWED.sub("", _SEPARATORS.sub("-", ascii_only))
    label = _HYPHENS.sub("-", label).strip("-")[:FOLDER_MAX].rstrip("-")
    return label or EMPTY_FOLDER


_STUDY_SOURCE = re.compile(r"(?:^|/)studies/[0-9.]+/(?P<series>[0-9.]+/)?$")


def source_label(source_key: str) -> str:
    """`study` or `series` for the prefix of an ingested study or series (its folders are UIDs,
    meaningless in a file name, and the study's descriptions may name the patient), else the
    last folder of the prefix (`folder_label`)."""
    found = _STUDY_SOURCE.search(source_key if source_key.endswith("/") else source_key + "/")
    if found is not None:
        return "series" if found["series"] else "study"
    return folder_label(source_key)


def rate_label(request: CompressionRequested) -> str:
    """`rate100`, `rate12.5`, or `lossless` for codecs that have no rate."""
    if request.compression_rate is None:
        return "lossless"
    return f"rate{request.compression_rate:g}"


def default_name(request: CompressionRequested, source_key: str) -> str:
    """The name the design specifies, stable for a given request."""
    stamp = request.occurred_at.astimezone(UTC).strftime("%Y%m%d-%H%M%S")
    return f"{source_label(source_key)}-{rate_label(request)}-{stamp}.zip"


def candidates(name: str) -> Iterator[str]:
    """`name`, then `name-1`, `name-2`... before the extension: the collision policy's order."""
    yield name
    stem, dot, extension = name.rpartition(".")
    if not stem:  # no extension
        stem, dot, extension = name, "", ""
    number = 1
    while True:
        yield f"{stem}-{number}{dot}{extension}"
        number += 1


# Where a job's own objects live (its slices, its runs' markers): under its tenant's prefix,
# like everything of the tenant's. Jobs stored before that rule kept theirs in a folder every
# tenant shared, `jobs/{id}/`; `dicompress migrate-layout` moves them under their tenant.
LEGACY_JOBS_FOLDER = "jobs/"


def job_folder(tenant: str, job_id: uuid.UUID) -> str:
    """The key prefix of the job's own objects."""
    return f"{tenant}/jobs/{job_id}/"


def tenant_key(tenant: str, key: str) -> str:
    """Where an object recorded at `key` (e.g. a SliceEncoded's slice_key) lives now: a key of
    the shared legacy folder moved under the tenant's prefix; any other key is where it was."""
    return f"{tenant}/{key}" if key.startswith(LEGACY_JOBS_FOLDER) else key
