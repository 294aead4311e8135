"""`python -m dicompress_progress worker -l info`: faust's own command line runs the worker.

faust parses argv (worker, -l, --web-port...) and handles SIGTERM: it stops the agent, commits
the acknowledged offsets, then stops the resources (pool, producer).
"""

from __future__ import annotations

import logging
import os

from dicompress_infra.logs import configure_logging
from dicompress_progress.settings import ProgressSettings


def main() -> None:
    """Build settings from the environment, log as JSON, and hand over to faust's CLI."""
    settings = ProgressSettings()
    configure_logging(settings.log_level, "progress")
    # faust's worker lowers the root logger to DEBUG at -l warn and above (for its spinner;
    # see app.py), which would make our loggers build a record per event to be dropped later.
    logging.getLogger("dicompress_progress").setLevel(settings.log_level.upper())
    if settings.progress_event_loop == "uvloop":
        # faust installs the loop named by F_LOOP when it is first imported (an explicit
        # F_LOOP in the environment wins), so the app module is imported only after this.
        os.environ.setdefault("F_LOOP", "uvloop")
    from dicompress_progress.app import create_app  # after F_LOOP: faust reads it on import

    create_app(settings).main()


if __name__ == "__main__":
    main()
