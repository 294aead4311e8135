"""The design documents' two ways, 10 jobs at once on files on disk: gdcmconv one process per
file (every file of every job started at once, as a shell loop with `&` does), and dcmjs-codecs
one node process per job (bench/node/encode.js, its files one after another).

Each job is one process tree started in its own session, so the memory guard can kill a job with
everything it started (`killpg`). CPU seconds are the bench's RUSAGE_CHILDREN before and after:
every process a job started is waited for by its parent, so its time is counted exactly, even
for processes that lived 50 ms between two samples.
"""

from __future__ import annotations

import contextlib
import math
import os
import resource
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.compare.tools import DCMJS_SCRIPT
from bench.concurrency.sampler import Sampler
from bench.concurrency.stats import Contender

# Debian's binary by its path: inside the venv, `gdcmconv` on PATH is python-gdcm's wrapper, a
# Python process per file that starts the wheel's own binary as its child (two processes each)
DEBIAN_GDCMCONV = "/usr/bin/gdcmconv"
GDCMCONV = [DEBIAN_GDCMCONV, "--j2k", "--lossy", "--irreversible"]
# one job: every file its own gdcmconv, all started at once, then wait for them all
ALL_AT_ONCE = 'out=$1; rate=$2; shift 2; for f in "$@"; do {gdcmconv} -r "$rate" "$f" "$out/${{f##*/}}" & done; wait'.format(  # noqa: E501 (one shell line)
    gdcmconv=" ".join(GDCMCONV)
)


def gdcmconv_missing() -> str | None:
    """Why Debian's gdcmconv cannot run here, or None."""
    if not os.access(DEBIAN_GDCMCONV, os.X_OK):
        return f"{DEBIAN_GDCMCONV} not found: apt-get install -y libgdcm-tools (as root)"
    return None


@dataclass(frozen=True)
class Job:
    """A job's command, where its outputs go, and what its stdin carries (xargs' pairs)."""

    argv: list[str]
    out_dir: Path
    stdin: bytes = b""


def gdcmconv_all_at_once(files: Sequence[Path], out_dir: Path, rate: float) -> Job:
    """`for f in files; do gdcmconv ... & done; wait`: as many processes as files, at once."""
    argv = ["bash", "-c", ALL_AT_ONCE, "gdcmconv-job", str(out_dir), f"{rate:g}"]
    return Job([*argv, *map(str, files)], out_dir)


def gdcmconv_capped(files: Sequence[Path], out_dir: Path, rate: float, at_once: int) -> Job:
    """xargs -P: at most `at_once` gdcmconv of this job alive, one per file."""
    pairs = b"".join(f"{path}\0{out_dir / path.name}\0".encode() for path in files)
    argv = ["xargs", "-0", "-n", "2", "-P", str(at_once), *GDCMCONV, "-r", f"{rate:g}"]
    return Job(argv, out_dir, pairs)


def dcmjs_job(files: Sequence[Path], out_dir: Path, rate: float) -> Job:
    """One node process transcoding the job's files one after another."""
    return Job(["node", str(DCMJS_SCRIPT), f"{rate:g}", str(out_dir), *map(str, files)], out_dir)


def _outputs(out_dir: Path) -> int:
    return sum(1 for entry in os.scandir(out_dir) if entry.stat().st_size > 0)


def _watch_first(out_dir: Path, started: float, stop: threading.Event, found: list[float]) -> None:
    """Append the seconds until `out_dir` holds its first file (polled every 5 ms)."""
    while not stop.is_set():
        with os.scandir(out_dir) as entries:
            if any(True for _ in entries):
                found.append(time.perf_counter() - started)
                return
        time.sleep(0.005)


WATCHDOG = Path(__file__).with_name("watchdog.py")


@dataclass(frozen=True)
class Guarded:
    """What the watchdog saw: the lowest MemAvailable, and when (unix time) it killed, if it did."""

    lowest_available: int
    tripped_at: float | None
    available_at_trip: int
    scheduling: str


