"""The renderer's one base exception, and the abort that becomes a job's JobFailed."""

from __future__ import annotations


class RendererError(Exception):
    """Base of every error this package raises on purpose."""


class RenderAborted(RendererError):
    """The product cannot be made; `error_code` and `reason` (plain words, what to do) become
    its JobFailed."""

    def __init__(self, error_code: str, reason: str) -> None:
        super().__init__(reason)
        self.error_code = error_code
        self.reason = reason
