"""`python -m dicompress_products`: settings -> logging -> run until SIGTERM."""

from __future__ import annotations

import asyncio

from dicompress_infra.logs import configure_logging
from dicompress_products.service import run
from dicompress_products.settings import ProductsSettings


def main() -> None:
    """Entry point of the `dicompress-products` console script."""
    settings = ProductsSettings()
    configure_logging(settings.log_level, "products")
    asyncio.run(run(settings))


if __name__ == "__main__":
    main()