def _start_watchdog(floor_bytes: int) -> tuple[subprocess.Popen[str], str]:
    watchdog = subprocess.Popen(
        [sys.executable, str(WATCHDOG), str(floor_bytes)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    ready = watchdog.stdout.readline().split(maxsplit=1) if watchdog.stdout else []
    if not ready or ready[0] != "ready":
        watchdog.kill()
        raise RuntimeError(f"the memory watchdog did not start: {ready}")
    return watchdog, ready[1].strip()


def _stop_watchdog(watchdog: subprocess.Popen[str], scheduling: str) -> Guarded:
    out, _ = watchdog.communicate(timeout=30)  # closes its stdin: EOF ends its loop
    words = out.split()
    tripped = float(words[3])
    return Guarded(int(words[1]), tripped or None, int(words[5]), scheduling)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_jobs(
    name: str,
    jobs: Sequence[Job],
    slices_per_job: int,
    floor_bytes: int,
    timeout_s: float,
    log_dir: Path,
) -> Contender:
    """Start every job at once, wait for all (or the watchdog, or the timeout), and measure."""
    log_dir.mkdir(parents=True, exist_ok=True)
    for job in jobs:
        job.out_dir.mkdir(parents=True, exist_ok=True)
    notes: list[str] = []
    watchdog, scheduling = _start_watchdog(floor_bytes)
    cpu_before, self_before = _children_cpu(), _self_cpu()
    processes: list[subprocess.Popen[bytes]] = []
    first: list[float] = []
    stop_watch = threading.Event()
    started = time.perf_counter()
    started_wall = time.time()
    watcher = threading.Thread(
        target=_watch_first, args=(jobs[-1].out_dir, started, stop_watch, first), daemon=True
    )
    watcher.start()
    with Sampler(lambda: [p.pid for p in processes]) as sampler:
        for number, job in enumerate(jobs):
            with (log_dir / f"job-{number + 1}.log").open("wb") as log:
                processes.append(
                    subprocess.Popen(
                        job.argv,
                        stdin=subprocess.PIPE,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,  # its own process group, for the watchdog
                    )
                )
        if watchdog.stdin is not None:  # always, with stdin=PIPE
            watchdog.stdin.write(" ".join(str(p.pid) for p in processes) + "\n")
            watchdog.stdin.flush()
        for process, job in zip(processes, jobs, strict=True):
            if process.stdin is not None:
                process.stdin.write(job.stdin)
                process.stdin.close()
        ended: list[float | None] = [None] * len(jobs)
        codes: list[int | None] = [None] * len(jobs)
        deadline = started + timeout_s
        while any(code is None for code in codes):
            for index, process in enumerate(processes):
                if codes[index] is None and (code := process.poll()) is not None:
                    codes[index] = code
                    ended[index] = time.perf_counter() - started
            if time.perf_counter() > deadline:
                notes.append(f"timed out after {timeout_s:.0f} s: killed")
                for process in processes:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(process.pid, signal.SIGKILL)
                deadline = math.inf
            time.sleep(0.01)
        total = time.perf_counter() - started
    cpu = _children_cpu() - cpu_before  # every job reaped; the watchdog not yet
    stop_watch.set()
    watcher.join()
    guarded = _stop_watchdog(watchdog, scheduling)
    done = [_outputs(job.out_dir) for job in jobs]
    job_done: list[float | None] = [
        seconds if code == 0 and count >= slices_per_job else None
        for seconds, code, count in zip(ended, codes, done, strict=True)
    ]
    cpu_lower_bound = False
    if guarded.tripped_at is not None:
        # the jobs' shells died with their children unreaped: RUSAGE_CHILDREN never sees them
        cpu, cpu_lower_bound = max(cpu, sampler.sampled_cpu_s), True
        notes.append(
            f"STOPPED BY THE MEMORY GUARD after {guarded.tripped_at - started_wall:.1f} s: "
            f"MemAvailable {guarded.available_at_trip / 1e9:.1f} GB, under the floor of "
            f"{floor_bytes / 1e9:.1f} GB; every job's process group killed ({sum(done)} of "
            f"{len(jobs) * slices_per_job} slices written by then). CPU-seconds: the processes' "
            "own time as last sampled, a lower bound"
        )
    notes.append(
        f"memory guard: watchdog.py ({guarded.scheduling}), MemAvailable checked every 20 ms, "
        f"floor {floor_bytes / 1e9:.1f} GB; lowest MemAvailable seen "
        f"{min(guarded.lowest_available, sampler.lowest_available) / 1e9:.1f} GB"
    )
    failed = [i + 1 for i, code in enumerate(codes) if code not in (0, -signal.SIGKILL)]
    if failed:
        notes.append(f"jobs {failed} exited non-zero (logs in {log_dir})")
    sizes = [e.stat().st_size for job in jobs for e in os.scandir(job.out_dir)]
    if sizes:
        notes.append(f"outputs: {len(sizes)} files, mean {sum(sizes) / len(sizes) / 1e3:.1f} kB")
    forks = _fork_failures(log_dir)
    if forks:
        notes.append(f"{forks} 'fork' failures in the jobs' logs")
    notes.append(
        f"{sampler.samples} samples; the sampler itself used {sampler.sampler_cpu_s:.1f} CPU-s"
    )
    lowest = min(guarded.lowest_available, sampler.lowest_available)
    return Contender(
        name=name,
        jobs=len(jobs),
        slices_per_job=slices_per_job,
        total_s=total,
        job_done_s=job_done,
        first_slice_last_job_s=first[0] if first else None,
        idle_processes=0,
        peak_processes=sampler.peak_processes,
        idle_rss_bytes=0,
        peak_rss_bytes=sampler.peak_rss_bytes,
        peak_memory_taken_bytes=max(0, sampler.available_at_start - lowest),
        cpu_s=cpu,
        slices_done=sum(done),
        notes=notes,
        cpu_lower_bound=cpu_lower_bound,
        machine_busy_s=sampler.machine_busy_s,
        bench_cpu_s=_self_cpu() - self_before,
    )


def _fork_failures(log_dir: Path) -> int:
    return sum(
        log.read_text(errors="replace").count("fork") for log in sorted(log_dir.glob("*.log"))
    )
