"""`python -m dicompress_api`: settings -> logging -> uvicorn serving `create_app(settings)`."""

from __future__ import annotations

import uvicorn

from dicompress_api.app import create_app
from dicompress_api.settings import ApiSettings
from dicompress_infra.logs import configure_logging


def run(settings: ApiSettings) -> None:
    """Serve until SIGTERM/SIGINT, which uvicorn turns into a graceful shutdown."""
    config = uvicorn.Config(
        create_app(settings),
        host=settings.api_host,
        port=settings.api_port,
        log_config=None,  # keep our JSON logging; uvicorn's loggers propagate to the root
        lifespan="on",
        # SSE streams stay open until their job ends; on SIGTERM cut them after 5 s (clients
        # reconnect with Last-Event-ID and lose nothing) instead of waiting for every job
        timeout_graceful_shutdown=5,
    )
    uvicorn.Server(config).run()


def main() -> None:
    settings = ApiSettings()
    configure_logging(settings.log_level, "api")
    run(settings)


if __name__ == "__main__":
    main()
