"""The design documents' concurrency test, side by side (issue 18 items 1 and 4): 10 jobs of the
same 399-slice 512x512 CT study at once, lossy JPEG 2000, on this machine in one run:

1. ours: the jobs submitted at once through the API of the whole embedded stack (`bench_stack`,
   free ports, temp data dir), the study in S3, on the batch lane (`"priority": "batch"`);
   `GET /jobs/{id}` of every job polled in a loop and `GET /queue` every second while they run.
   Once the first has started, ONE interactive job of another tenant (the same study, copied
   under that tenant's prefix) is sent behind them: how long after it was queued it started
   and ended, beside what the batch's last-submitted job waited (`--no-probe`: without it);
2. gdcmconv, one process per file, every file of every job started at once (3,990 processes,
   as the documents ran it), under a memory guard: MemAvailable under `--memory-floor-gb` kills
   every job's process group, and the run is reported as stopped. If it was stopped, gdcmconv
   runs again with at most `--gdcm-cap` processes per job (xargs -P), so it has figures too;
3. dcmjs-codecs, one node process per job (bench/node/encode.js), the 10 started at once.

For each: total time, each job's completion (first, median, last), the time to the first slice
of the last-submitted job, peak process count, peak memory (summed RSS, and the fall of the
machine's MemAvailable), CPU-seconds per study; ours adds the API's read p99, the interactive
job's wait, and the queue positions and ETAs of each lane against the actual starts and
finishes. The stack is stopped before the tools run.

    .venv/bin/python -m bench.bench_concurrency                # ~10-15 min on 2 cores
    .venv/bin/python -m bench.bench_concurrency --quick        # 3 jobs x 40 slices, ~2 min
    .venv/bin/python -m bench.bench_concurrency --tools ours   # ours alone, ~5 min
    .venv/bin/python -m bench.bench_concurrency --quick --tools ours --note "load 0.8; ..."

`--tools` picks any of ours, gdcmconv, dcmjs (the gdcmconv run starts thousands of processes
and loads the machine for minutes: leave it out while others work on it).

The tools are checked first; as root with apt-get, a missing gdcmconv is installed from Debian
(libgdcm-tools), and a missing dcmjs-codecs by `npm ci --prefix bench/node`; whatever is still
missing is said in the result. Writes bench/results/concurrency-<UTC date-time>.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.bench_products import (
    describe_machine,
    other_test_runs,
    others_seen,
    shown_command,
    write_result,
)
from bench.compare.environment import _command, _dcmjs_version
from bench.compare.tools import NODE_DIR, dcmjs_missing
from bench.concurrency.ours import OursRun, put_series, run_ours
from bench.concurrency.probe import copy_series
from bench.concurrency.report import Skipped, render
from bench.concurrency.sampler import mem_available
from bench.concurrency.stats import Contender, render_table
from bench.concurrency.tools import (
    ALL_AT_ONCE,
    DEBIAN_GDCMCONV,
    dcmjs_job,
    gdcmconv_all_at_once,
    gdcmconv_capped,
    gdcmconv_missing,
    run_jobs,
)
from bench.ingest.stack import bench_stack
from bench.paths import RESULTS, classpath_cache

from dicompress_schemas import Codec
from dicompress_stack.stack import raise_interrupt
from dicompress_stack.synthetic_ct import write_series

TOOLS = ("ours", "gdcmconv", "dcmjs")
# the client polls every job's GET /jobs/{id} in a loop: over the API's default 20/s per tenant
RATE_LIMIT_ENV = {"API_RATE_LIMIT_PER_S": "1000", "API_RATE_LIMIT_BURST": "1000"}
GB = 1e9


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def load_average() -> str:
    return ", ".join(f"{value:.2f}" for value in os.getloadavg())


def settle(max_s: float = 90.0) -> None:
    """Wait until the machine's MemAvailable stops rising (within 50 MB over 2 s): after the
    gdcmconv bomb is killed its ~2,600 processes take seconds to exit and give their memory
    back, and the next contender's memory figure is a fall from where it starts."""
    deadline = time.monotonic() + max_s
    before = mem_available()
    while time.monotonic() < deadline:
        time.sleep(2.0)
        now = mem_available()
        if now - before < 50e6:
            return
        before = now


def ensure_gdcmconv() -> str | None:
    """Install Debian's libgdcm-tools when missing and allowed (root, apt-get); why not, or None."""
    if gdcmconv_missing() is None:
        return None
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        return f"{gdcmconv_missing()} (as root; not root here, or no apt-get)"
    log("gdcmconv missing: apt-get install -y libgdcm-tools")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for argv in (
        ["apt-get", "update", "-qq"],
        ["apt-get", "install", "-y", "-qq", "libgdcm-tools"],
    ):
        done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            return f"`{' '.join(argv)}` failed: {done.stderr.strip()[-300:]}"
    return gdcmconv_missing()


