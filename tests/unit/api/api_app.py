"""The app on fakes, served in process: what the HTTP tests of the API build their client from."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from api_fakes import FakeKeys, FakeProductIndex, FakePublisher, FakeSources, FakeStats, FakeStore
from fastapi import FastAPI

from dicompress_api.app import create_app
from dicompress_api.downloads.reading import ChunksOf
from dicompress_api.settings import ApiSettings
from dicompress_api.studies.ports import StudyIndex


@asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A client of `app` over ASGI, with the app's lifespan started before and ended after."""
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://api") as http,
    ):
        yield http


def study_app(
    settings: ApiSettings,
    publisher: FakePublisher,
    sources: FakeSources,
    studies: StudyIndex,
    products: FakeProductIndex,
    object_chunks: ChunksOf | None = None,
) -> FastAPI:
    """The app with a study index and a product index, the products published by `publisher`
    too, and the job adapters faked."""
    return create_app(
        settings,
        publisher=publisher,
        store=FakeStore(),
        sources=sources,
        stats=FakeStats(),
        keys=FakeKeys(),
        studies=studies,
        products=products,
        product_publisher=publisher,
        object_chunks=object_chunks,
    )
