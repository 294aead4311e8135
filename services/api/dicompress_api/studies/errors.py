"""What can go wrong reading the study index, without HTTP (`studies.problems` maps each to a
status). Another tenant's study, series or ingest is 'not found', exactly like an unknown one."""

from __future__ import annotations

from dicompress_api.web.errors import ApiError


class StudyIndexError(ApiError):
    """Base of the study index errors; the message is shown to the caller."""


class StudyNotFound(StudyIndexError):
    """No such study for this tenant."""


class SeriesNotFound(StudyIndexError):
    """No such series in the tenant's study."""


class IngestNotFound(StudyIndexError):
    """No such ingest for this tenant (it may not be projected yet)."""