def ensure_dcmjs() -> str | None:
    """`npm ci --prefix bench/node` when dcmjs-codecs is missing; why it cannot run, or None."""
    if dcmjs_missing() is None:
        return None
    if shutil.which("node") is not None and shutil.which("npm") is not None:
        log(f"dcmjs-codecs missing: npm ci --prefix {NODE_DIR}")
        done = subprocess.run(
            ["npm", "ci", "--prefix", str(NODE_DIR)], capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            return f"`npm ci --prefix {NODE_DIR}` failed: {done.stderr.strip()[-300:]}"
    return dcmjs_missing()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--jobs", type=int, default=10, help="studies at once")
    parser.add_argument("--slices", type=int, default=399, help="slices per study")
    parser.add_argument(
        "--rate", type=float, default=100, help="compression rate of all three (API's default)"
    )
    parser.add_argument("--quick", action="store_true", help="3 jobs x 40 slices, a smoke check")
    parser.add_argument("--tools", nargs="+", choices=TOOLS, default=list(TOOLS))
    parser.add_argument(
        "--gdcm-cap",
        type=int,
        default=40,
        help="gdcmconv per job at once for the second run, if the all-at-once one was stopped",
    )
    parser.add_argument(
        "--memory-floor-gb",
        type=float,
        default=6.0,
        help="the guard kills a tool's run when MemAvailable falls under this",
    )
    parser.add_argument(
        "--poll-pause", type=float, default=0.5, help="seconds between rounds of GET /jobs/{id}"
    )
    parser.add_argument("--no-warmup", action="store_true", help="no warm-up job before ours")
    parser.add_argument(
        "--no-probe",
        action="store_true",
        help="no interactive job of another tenant behind ours' batch",
    )
    parser.add_argument(
        "--also-codecs",
        nargs="+",
        default=[],
        # lossy only: every POST gives a compression rate
        choices=[c.value for c in Codec if not c.lossless and c != Codec.J2K_LOSSY],
        help="after ours' burst in the API's default codec, one more burst on the same stack "
        "in each of these (no probe): what another codec would change",
    )
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds per contender")
    parser.add_argument("--results", type=Path, default=RESULTS, help="where the .md goes")
    parser.add_argument("--note", default="", help="a sentence for the results file")
    args = parser.parse_args(argv)
    if args.quick:
        args.jobs, args.slices = 3, 40
    return args


def run_ours_on_stack(args: argparse.Namespace, files: list[Path]) -> tuple[OursRun, list[OursRun]]:
    """Ours' burst in the API's default codec, then one per `--also-codecs`, on one stack."""
    for name, value in RATE_LIMIT_ENV.items():
        os.environ.setdefault(name, value)
    started = time.perf_counter()
    with bench_stack(classpath_cache()) as stack:
        log(f"stack up in {time.perf_counter() - started:.0f} s; putting the study into S3")
        source = put_series(stack, files)
        # the probe's tenant may only read under its own prefix: a copy, made before the burst
        probe_source = None if args.no_probe else copy_series(stack, source)

        def burst(codec: str | None, probe: str | None) -> OursRun:
            what = codec or "the API's default"
            log(f"ours: {args.jobs} jobs at once in {what} (load {load_average()})")
            return asyncio.run(
                run_ours(
                    stack,
                    source,
                    args.jobs,
                    args.slices,
                    args.rate,
                    not args.no_warmup,
                    args.poll_pause,
                    args.timeout,
                    probe,
                    codec,
                )
            )

        main = burst(None, probe_source)
        return main, [burst(codec, None) for codec in args.also_codecs]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, raise_interrupt)  # stop the stack on SIGTERM as on Ctrl-C
    began = datetime.now(UTC)
    load = load_average()
    machine = describe_machine(load)
    others = other_test_runs()
    log(f"load average {load}; other test runs: {len(others)}")
    floor = int(args.memory_floor_gb * GB)
    contenders: list[Contender] = []
    skipped: list[Skipped] = []
    commands: dict[str, str] = {}
    loads = [f"start {load}"]
    ours: OursRun | None = None
    with tempfile.TemporaryDirectory(prefix="dicompress-bench-concurrency-") as tmp:
        work = Path(tmp)
        files = write_series(work / "study", args.slices)
        size = sum(f.stat().st_size for f in files)
        log(f"study written: {len(files)} files, {size / 1e6:.0f} MB")
        if "ours" in args.tools:
            ours, others_codecs = run_ours_on_stack(args, files)
            contenders.append(ours.contender)
            for codec, extra in zip(args.also_codecs, others_codecs, strict=True):
                contenders.append(extra.contender)
                commands[extra.contender.name] = (
                    f"the same burst once more on the same stack, `codec: {codec}` in each "
                    "POST, no probe"
                )
            commands[ours.contender.name] = (
                f"{args.jobs} x `POST /jobs {{s3SourceUri: <the study>, compressionRate: "
                f"{args.rate:g}, priority: batch}}` at once (codec: the API's default, "
                "j2k-lossy)"
                + (
                    ""
                    if args.no_probe
                    else "; once the first had started, 1 x `POST /jobs {s3SourceUri: <the same "
                    "study under another tenant's prefix>, priority: interactive}` with that "
                    "tenant's token"
                )
            )
            loads.append(f"after ours {load_average()}")
            log(f"ours done (load {load_average()})")
        if "gdcmconv" in args.tools:
            why = ensure_gdcmconv()
            if why is not None:
                skipped.append(Skipped("gdcmconv", why))
            else:
                name = "gdcmconv, all at once"
                log(f"{name}: {args.jobs} x {args.slices} processes (load {load_average()})")
                jobs = [
                    gdcmconv_all_at_once(files, work / "gdcm" / f"job-{n}", args.rate)
                    for n in range(1, args.jobs + 1)
                ]
                result = run_jobs(name, jobs, args.slices, floor, args.timeout, work / "gdcm-logs")
                contenders.append(result)
                commands[name] = (
                    f"{args.jobs} x `bash -c {shlex.quote(ALL_AT_ONCE)} job OUT_DIR "
                    f"{args.rate:g} FILE...` started at once"
                )
                loads.append(f"after gdcmconv {load_average()}")
                if result.slices_done < args.jobs * args.slices:
                    settle()
                    name = f"gdcmconv, {args.gdcm_cap} per job at once"
                    log(f"{name} (load {load_average()})")
                    capped = [
                        gdcmconv_capped(
                            files, work / "gdcm-cap" / f"job-{n}", args.rate, args.gdcm_cap
                        )
                        for n in range(1, args.jobs + 1)
                    ]
                    contenders.append(
                        run_jobs(name, capped, args.slices, floor, args.timeout, work / "cap-logs")
                    )
                    commands[name] = (
                        f"{args.jobs} x `xargs -0 -n 2 -P {args.gdcm_cap} {DEBIAN_GDCMCONV} "
                        f"--j2k --lossy --irreversible -r {args.rate:g}` (stdin: input, output "
                        "pairs) at once"
                    )
                    loads.append(f"after capped gdcmconv {load_average()}")
        if "dcmjs" in args.tools:
            why = ensure_dcmjs()
            if why is not None:
                skipped.append(Skipped("dcmjs-codecs", why))
            else:
                settle()
                name = "dcmjs-codecs, a node process per job"
                log(f"{name} (load {load_average()})")
                jobs = [
                    dcmjs_job(files, work / "dcmjs" / f"job-{n}", args.rate)
                    for n in range(1, args.jobs + 1)
                ]
                contenders.append(
                    run_jobs(name, jobs, args.slices, floor, args.timeout, work / "dcmjs-logs")
                )
                commands[name] = (
                    f"{args.jobs} x `node bench/node/encode.js {args.rate:g} OUT_DIR FILE...` "
                    "started at once"
                )
                loads.append(f"after dcmjs-codecs {load_average()}")
    command = shown_command("bench.bench_concurrency", argv)
    head = [
        f"# Concurrency benchmark, {began:%Y-%m-%d %H:%M} UTC",
        "",
        f"The design documents' test (issue 18 item 1): {args.jobs} jobs of the same "
        f"{args.slices}-slice 512x512 12-bit CT study (`synthetic_ct`, seed 0) at once, lossy "
        f"JPEG 2000 at rate {args.rate:g} (gdcmconv's meaning: 16-bit pixel bytes / codestream "
        f"bytes; our API's default rate), on one machine in one run. Command: `{command}`.",
        "",
        machine,
        f"Tools: {_command([DEBIAN_GDCMCONV, '--version'])} (Debian's, by its path); "
        f"{_command(['node', '--version']).replace('v', 'node ', 1)}; {_dcmjs_version()}.",
        "",
        "Load average (1, 5, 15 min): " + "; ".join(loads) + ".",
        others_seen(others) + ".",
        "",
    ]
    if args.note:
        head += [args.note, ""]
    text = render(head, contenders, commands, skipped, ours)
    print(render_table(contenders), flush=True)
    quick = "-quick" if args.quick else ""
    write_result(args.results, f"concurrency-{began:%Y%m%d-%H%M}{quick}.md", text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
