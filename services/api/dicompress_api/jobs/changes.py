"""The API process's one LISTEN on the projection's change feed: it wakes every SSE stream of
the changed job and hands it the job's newest figures (one connection, however many streams)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from dicompress_infra.listen import PgListener
from dicompress_schemas import changefeed

log = logging.getLogger(__name__)


@dataclass(eq=False)
class Watched:
    """One stream's view of its job's notifications: a wake-up, and the newest figures the
    projection computed (`dicompress_schemas.figures`), sent on as they are."""

    wake: asyncio.Event = field(default_factory=asyncio.Event)
    figures_seq: int = -1
    figures: dict[str, Any] | None = None

    def notified(self, change: changefeed.Change) -> None:
        seq = change.last_seq
        if change.figures is not None and seq is not None and seq >= self.figures_seq:
            self.figures_seq, self.figures = seq, change.figures
        self.wake.set()


class ChangeListener:
    """The process's one LISTEN on the change feed (`dicompress_infra.listen`); wakes the
    streams of a job.

    It (re)connects in the background with a capped backoff, so the API starts and serves while
    Postgres is away; on each (re)connection it wakes every stream, which then read whatever they
    missed meanwhile.
    """

    def __init__(self, dsn: str, *, channel: str, retry_max_s: float = 5.0) -> None:
        self._waiters: dict[uuid.UUID, set[Watched]] = {}
        self._listen = PgListener(
            dsn,
            channel,
            self._on_change,
            on_listening=self._wake_all,
            retry_max_s=retry_max_s,
        )
        self._task: asyncio.Task[None] | None = None

    @property
    def connected(self) -> bool:
        return self._listen.listening.is_set()

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._listen.run(), name="sse-change-listener")

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    @contextlib.contextmanager
    def watch(self, job_id: uuid.UUID) -> Iterator[Watched]:
        """A `Watched` woken whenever `job_id` changes (or the listener reconnects)."""
        watched = Watched()
        self._waiters.setdefault(job_id, set()).add(watched)
        try:
            yield watched
        finally:
            waiters = self._waiters.get(job_id)
            if waiters is not None:
                waiters.discard(watched)
                if not waiters:
                    del self._waiters[job_id]

    def _on_change(self, payload: str) -> None:
        try:
            change = changefeed.parse(payload)
        except ValueError as exc:
            log.warning("ignored a malformed change notification", extra={"reason": str(exc)})
            return
        for watched in self._waiters.get(change.job_id, ()):
            watched.notified(change)

    def _wake_all(self) -> None:
        for waiters in self._waiters.values():
            for watched in waiters:
                watched.wake.set()
