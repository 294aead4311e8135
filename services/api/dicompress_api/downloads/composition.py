"""Wires the downloads into an app: the service on the app's S3 client, routes and errors."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import FastAPI

from dicompress_api.downloads.problems import install_download_problems
from dicompress_api.downloads.reading import ChunksOf, StudyDownloads
from dicompress_api.downloads.routes import DownloadRoutes, router
from dicompress_api.studies.ports import StudyIndex


class Downloads:
    """`chunks_of(bucket)` reads objects of that bucket (`objects.S3Chunks` in the app)."""

    def __init__(
        self,
        index: StudyIndex,
        chunks_of: ChunksOf,
        tenant_of_token: Callable[[str], Awaitable[str]],
    ) -> None:
        self.routes = DownloadRoutes(StudyDownloads(index, chunks_of), tenant_of_token)

    def install(self, app: FastAPI) -> None:
        app.state.downloads = self.routes
        app.include_router(router)
        install_download_problems(app)
