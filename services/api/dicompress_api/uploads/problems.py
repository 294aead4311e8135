"""Upload errors as RFC 9457 problem details; installed beside the API's own handlers (a
handler for `UploadError` is more specific than the one for every `ApiError`)."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from dicompress_api.uploads.errors import (
    StorageUnavailable,
    TooManyStreams,
    UploadConflict,
    UploadError,
    UploadNotFound,
    UploadTooLarge,
)
from dicompress_api.web.problems import RETRY_AFTER_S, problem_response

log = logging.getLogger(__name__)


def install_upload_problems(app: FastAPI) -> None:
    app.add_exception_handler(UploadError, _upload_error)


async def _upload_error(_: Request, exc: Exception) -> JSONResponse:
    detail = str(exc)
    match exc:
        case UploadNotFound():
            return problem_response(404, detail, kind="upload-not-found", title="No such upload")
        case UploadTooLarge(limit=limit):
            return problem_response(
                413,
                f"{detail}; the most this service takes is {limit} bytes.",
                kind="too-large",
                maxBytes=limit,
            )
        case UploadConflict(state=state, missing_parts=missing):
            return problem_response(
                409,
                detail,
                kind="upload-state",
                title="Not possible in the upload's state",
                uploadState=state,
                missingParts=list(missing),
            )
        case TooManyStreams(retry_after_s=seconds):
            return problem_response(
                503,
                f"{detail}; retry in {seconds} s.",
                kind="busy",
                headers={"Retry-After": str(seconds)},
            )
        case StorageUnavailable():
            log.warning("S3 unavailable for an upload", extra={"error": detail})
            return problem_response(
                503,
                f"{detail}. Retry in {RETRY_AFTER_S} s.",
                kind="unavailable",
                headers={"Retry-After": str(RETRY_AFTER_S)},
            )
    log.error("unmapped upload error", extra={"error": detail, "error_type": type(exc).__name__})
    return problem_response(500, detail)
