"""Study index errors as RFC 9457 problem details; installed beside the API's own handlers (a
handler for `StudyIndexError` is more specific than the one for every `ApiError`)."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from dicompress_api.studies.errors import (
    IngestNotFound,
    SeriesNotFound,
    StudyIndexError,
    StudyNotFound,
)
from dicompress_api.web.problems import problem_response

log = logging.getLogger(__name__)


def install_study_problems(app: FastAPI) -> None:
    app.add_exception_handler(StudyIndexError, _study_error)


async def _study_error(_: Request, exc: Exception) -> JSONResponse:
    detail = str(exc)
    match exc:
        case StudyNotFound():
            return problem_response(404, detail, kind="study-not-found", title="No such study")
        case SeriesNotFound():
            return problem_response(404, detail, kind="series-not-found", title="No such series")
        case IngestNotFound():
            return problem_response(404, detail, kind="ingest-not-found", title="No such ingest")
    log.error("unmapped study error", extra={"error": detail, "error_type": type(exc).__name__})
    return problem_response(500, detail)
