"""The ingest service's one base exception, and the failure that ends an ingest as a whole."""

from __future__ import annotations


class IngestError(Exception):
    """Base of every error raised by this package."""


class IngestAborted(IngestError):
    """The upload cannot be ingested (any further); becomes its IngestFailed event.

    `reason` is for the clinician (what happened, what to do); `detail` is for support.
    """

    def __init__(self, error_code: str, reason: str, detail: str = "") -> None:
        super().__init__(reason)
        self.error_code = error_code
        self.reason = reason
        self.detail = detail
