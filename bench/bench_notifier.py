"""Notifier benchmark (issue 6): publish-to-WebSocket latency, and fan-out to thousands of viewers.

Starts its own embedded backends (Kafka, Postgres, S3 on free ports, durable as `dicompress up`
runs them), then the progress service and ONE notifier as subprocesses with the stack's own
service environment (`dicompress_stack.config.service_env`). The notifier is what is measured.

(a) latency: `--latency-clients` connections, each subscribed to all `--latency-jobs` jobs;
    at least `--events` job events (CompressionRequested on the requests topic, JobStarted,
    SliceEncoded..., JobCompleted on the events topic, keyed by job id as the services do)
    published at `--latency-rate` events/s, interleaved across the jobs as concurrent jobs
    are. Latency = arrival at the client - the event's `occurred_at`, which is set right
    before the event goes to the Kafka producer. Target p99 < 50 ms.
(b) fan-out: `--connections` connections (default 10,000), each subscribed to one of `--jobs`
    jobs (default 100), opened in batches from `--client-processes` worker processes; each
    job's `--fanout-slices` + 3 events published at `--fanout-rate` events/s in all (40: about
    what the compressor encodes on 2 cores, so what a real stack of this size produces).
    Every client must receive every event of its job once, in order; also p50/p99 latency
    and the notifier's CPU seconds and peak RSS (psutil on its pid). Targets: no loss,
    p99 < 250 ms, RSS < 1 GB.

Beside each phase a plain Kafka consumer in this process measures publish -> Kafka arrival,
to tell Kafka's share of the latency from the notifier's. Frames other than `event` are
counted by op: `progress` frames (per-slice updates the notifier coalesced for a lagging
client) are reported as such, apart from events that are missing outright.

Prints a table and writes bench/results/notifier.json (`--quick`: notifier-quick.json;
`--no-deflate`: a -nodeflate suffix; `--notifier-compression none|deflate` sets the notifier's
NOTIFIER_COMPRESSION and adds a -server-none|-server-deflate suffix).

    .venv/bin/python -m bench.bench_notifier            # full run, ~5 minutes
    .venv/bin/python -m bench.bench_notifier --quick    # 1,000 events, 500 connections, ~1.5 min

`--notifier-rev REV` measures the notifier as of a git revision instead of the working tree.
Needs Java and Maven for the embedded Kafka, as `dicompress up`. Run from the repository root.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import multiprocessing
import os
import platform
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
from array import array
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.metadata import version
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import psutil
from bench.notifier_clients import (
    ClientPlan,
    ConnectSummary,
    WorkerReport,
    raise_fd_limit,
    worker_main,
)
from bench.notifier_publish import TENANT, publish_paced
from bench.paths import RESULTS, classpath_cache
from prometheus_client.parser import text_string_to_metric_families

from dicompress_infra.auth import issue_token
from dicompress_schemas import (
    Topics,
)
from dicompress_stack.config import StackConfig, service_env
from dicompress_stack.net import free_port
from dicompress_stack.testing import ServiceRunner, temporary_backends

AUDIENCE = "dicompress"  # CommonSettings.jwt_audience's default, as the stack runs it
MB = 1024 * 1024

TIME_WINDOW_S = 5.0  # of the latency-over-time rows
TARGET_LATENCY_P99_MS = 50.0
TARGET_FANOUT_P99_MS = 250.0
TARGET_RSS_BYTES = 1024 * MB


@dataclass(frozen=True)
class Phase:
    """One measurement: who subscribes to what, and how the events are published."""

    name: str
    jobs: list[uuid.UUID]
    slices: int
    subscriptions: list[tuple[str, ...]]  # per connection
    client_processes: int
    rate: float
    batch: int
    grace_s: float
    deflate: bool


class PeakRss:
    """Context manager: the largest RSS of one process, sampled every `interval_s` in a thread
    (only that pid: scanning the whole process table would load the 2 cores we measure on)."""

    def __init__(self, pid: int, interval_s: float = 0.1) -> None:
        self._process = psutil.Process(pid)
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, name="peak-rss", daemon=True)
        self.peak_bytes = 0

    def _poll(self) -> None:
        while not self._stop.wait(self._interval_s):
            try:
                self.peak_bytes = max(self.peak_bytes, self._process.memory_info().rss)
            except psutil.Error:
                return

    def __enter__(self) -> PeakRss:
        self.peak_bytes = self._process.memory_info().rss
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def percentile(ordered: list[float], q: float) -> float:
    if not ordered:
        return math.nan
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summary_ms(ordered: list[float]) -> dict[str, float]:
    return {
        "samples": len(ordered),
        "p50": round(percentile(ordered, 0.50), 2),
        "p90": round(percentile(ordered, 0.90), 2),
        "p99": round(percentile(ordered, 0.99), 2),
        "max": round(ordered[-1], 2) if ordered else math.nan,
    }


def over_time(sent_at: array[float], latencies: array[float], window_s: float) -> list[str]:
    """'start-end s: p50 / p99 ms (n)' per window of publish time from the first event: shows
    whether the latency is steady, grows (the notifier falls behind) or comes from a stall."""
    if not sent_at:
        return []
    first = min(sent_at)
    windows: dict[int, list[float]] = {}
    for sent, latency in zip(sent_at, latencies, strict=True):
        windows.setdefault(int((sent - first) // window_s), []).append(latency)
    rows = []
    for index in sorted(windows):
        ordered = sorted(windows[index])
        rows.append(
            f"{index * window_s:g}-{(index + 1) * window_s:g} s: "
            f"{percentile(ordered, 0.5):.0f} / {percentile(ordered, 0.99):.0f} ms ({len(ordered)})"
        )
    return rows


def postgres_transactions(database_url: str) -> int:
    """Transactions committed in the stack's database so far (every query of the notifier's
    pool is one; the progress worker commits one per batch): how hard Postgres is asked."""

    async def read() -> int:
        conn = await asyncpg.connect(database_url)
        try:
            await conn.execute("SELECT pg_stat_clear_snapshot()")
            value = await conn.fetchval(
                "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
            )
            return int(value)
        finally:
            await conn.close()

    return asyncio.run(read())


CATCHUP_COUNTERS = (
    "dicompress_notifier_catchup_requests",
    "dicompress_notifier_catchup_reads",
    "dicompress_notifier_changes_skipped",
    "dicompress_notifier_events_filled",
)


def notifier_counters(ws_url: str) -> dict[str, float]:
    """The notifier's catch-up counters from its /metrics ({} for a notifier that has none,
    e.g. an older revision): how often subscriptions lagged behind Postgres, and the reads
    that cost."""
    parts = urllib.parse.urlsplit(ws_url)
    scheme = "https" if parts.scheme == "wss" else "http"
    answer = httpx.get(f"{scheme}://{parts.netloc}/metrics", timeout=10)
    answer.raise_for_status()
    return {
        family.name.removeprefix("dicompress_notifier_"): sample.value
        for family in text_string_to_metric_families(answer.text)
        if family.name in CATCHUP_COUNTERS
        for sample in family.samples
        if sample.name.endswith("_total")
    }


def run_phase(
    phase: Phase,
    url: str,
    token: str,
    config: StackConfig,
    topics: Topics,
    notifier_pid: int,
) -> dict[str, Any]:
    """Start the client processes, publish once they are subscribed, collect their reports."""
    notifier = psutil.Process(notifier_pid)
    last_seq = {str(job): phase.slices + 2 for job in phase.jobs}
    shares = [
        phase.subscriptions[i :: phase.client_processes] for i in range(phase.client_processes)
    ]
    context = multiprocessing.get_context("spawn")
    pipes: list[Connection] = []
    workers = []
    for share in shares:
        ours, theirs = context.Pipe()
        plan = ClientPlan(url, token, tuple(share), last_seq, phase.batch, phase.deflate)
        worker = context.Process(target=worker_main, args=(plan, theirs), daemon=True)
        worker.start()
        pipes.append(ours)
        workers.append(worker)
    try:
        with PeakRss(notifier_pid) as peak:
            cpu_before = cpu_seconds(notifier)
            started = time.perf_counter()
            summaries: list[ConnectSummary] = [_expect(pipe, "ready", 900) for pipe in pipes]
            connect_s = time.perf_counter() - started
            cpu_connected = cpu_seconds(notifier)
            transactions_before = postgres_transactions(config.database_url)
            counters_before = notifier_counters(url)
            rss_connected = notifier.memory_info().rss
            print(
                f"  {phase.name}: {sum(s.connections for s in summaries)} connections subscribed "
                f"in {connect_s:.1f} s; publishing...",
                flush=True,
            )
            published = asyncio.run(
                publish_paced(config.kafka_bootstrap, topics, phase.jobs, phase.slices, phase.rate)
            )
            for pipe in pipes:
                pipe.send(("drain", phase.grace_s))
            reports: list[WorkerReport] = [
                _expect(pipe, "report", phase.grace_s + 300) for pipe in pipes
            ]
            drained_s = time.perf_counter() - started - connect_s
            cpu_after = cpu_seconds(notifier)
            transactions = postgres_transactions(config.database_url) - transactions_before
            counters = notifier_counters(url)
    finally:
        for worker in workers:
            worker.join(30)
            if worker.is_alive():
                worker.kill()
    latencies, sent_at = array("d"), array("d")
    for report in reports:
        latencies.frombytes(report.latencies_ms)
        sent_at.frombytes(report.sent_at)
    ordered = sorted(latencies)
    ops: Counter[str] = Counter()
    closes: Counter[str] = Counter()
    for report in reports:
        ops.update(report.ops)
        closes.update(report.closes)
    expected = sum(len(s) for s in phase.subscriptions) * (phase.slices + 3)
    frames = sum(r.events for r in reports) + ops["progress"] + ops["gap"]
    total = sum(r.subscriptions for r in reports)
    return {
        "jobs": len(phase.jobs),
        "events_per_job": phase.slices + 3,
        "connections": len(phase.subscriptions),
        "connected": sum(s.connections for s in summaries),
        "connect_failures": sum(s.failures for s in summaries),
        "subscriptions_acked": sum(s.acked for s in summaries),
        "snapshots_before_publishing": sum(s.snapshots for s in summaries),
        "ready_s": round(max(s.ready_s for s in summaries), 2),
        "first_connect_failure": next((s.first_failure for s in summaries if s.failures), ""),
        "connect_s": round(max(s.seconds for s in summaries), 2),
        "until_ready_s": round(connect_s, 2),
        "client_processes": phase.client_processes,
        "permessage_deflate": phase.deflate,
        "published_events": published.events,
        "publish_s": round(published.seconds, 2),
        "publish_rate_per_s": round(published.events / published.seconds, 1),
        "target_rate_per_s": phase.rate,
        "publish_to_drained_s": round(drained_s, 2),
        "deliveries_expected": expected,
        "event_frames": sum(r.events for r in reports),
        "subscriptions": total,
        "subscriptions_completed": sum(r.completed for r in reports),
        "lost": sum(r.lost for r in reports),
        "duplicates": sum(r.duplicates for r in reports),
        "out_of_order": sum(r.out_of_order for r in reports),
        "unexpected": sum(r.unexpected for r in reports),
        "covered_by_snapshot": sum(r.covered_by_snapshot for r in reports),
        "coalesced_into_progress": sum(r.coalesced for r in reports),
        "other_frames": dict(ops),
        "early_closes_by_code": dict(closes),
        "closed_after_their_end": sum(r.closed_after_end for r in reports),
        "latency_ms": summary_ms(ordered),
        "latency_ms_by_publish_window": over_time(sent_at, latencies, TIME_WINDOW_S),
        "kafka_only_latency_ms": summary_ms(sorted(published.kafka_latencies_ms)),
        "notifier_cpu_s": {
            "connect": round(cpu_connected - cpu_before, 2),
            "publish_and_deliver": round(cpu_after - cpu_connected, 2),
        },
        "notifier_rss_mb": {
            "after_connect": round(rss_connected / MB, 1),
            "peak": round(peak.peak_bytes / MB, 1),
        },
        "client_cpu_s": round(sum(r.cpu_s for r in reports), 2),
        "postgres_transactions_while_publishing": transactions,
        "notifier_catchup": {k: v - counters_before.get(k, 0) for k, v in counters.items()},
        # what one delivered frame costs the notifier, hence the frames/s one core can carry
        "notifier_cpu_us_per_frame": round(1e6 * (cpu_after - cpu_connected) / max(1, frames), 1),
        "frames_per_core_second": round(frames / max(1e-9, cpu_after - cpu_connected)),
    }


def catchup_cell(phase: dict[str, Any]) -> str:
    c = phase.get("notifier_catchup") or {}
    if not c:
        return "n/a"
    return f"{c['catchup_requests']:.0f} / {c['catchup_reads']:.0f} / {c['changes_skipped']:.0f}"


def _expect(pipe: Connection, kind: str, timeout_s: float) -> Any:
    if not pipe.poll(timeout_s):
        raise RuntimeError(f"no '{kind}' from a client process after {timeout_s:.0f} s")
    message = pipe.recv()
    if message[0] != kind:
        raise RuntimeError(f"expected '{kind}' from a client process, got {message[0]!r}")
    return message[1]


def notifier_source(rev: str | None, workdir: Path) -> dict[str, str]:
    """Env that makes the notifier process import `dicompress_notifier` as of git revision
    `rev` (exported with `git archive` into `workdir`); {} for the working tree."""
    if rev is None:
        return {}
    package = "services/notifier/dicompress_notifier"
    archive = subprocess.run(
        ["git", "archive", "--format=tar", rev, package], capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(workdir)], input=archive, check=True)
    # PYTHONPATH comes before the venv's editable install on sys.path
    paths = [str(workdir / "services/notifier"), os.environ.get("PYTHONPATH", "")]
    return {"PYTHONPATH": os.pathsep.join(p for p in paths if p)}


@contextmanager
def notifier_stack(
    workdir: Path, rev: str | None, compression: str | None = None
) -> Iterator[tuple[StackConfig, str, int, str]]:
    """Backends, the progress service and one notifier: (config, ws url, notifier pid, secret).
    `compression`: the notifier's NOTIFIER_COMPRESSION (None: its default)."""
    cache = classpath_cache()
    with temporary_backends(cache, durable=True) as config:
        secret = secrets.token_urlsafe(32)
        env = service_env(config, secret)
        runner = ServiceRunner(env, workdir)
        try:
            runner.start("progress", {"PROGRESS_WEB_PORT": str(free_port())})
            notifier = runner.start(
                "notifier",
                {
                    "NOTIFIER_PORT": str(free_port()),
                    **notifier_source(rev, workdir),
                    **({"NOTIFIER_COMPRESSION": compression} if compression else {}),
                },
            )
            yield config, notifier.ws_url, notifier.process.pid, secret
        finally:
            runner.stop_all()


