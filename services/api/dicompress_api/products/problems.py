"""Product errors as RFC 9457 problem details (more specific than the handler of ApiError)."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from dicompress_api.products.mini_ct_region import NotARegionSource, RegionRefused
from dicompress_api.products.requesting import NotAVolume, NotIndexedYet
from dicompress_api.web.problems import problem_response


def install_product_problems(app: FastAPI) -> None:
    app.add_exception_handler(NotAVolume, _not_a_volume)
    app.add_exception_handler(NotARegionSource, _not_a_volume)
    app.add_exception_handler(NotIndexedYet, _not_indexed)
    app.add_exception_handler(RegionRefused, _region_refused)


async def _not_a_volume(_: Request, exc: Exception) -> JSONResponse:
    return problem_response(422, str(exc), kind="not-a-volume", title="Not a volume")


async def _not_indexed(_: Request, exc: Exception) -> JSONResponse:
    return problem_response(
        409, str(exc), kind="not-indexed-yet", title="Still indexing", headers={"Retry-After": "2"}
    )


async def _region_refused(_: Request, exc: Exception) -> JSONResponse:
    return problem_response(
        422, str(exc), kind="region-out-of-range", title="No such region in the series"
    )
