"""Progress projection benchmark (issue 4): events/s applied with exactly-once bookkeeping, and
the time to replay 100,000 events, against the embedded stack's own Postgres and Kafka.

Three figures, on one synthetic log of `--events` events (jobs of `--slices` slices: request,
start, slices, completion; every 10th slice fails):

1. store: the worker's projector and store in-process (`Projector.handle_batch` over
   `ProjectionStore`), in the batches the agent forms under a backlog (`--batch`): Postgres
   only, no Kafka.
2. worker: the real worker process (`python -m dicompress_progress worker`) consuming the log
   from Kafka: from its start until the last event is recorded (start-up included; reported
   apart from the steady rate, measured over the middle 80% of the events so that neither the
   group's first rebalance nor the last batch's tail counts, and from the first recorded event
   to the last). `--workers 1 2` runs it with one and two worker processes in the group,
   `--loops asyncio uvloop` with each event loop.
3. replay: `dicompress_progress.replay.check` on the same log: rebuild into a fresh schema
   (Kafka read + projection), then the row-for-row comparison with the live tables.

Postgres runs durable (fsync on), as `dicompress up` runs it. Figures only, no asserts; the
issue's targets (>= 5,000 events/s live, replay of 100,000 events < 30 s) are printed beside.

    .venv/bin/python bench/bench_progress.py [--events 100000] [--slices 500] [--batch 500]

Needs Java and Maven for the embedded Kafka, as `dicompress up`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
from bench.paths import classpath_cache

from dicompress_infra.kafka import make_producer
from dicompress_progress.handler import Message, Projector
from dicompress_progress.migrate import apply_migrations
from dicompress_progress.replay import check
from dicompress_progress.retry import RetryPolicy
from dicompress_progress.settings import ProgressSettings
from dicompress_progress.store import ProjectionStore
from dicompress_schemas import CompressionRequested, Event, Topics, encode_event, event_key
from dicompress_schemas.histories import JobHistory
from dicompress_stack.config import StackConfig
from dicompress_stack.kafka import create_topics
from dicompress_stack.net import free_port
from dicompress_stack.postgres import create_database, database_url
from dicompress_stack.testing import temporary_backends

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def job_events(job: uuid.UUID, slices: int) -> list[Event]:
    """One job's whole history, 40 ms apart: the golden example's slice (512x512 CT, ~100:1)
    again and again, every 10th failing."""
    h = JobHistory(job, "bench", start=T0, step=timedelta(milliseconds=40), total=slices)
    h.requested(20)
    h.started(worker="c-1")
    for i in range(slices):
        h.slice(i, failed=i % 10 == 9)
    h.completed()
    return h.events


def the_log(total: int, slices: int) -> list[Event]:
    """About `total` events of whole jobs, interleaved as concurrent jobs would be."""
    per_job = slices + 3
    streams = [job_events(uuid.uuid4(), slices) for _ in range(max(1, total // per_job))]
    return [s[i] for i in range(per_job) for s in streams]


def as_messages(events: list[Event], topics: Topics) -> list[Message]:
    return [
        Message(
            topics.requests if isinstance(e, CompressionRequested) else topics.events,
            0,
            n,
            event_key(e),
            encode_event(e),
        )
        for n, e in enumerate(events)
    ]


class NoDeadLetters:
    async def send(self, message: Message, reason: str) -> None:
        raise RuntimeError(f"unexpected dead letter: {reason}")


async def bench_store(url: str, events: list[Event], batch: int) -> float:
    """Events/s through the projector and store, in-process."""
    async with asyncpg.create_pool(url, min_size=1, max_size=2) as pool:
        async with pool.acquire() as conn:
            await apply_migrations(conn)
        projector = Projector(ProjectionStore(pool), NoDeadLetters(), RetryPolicy())
        messages = as_messages(events, Topics())
        started = time.perf_counter()
        for n in range(0, len(messages), batch):
            await projector.handle_batch(messages[n : n + batch])
        return len(messages) / (time.perf_counter() - started)


async def publish(bootstrap: str, topics: Topics, events: list[Event]) -> float:
    producer = make_producer(bootstrap)
    await producer.start()
    started = time.perf_counter()
    try:
        for event in events:
            topic = topics.requests if isinstance(event, CompressionRequested) else topics.events
            await producer.send(topic, encode_event(event), key=event_key(event))
        await producer.flush()
    finally:
        await producer.stop()
    return time.perf_counter() - started


def bench_worker(
    env: dict[str, str], total: int, workdir: Path, workers: int = 1, loop: str = "uvloop"
) -> tuple[float, float, float]:
    """(seconds from the processes' start to the last event recorded, events/s from the first
    event recorded to the last, events/s over the middle 80% of the events), with
    `workers` worker processes in one consumer group sharing the topics' partitions."""
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for n in range(workers):
            extra = {
                "PROGRESS_WEB_PORT": str(free_port()),
                "PROGRESS_DATA_DIR": str(workdir / f"progress-{n}"),
                "LOG_LEVEL": "WARNING",
                "PROGRESS_EVENT_LOOP": loop,
            }
            with (workdir / f"worker-{n}.log").open("wb") as log:
                procs.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "dicompress_progress", "worker", "-l", "warn"],
                        env={**os.environ, **env, **extra},
                        cwd=workdir,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                    )
                )
        return asyncio.run(_until_recorded(procs, env["DATABASE_URL"], total, workdir))
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(30)


