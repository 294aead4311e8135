"""A loop the API runs beside its routes (the upload sweep, the bucket notifications): started
once with the app, cancelled and awaited when it closes."""

from __future__ import annotations

import asyncio


class BackgroundLoop:
    """Runs `_run` in a task from `start` until `close`; `start` twice starts it once."""

    _task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run())

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _run(self) -> None:
        raise NotImplementedError
