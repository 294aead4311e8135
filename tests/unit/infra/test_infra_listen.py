"""The shared reconnecting LISTEN against a fake connection: notifications, a lost connection,
a silently dead peer, a Postgres that is not there yet."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

import polling
from dicompress_infra import listen
from dicompress_infra.listen import PgListener


class FakeConnection:
    """What PgListener uses of an asyncpg connection; `dead` makes every query hang."""

    def __init__(self, dead: bool = False) -> None:
        self.dead = dead
        self.closed = False
        self.channels: dict[str, Callable[..., None]] = {}
        self._on_lost: list[Callable[[object], None]] = []

    def add_termination_listener(self, callback: Callable[[object], None]) -> None:
        self._on_lost.append(callback)

    async def add_listener(self, channel: str, callback: Callable[..., None]) -> None:
        self.channels[channel] = callback

    async def fetchval(self, query: str) -> int:
        assert query == "SELECT 1"
        if self.dead:
            await asyncio.Event().wait()  # a half-open TCP connection: no answer, ever
        return 1

    def notify(self, channel: str, payload: str) -> None:
        self.channels[channel](self, 4242, channel, payload)

    def lose(self) -> None:
        for callback in self._on_lost:
            callback(self)

    def is_closed(self) -> bool:
        return self.closed

    def terminate(self) -> None:
        self.closed = True


class Postgres:
    """Hands out the scripted connections (or errors) in order, then healthy ones."""

    def __init__(self, *script: FakeConnection | Exception) -> None:
        self.script = list(script)
        self.opened: list[FakeConnection] = []

    async def connect(self, dsn: str, timeout: float) -> FakeConnection:  # noqa: ASYNC109 -- asyncpg.connect's own signature
        step = self.script.pop(0) if self.script else FakeConnection()
        if isinstance(step, Exception):
            raise step
        self.opened.append(step)
        return step


@pytest.fixture
async def running() -> AsyncIterator[Callable[[PgListener], None]]:
    tasks: list[asyncio.Task[None]] = []
    yield lambda listener: tasks.append(asyncio.create_task(listener.run()))
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def listener_on(
    postgres: Postgres, monkeypatch: pytest.MonkeyPatch, heard: list[str], woken: list[int]
) -> PgListener:
    monkeypatch.setattr(listen.asyncpg, "connect", postgres.connect)
    return PgListener(
        "postgresql://x",
        "feed_x",
        heard.append,
        on_listening=lambda: woken.append(1),
        retry_max_s=0.05,
        probe_every_s=0.05,
    )


async def test_notifications_on_the_channel_reach_the_callback(
    monkeypatch: pytest.MonkeyPatch, running: Callable[[PgListener], None]
) -> None:
    postgres, heard, woken = Postgres(), list[str](), list[int]()
    listener = listener_on(postgres, monkeypatch, heard, woken)
    running(listener)
    await asyncio.wait_for(listener.listening.wait(), 5)
    assert list(postgres.opened[0].channels) == ["feed_x"]
    postgres.opened[0].notify("feed_x", '{"job_id": "x"}')
    assert heard == ['{"job_id": "x"}']
    assert woken == [1]  # whoever waits re-reads what was notified before the LISTEN


async def test_a_lost_connection_is_replaced_and_everyone_woken(
    monkeypatch: pytest.MonkeyPatch, running: Callable[[PgListener], None]
) -> None:
    postgres, heard, woken = Postgres(), list[str](), list[int]()
    listener = listener_on(postgres, monkeypatch, heard, woken)
    running(listener)
    await asyncio.wait_for(listener.listening.wait(), 5)
    postgres.opened[0].lose()
    await polling.eventually(lambda: listener.connections == 2, "a second LISTEN", 5)
    assert postgres.opened[0].closed
    assert len(woken) == 2


async def test_a_silently_dead_peer_is_detected_by_the_probe(
    monkeypatch: pytest.MonkeyPatch, running: Callable[[PgListener], None]
) -> None:
    postgres, heard, woken = Postgres(FakeConnection(dead=True)), list[str](), list[int]()
    listener = listener_on(postgres, monkeypatch, heard, woken)
    running(listener)
    await polling.eventually(lambda: listener.connections == 2, "a LISTEN after the probe", 5)
    assert postgres.opened[0].closed  # the dead one was let go
    assert not postgres.opened[1].closed


async def test_it_retries_until_postgres_answers(
    monkeypatch: pytest.MonkeyPatch, running: Callable[[PgListener], None]
) -> None:
    refused: list[Any] = [ConnectionRefusedError("not yet"), TimeoutError()]
    postgres, heard, woken = Postgres(*refused), list[str](), list[int]()
    listener = listener_on(postgres, monkeypatch, heard, woken)
    running(listener)
    await asyncio.wait_for(listener.listening.wait(), 5)
    assert listener.connections == 1
    assert woken == [1]