def latency_phase(args: argparse.Namespace) -> Phase:
    jobs = [uuid.uuid4() for _ in range(args.latency_jobs)]
    slices = max(1, math.ceil(args.events / len(jobs)) - 3)
    everything = tuple(str(job) for job in jobs)
    return Phase(
        "latency",
        jobs,
        slices,
        [everything] * args.latency_clients,
        client_processes=1,
        rate=args.latency_rate,
        batch=args.batch,
        grace_s=args.grace,
        deflate=not args.no_deflate,
    )


def fanout_phase(args: argparse.Namespace) -> Phase:
    jobs = [uuid.uuid4() for _ in range(args.jobs)]
    return Phase(
        "fan-out",
        jobs,
        args.fanout_slices,
        [(str(jobs[i % len(jobs)]),) for i in range(args.connections)],
        client_processes=args.client_processes,
        rate=args.fanout_rate,
        batch=args.batch,
        grace_s=args.grace,
        deflate=not args.no_deflate,
    )


def render(results: dict[str, Any]) -> str:
    """The figures as a table, with the issue's targets marked."""
    a, b = results["latency"], results["fanout"]

    def mark(ok: bool) -> str:
        return "MET" if ok else "MISSED"

    def loss(p: dict[str, Any]) -> str:
        return (
            f"not received as events {p['lost']} (of which folded into progress frames "
            f"{p['coalesced_into_progress']}), dup {p['duplicates']}, "
            f"out-of-order {p['out_of_order']}, "
            f"completed {p['subscriptions_completed']}/{p['subscriptions']} subscriptions"
        )

    rows = [
        ("", "(a) latency", "(b) fan-out"),
        (
            "connections x jobs",
            f"{a['connections']} x {a['jobs']} each",
            f"{b['connections']} over {b['jobs']} jobs",
        ),
        (
            "events published",
            f"{a['published_events']} @ {a['publish_rate_per_s']}/s",
            f"{b['published_events']} @ {b['publish_rate_per_s']}/s",
        ),
        (
            "event frames received",
            f"{a['event_frames']} of {a['deliveries_expected']}",
            f"{b['event_frames']} of {b['deliveries_expected']}",
        ),
        (
            "latency p50 / p90 ms",
            f"{a['latency_ms']['p50']} / {a['latency_ms']['p90']}",
            f"{b['latency_ms']['p50']} / {b['latency_ms']['p90']}",
        ),
        (
            "latency p99 / max ms",
            f"{a['latency_ms']['p99']} / {a['latency_ms']['max']}",
            f"{b['latency_ms']['p99']} / {b['latency_ms']['max']}",
        ),
        (
            "Kafka alone p50 / p99 ms",
            f"{a['kafka_only_latency_ms']['p50']} / {a['kafka_only_latency_ms']['p99']}",
            f"{b['kafka_only_latency_ms']['p50']} / {b['kafka_only_latency_ms']['p99']}",
        ),
        (
            "connect / all subscribed s",
            f"{a['connect_s']} / {a['ready_s']}",
            f"{b['connect_s']} / {b['ready_s']}",
        ),
        (
            "notifier CPU s connect / deliver",
            f"{a['notifier_cpu_s']['connect']} / {a['notifier_cpu_s']['publish_and_deliver']}",
            f"{b['notifier_cpu_s']['connect']} / {b['notifier_cpu_s']['publish_and_deliver']}",
        ),
        (
            "notifier RSS MB connected / peak",
            f"{a['notifier_rss_mb']['after_connect']} / {a['notifier_rss_mb']['peak']}",
            f"{b['notifier_rss_mb']['after_connect']} / {b['notifier_rss_mb']['peak']}",
        ),
        (
            "notifier CPU us per frame sent",
            f"{a['notifier_cpu_us_per_frame']} ({a['frames_per_core_second']} frames/core-s)",
            f"{b['notifier_cpu_us_per_frame']} ({b['frames_per_core_second']} frames/core-s)",
        ),
        ("client CPU s", str(a["client_cpu_s"]), str(b["client_cpu_s"])),
        (
            "Postgres transactions (publish + drain)",
            str(a["postgres_transactions_while_publishing"]),
            str(b["postgres_transactions_while_publishing"]),
        ),
        (
            "catch-up requests / reads / notifications skipped",
            catchup_cell(a),
            catchup_cell(b),
        ),
        ("other frames", str(a["other_frames"]), str(b["other_frames"])),
        (
            "closed before done / after",
            f"{a['early_closes_by_code']} / {a['closed_after_their_end']}",
            f"{b['early_closes_by_code']} / {b['closed_after_their_end']}",
        ),
    ]
    width = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = [" | ".join(cell.ljust(width[i]) for i, cell in enumerate(r)) for r in rows]
    lines.insert(1, "-+-".join("-" * w for w in width))
    for key, p in (("(a)", a), ("(b)", b)):
        lines += ["", f"{key} latency p50 / p99 by publish time:"]
        lines += [f"  {row}" for row in p["latency_ms_by_publish_window"]]
    lines += [
        "",
        f"(a) {loss(a)}",
        f"(b) {loss(b)}",
        "",
        "targets:",
        f"  (a) p99 < {TARGET_LATENCY_P99_MS:g} ms: {a['latency_ms']['p99']} ms "
        f"{mark(a['latency_ms']['p99'] < TARGET_LATENCY_P99_MS)}",
        f"  (b) no loss: {mark(_clean(b))}",
        f"  (b) p99 < {TARGET_FANOUT_P99_MS:g} ms: {b['latency_ms']['p99']} ms "
        f"{mark(b['latency_ms']['p99'] < TARGET_FANOUT_P99_MS)}",
        f"  (b) notifier RSS < 1 GB: {b['notifier_rss_mb']['peak']} MB "
        f"{mark(b['notifier_rss_mb']['peak'] * MB < TARGET_RSS_BYTES)}",
    ]
    return "\n".join(lines)


