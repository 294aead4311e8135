"""`python -m dicompress_notifier`: serve websocket clients until SIGTERM."""

from __future__ import annotations

import asyncio

from dicompress_infra.logs import configure_logging
from dicompress_notifier.app import run
from dicompress_notifier.settings import NotifierSettings


def main() -> None:
    settings = NotifierSettings()
    configure_logging(settings.log_level, "notifier")
    asyncio.run(run(settings))


if __name__ == "__main__":
    main()
