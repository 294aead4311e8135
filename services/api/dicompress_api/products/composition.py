"""Wires the products feature into an app: its service, routes and errors."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import FastAPI

from dicompress_api.adapters.presign import S3Presigner
from dicompress_api.products.mini_ct import MiniCtService
from dicompress_api.products.ports import ProductIndex, ProductPublisher
from dicompress_api.products.problems import install_product_problems
from dicompress_api.products.requesting import ProductService
from dicompress_api.products.routes import ProductRoutes, router
from dicompress_api.studies.ports import StudyIndex


class Products:
    def __init__(
        self,
        index: ProductIndex,
        studies: StudyIndex,
        publisher: ProductPublisher,
        presigner: S3Presigner,
        tenant_of_token: Callable[[str], Awaitable[str]],
    ) -> None:
        self.service = ProductService(
            index, studies, publisher, presigner.url, presigner.expires_at
        )
        self.mini_ct = MiniCtService(index, studies, publisher, presigner.url, presigner.expires_at)
        self.routes = ProductRoutes(self.service, self.mini_ct, tenant_of_token)

    def install(self, app: FastAPI) -> None:
        app.state.products = self.routes
        app.include_router(router)
        install_product_problems(app)
