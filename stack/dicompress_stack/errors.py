"""The one exception of the embedded stack; its message says what failed and what to do."""

from __future__ import annotations


class StackError(Exception):
    """A backend or service of the embedded stack could not be prepared, started or found."""
