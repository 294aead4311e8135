"""`python -m dicompress_progress worker -l info`: faust's own command line runs the worker.

faust parses argv (worker, -l, --web-port...) and handles SIGTERM: it stops the agent, commits
the acknowledged offsets, then stops the resources (pool, producer).
"""

from __future__ import annotations

from dicompress_infra.logs import configure_logging
from dicompress_progress.app import create_app
from dicompress_progress.settings import ProgressSettings


def main() -> None:
    """Build settings from the environment, log as JSON, and hand over to faust's CLI."""
    settings = ProgressSettings()
    configure_logging(settings.log_level, "progress")
    create_app(settings).main()


if __name__ == "__main__":
    main()
