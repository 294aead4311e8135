"""Download errors as RFC 9457 problem details (more specific than the handler of ApiError)."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from dicompress_api.downloads.reading import NotStoredYet
from dicompress_api.downloads.selection import RangeRefused
from dicompress_api.web.problems import problem_response


def install_download_problems(app: FastAPI) -> None:
    app.add_exception_handler(RangeRefused, _range_refused)
    app.add_exception_handler(NotStoredYet, _not_stored)


async def _range_refused(_: Request, exc: Exception) -> JSONResponse:
    return problem_response(
        422, str(exc), kind="range-out-of-range", title="No such slice range in the series"
    )


async def _not_stored(_: Request, exc: Exception) -> JSONResponse:
    return problem_response(
        409, str(exc), kind="not-indexed-yet", title="Still indexing", headers={"Retry-After": "2"}
    )
