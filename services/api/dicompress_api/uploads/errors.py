"""What can go wrong with an upload, without HTTP (`uploads.problems` maps each to a status)."""

from __future__ import annotations

from dicompress_api.web.errors import ApiError


class UploadError(ApiError):
    """Base of the upload errors; the message is shown to the caller."""


class UploadNotFound(UploadError):
    """No such upload for this tenant (another tenant's upload is 'not found' too)."""


class UploadTooLarge(UploadError):
    """More bytes than API_UPLOAD_MAX_BYTES, announced or sent."""

    def __init__(self, detail: str, *, limit: int) -> None:
        super().__init__(detail)
        self.limit = limit


class UploadConflict(UploadError):
    """The upload's state does not allow this: parts missing, already completed, aborted."""

    def __init__(self, detail: str, *, state: str, missing_parts: tuple[int, ...] = ()) -> None:
        super().__init__(detail)
        self.state = state
        self.missing_parts = missing_parts


class StorageUnavailable(UploadError):
    """S3 did not answer, or refused in a way the caller cannot fix: retry later."""


class TooManyStreams(UploadError):
    """This API instance already receives as many streamed uploads as it takes at once."""

    def __init__(self, detail: str, *, retry_after_s: int) -> None:
        super().__init__(detail)
        self.retry_after_s = retry_after_s