async def _until_recorded(
    procs: list[subprocess.Popen[bytes]], url: str, total: int, workdir: Path
) -> tuple[float, float, float]:
    started = time.perf_counter()
    conn = await asyncpg.connect(url)
    samples: list[tuple[float, int]] = []  # (when, events recorded), every 50 ms
    try:
        while True:
            if any(proc.poll() is not None for proc in procs):
                raise RuntimeError(f"a worker exited; see the logs in {workdir}")
            try:
                count: int = await conn.fetchval("SELECT count(*) FROM job_events")
            except asyncpg.UndefinedTableError:
                count = 0
            samples.append((time.perf_counter(), count))
            if count >= total:
                break
            await asyncio.sleep(0.05)
    finally:
        await conn.close()
    return samples[-1][0] - started, _rate(samples, 0.0), _rate(samples, 0.1)


def _rate(samples: list[tuple[float, int]], trim: float) -> float:
    """Events/s between the first sample past `trim` of the total and the first past
    1 - `trim` (trim 0: from the first event recorded to the last)."""
    total = samples[-1][1]
    low = next(s for s in samples if s[1] > total * trim)
    high = next(s for s in samples if s[1] >= total * (1 - trim))
    return (high[1] - low[1]) / max(1e-9, high[0] - low[0])


@contextmanager
def backends() -> Iterator[StackConfig]:
    """Durable backends (fsync on, as `dicompress up` runs them) for the measurement."""
    cache = classpath_cache()
    with temporary_backends(cache, durable=True) as config:
        yield config


def fresh(config: StackConfig) -> dict[str, str]:
    """A fresh database and topic prefix on the running backends, as service env vars."""
    tag = secrets.token_hex(4)
    create_topics(config.kafka_bootstrap, Topics(prefix=f"b{tag}."))
    create_database(config.postgres_admin_url, f"b_{tag}")
    return {
        "KAFKA_BOOTSTRAP_SERVERS": config.kafka_bootstrap,
        "TOPIC_PREFIX": f"b{tag}.",
        "DATABASE_URL": database_url(config.postgres_admin_url, f"b_{tag}"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--slices", type=int, default=500, help="slices per job")
    parser.add_argument("--batch", type=int, default=500, help="events per transaction")
    parser.add_argument(
        "--workers",
        type=int,
        nargs="+",
        default=[1, 2],
        help="worker processes in the group, one run (fresh topics and database) per count",
    )
    parser.add_argument(
        "--loops",
        nargs="+",
        choices=["asyncio", "uvloop"],
        default=["uvloop"],
        help="the worker's event loop (PROGRESS_EVENT_LOOP), one set of runs per loop",
    )
    args = parser.parse_args()

    started = time.perf_counter()
    events = the_log(args.events, args.slices)
    print(
        f"log: {len(events)} events of {len(events) // (args.slices + 3)} jobs "
        f"(built in {time.perf_counter() - started:.1f} s)"
    )
    with backends() as config:
        env = fresh(config)
        store_rate = asyncio.run(bench_store(env["DATABASE_URL"], events, args.batch))
        print(
            f"store:  {store_rate:8.0f} events/s  (in-process projector + store, "
            f"batches of {args.batch}; target >= 5,000)"
        )

        for loop, workers in [(loop, n) for loop in args.loops for n in args.workers]:
            env = fresh(config)
            topics = Topics(prefix=env["TOPIC_PREFIX"])
            seconds = asyncio.run(publish(config.kafka_bootstrap, topics, events))
            print(f"kafka:  {len(events)} events published in {seconds:.1f} s")
            workdir = Path(tempfile.mkdtemp(prefix="dicompress-bench-worker-"))
            try:
                total_s, whole, steady = bench_worker(env, len(events), workdir, workers, loop)
            finally:
                shutil.rmtree(workdir, ignore_errors=True)
            print(
                f"worker: {steady:8.0f} events/s steady (middle 80%; {whole:.0f} from the first "
                f"event to the last) with {workers} {loop} process(es); "
                f"all {len(events)} recorded {total_s:.1f} s after the start (start-up included; "
                "target >= 5,000)"
            )

        settings = ProgressSettings(
            kafka_bootstrap_servers=env["KAFKA_BOOTSTRAP_SERVERS"],
            database_url=env["DATABASE_URL"],
            topic_prefix=env["TOPIC_PREFIX"],
        )
        started = time.perf_counter()
        report = asyncio.run(check(settings))
        total = time.perf_counter() - started
        print(
            f"replay: {report.messages} events rebuilt in {report.seconds:.1f} s "
            f"({report.messages / report.seconds:.0f} events/s; target < 30 s for 100,000); "
            f"with the row-for-row check {total:.1f} s; equal to live: {report.equal}"
        )
        print(report.render())


if __name__ == "__main__":
    main()
