"""`python -m dicompress_renderer`: settings -> logging -> run until SIGTERM."""

from __future__ import annotations

import asyncio

from dicompress_infra.logs import configure_logging
from dicompress_renderer.service import run
from dicompress_renderer.settings import RendererSettings


def main() -> None:
    """Entry point of the `dicompress-renderer` console script."""
    settings = RendererSettings()
    configure_logging(settings.log_level, "renderer")
    asyncio.run(run(settings))


if __name__ == "__main__":
    main()
