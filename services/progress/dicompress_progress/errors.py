"""The progress service's one base exception and its kinds."""

from __future__ import annotations


class ProgressError(Exception):
    """Something the progress service cannot go on with; the message says what to do."""


class ProjectionError(ProgressError):
    """An event contradicts the job it names (e.g. another tenant): it can never be applied."""


class MigrationError(ProgressError):
    """The packaged migrations are malformed (bad file name, duplicate or missing version)."""
