"""Unit-test fixtures: the app built with fake adapters, an in-process client, a token."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from api_app import serving, study_app
from api_fakes import (
    SECRET,
    FakeArchives,
    FakeKeys,
    FakeProductIndex,
    FakePublisher,
    FakeSources,
    FakeStats,
    FakeStore,
    FakeStudyIndex,
)
from fastapi import FastAPI

from dicompress_api.app import create_app
from dicompress_api.settings import ApiSettings
from dicompress_infra.auth import issue_token


@pytest.fixture
def settings() -> ApiSettings:
    return ApiSettings(jwt_secret=SECRET, api_allowed_buckets=["dicompress-data", "other-data"])


@pytest.fixture
def publisher() -> FakePublisher:
    return FakePublisher()


@pytest.fixture
def store() -> FakeStore:
    return FakeStore()


@pytest.fixture
def sources() -> FakeSources:
    return FakeSources()


@pytest.fixture
def stats() -> FakeStats:
    return FakeStats()


@pytest.fixture
def keys() -> FakeKeys:
    return FakeKeys()


@pytest.fixture
def app(
    settings: ApiSettings,
    publisher: FakePublisher,
    store: FakeStore,
    sources: FakeSources,
    stats: FakeStats,
    keys: FakeKeys,
) -> FastAPI:
    return create_app(
        settings,
        publisher=publisher,
        store=store,
        sources=sources,
        stats=stats,
        keys=keys,
        archives=FakeArchives(),
    )


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with serving(app) as http:
        yield http


@pytest.fixture
def index() -> FakeStudyIndex:
    return FakeStudyIndex()


@pytest.fixture
def products(index: FakeStudyIndex) -> FakeProductIndex:
    return FakeProductIndex(index.instance_rows)


@pytest.fixture
async def studies_client(
    settings: ApiSettings,
    index: FakeStudyIndex,
    products: FakeProductIndex,
    publisher: FakePublisher,
    sources: FakeSources,
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the app with the study and product indexes (the studies' routes)."""
    async with serving(study_app(settings, publisher, sources, index, products)) as http:
        yield http


@pytest.fixture
def token(settings: ApiSettings) -> str:
    return issue_token(SECRET, "acme", settings.jwt_audience)


@pytest.fixture
def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