def _clean(p: dict[str, Any]) -> bool:
    """Every client got every event of its job, once, in order."""
    return bool(
        p["connect_failures"] == 0
        and p["lost"] == 0
        and p["duplicates"] == 0
        and p["out_of_order"] == 0
        and p["subscriptions_completed"] == p["connections"]
        and p["event_frames"] == p["deliveries_expected"]
    )


def machine() -> dict[str, Any]:
    return {
        "cores": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 1e9, 1),
        "load_avg_at_start": [round(v, 2) for v in os.getloadavg()],
        "python": platform.python_version(),
        "websockets": version("websockets"),
        "aiokafka": version("aiokafka"),
    }


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1,000 events, 500 connections")
    parser.add_argument("--events", type=int, default=10_000, help="(a) events published")
    parser.add_argument("--latency-jobs", type=int, default=20)
    parser.add_argument("--latency-clients", type=int, default=4)
    parser.add_argument("--latency-rate", type=float, default=250.0, help="(a) events/s")
    parser.add_argument("--connections", type=int, default=10_000, help="(b) connections")
    parser.add_argument("--jobs", type=int, default=100, help="(b) jobs")
    parser.add_argument("--fanout-slices", type=int, default=15, help="(b) slices per job")
    parser.add_argument(
        "--fanout-rate",
        type=float,
        default=40.0,
        help="(b) events/s over all jobs; 40 is about what the compressor encodes on 2 cores",
    )
    parser.add_argument("--client-processes", type=int, default=2)
    parser.add_argument("--batch", type=int, default=100, help="connections opened at once")
    parser.add_argument("--grace", type=float, default=60.0, help="s to wait for stragglers")
    parser.add_argument("--no-deflate", action="store_true", help="clients refuse compression")
    parser.add_argument(
        "--notifier-rev",
        help="measure the notifier as of this git revision (default: the working tree)",
    )
    parser.add_argument(
        "--notifier-compression",
        choices=("none", "deflate"),
        help="the notifier's NOTIFIER_COMPRESSION (default: the notifier's own default)",
    )
    args = parser.parse_args()
    if args.quick:
        args.events, args.latency_jobs, args.connections = 1000, 4, 500
        args.fanout_slices, args.grace = 10, 30.0
    return args


