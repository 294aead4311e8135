"""Wires the study index into an app: its reader, routes and errors."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import FastAPI

from dicompress_api.studies.ports import StudyIndex
from dicompress_api.studies.problems import install_study_problems
from dicompress_api.studies.reader import ProductsOf, StudyReader
from dicompress_api.studies.routes import StudyRoutes, router


class Studies:
    """The study index feature of one app. Its adapter reads through the app's shared database
    pool, which the app's lifespan starts and closes."""

    def __init__(
        self,
        index: StudyIndex,
        tenant_of_token: Callable[[str], Awaitable[str]],
        products_of: ProductsOf | None = None,
    ) -> None:
        reader = StudyReader(index) if products_of is None else StudyReader(index, products_of)
        self.routes = StudyRoutes(reader, tenant_of_token)

    def install(self, app: FastAPI) -> None:
        app.state.studies = self.routes
        app.include_router(router)
        install_study_problems(app)
