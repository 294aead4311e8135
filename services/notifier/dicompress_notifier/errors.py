"""The notifier's one base exception."""

from __future__ import annotations


class NotifierError(Exception):
    """Something the notifier cannot go on with; the message says what to do."""