def main() -> None:
    args = parse_args()
    raise_fd_limit()
    results: dict[str, Any] = {"args": vars(args), "machine": machine()}
    workdir = Path(tempfile.mkdtemp(prefix="dicompress-bench-notifier-"))
    print(f"starting backends, progress and notifier (logs in {workdir})", flush=True)
    try:
        with notifier_stack(workdir, args.notifier_rev, args.notifier_compression) as (
            config,
            url,
            pid,
            secret,
        ):
            token = issue_token(secret, TENANT, AUDIENCE)
            topics = Topics(prefix=config.topic_prefix)
            for key, phase in (("latency", latency_phase(args)), ("fanout", fanout_phase(args))):
                results[key] = run_phase(phase, url, token, config, topics, pid)
        failed = False
    except BaseException:
        failed = True
        raise
    finally:
        if failed:
            print(f"failed; the services' logs are kept in {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    results["machine"]["load_avg_at_end"] = [round(v, 2) for v in os.getloadavg()]
    print(render(results))
    name = "notifier" + ("-quick" if args.quick else "") + ("-nodeflate" if args.no_deflate else "")
    if args.notifier_compression is not None:
        name += f"-server-{args.notifier_compression}"
    out = RESULTS / f"{name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwritten to {out}")


if __name__ == "__main__":
    main()
