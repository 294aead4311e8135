"""Blank the bearer token in uvicorn's access log: EventSource cannot send headers, so a token
may come in the URL (`?access_token=`), and URLs are what an access log prints."""

from __future__ import annotations

import logging
import re


class RedactTokens(logging.Filter):
    """Blanks `access_token=...` in log records (uvicorn's access log prints whole URLs)."""

    _TOKEN = re.compile(r"(access_token=)[^&\s\"]+")

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                self._TOKEN.sub(r"\1REDACTED", a) if isinstance(a, str) else a for a in record.args
            )
        if isinstance(record.msg, str):
            record.msg = self._TOKEN.sub(r"\1REDACTED", record.msg)
        return True


def redact_tokens_in_access_log() -> None:
    """Install `RedactTokens` on uvicorn's access logger, once per process."""
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RedactTokens) for f in access.filters):
        access.addFilter(RedactTokens())
