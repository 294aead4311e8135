"""`python -m dicompress_ingest`: settings -> logging -> run until SIGTERM."""

from __future__ import annotations

import asyncio

from dicompress_infra.logs import configure_logging
from dicompress_ingest.service import run
from dicompress_ingest.settings import IngestSettings


def main() -> None:
    """Entry point of the `dicompress-ingest` console script."""
    settings = IngestSettings()
    configure_logging(settings.log_level, "ingest")
    asyncio.run(run(settings))


if __name__ == "__main__":
    main()
