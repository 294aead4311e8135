"""Topic names, defined once; a prefix gives tests (or a shared cluster) their own set."""

from __future__ import annotations

from dataclasses import dataclass

REQUESTS = "compression.requests"
EVENTS = "compression.events"
DEAD_LETTER = "compression.dead-letter"


@dataclass(frozen=True)
class Topics:
    """The topics of one deployment.

    requests: `CompressionRequested`, keyed by job id; the compressors' consumer group reads it.
    events: every later event of a job, keyed by job id so a job's events keep their order.
    dead_letter: what could not be decoded or applied, with the reason in a header.
    """

    prefix: str = ""

    @property
    def requests(self) -> str:
        return self.prefix + REQUESTS

    @property
    def events(self) -> str:
        return self.prefix + EVENTS

    @property
    def dead_letter(self) -> str:
        return self.prefix + DEAD_LETTER

    def all(self) -> tuple[str, str, str]:
        return (self.requests, self.events, self.dead_letter)
