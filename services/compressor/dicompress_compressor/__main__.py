"""`python -m dicompress_compressor`: settings -> logging -> encoder check -> run until SIGTERM."""

from __future__ import annotations

import asyncio

from dicompress_compressor.encoder import check_encoder_available
from dicompress_compressor.service import run
from dicompress_compressor.settings import CompressorSettings
from dicompress_infra.logs import configure_logging


def main() -> None:
    """Entry point of the `dicompress-compressor` console script."""
    settings = CompressorSettings()
    configure_logging(settings.log_level, "compressor")
    check_encoder_available()
    asyncio.run(run(settings))


if __name__ == "__main__":
    main()
