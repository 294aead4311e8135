"""One study across workers (issue 18 item 3; docs/SCHEDULING.md): how one study's wall time
changes from 1 to 2 compressors of one encoder core each, and a model of 10 and 100.

ONE 399-slice 512x512 12-bit CT study (`synthetic_ct`, seed 0) compressed to lossy JPEG 2000 at
rate 10 through the API of the whole embedded stack (`bench_stack`: free ports, a temp data
dir), `POST /jobs {s3SourceUri, compressionRate: 10, priority: batch}` (a script's whole study:
the batch lane), in three configurations, each on a fresh stack whose compressors have
COMPRESSOR_PROCESSES=1:

  a) 1 compressor, splitting off (COMPRESSOR_SPLIT_SLICES=0): today's path, the baseline;
  b) 1 compressor, splitting on (128 / ranges of 32, the defaults) and forced while it is
     alone in its tasks group (COMPRESSOR_SPLIT_ALONE, which the service never does by
     itself): the tasks path's cost;
  c) 2 compressors, splitting on: one core each.

Each stack first runs one warm-up job (the study's first 128 slices: spread in b and c), then
`--repeat` timed jobs. For each: the API's 202 to the terminal status (`GET /jobs/{id}` every
0.1 s), requestedAt to finishedAt by the job's events, the job's own wallMs, its parts (fixed,
encode, assembly: `split/job.py`), and which worker made each range (the task markers in S3).
Then the model wall(W) = fixed + N x t_slice / W + assembly is fitted on b, checked against c,
and asked for 10 and 100 workers (`split/model.py`).

    python3 -m uv run --frozen python -m bench.bench_split                 # ~5 min
    python3 -m uv run --frozen python -m bench.bench_split --quick         # 40 slices, ~3 min

`--quick` is a smoke check: 40 slices, spread from 16 in ranges of 8, one run each. Writes
bench/results/split-<UTC date-time>.md. Figures only, no asserts.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench.bench_concurrency import RATE_LIMIT_ENV
from bench.bench_products import (
    describe_machine,
    load_average,
    other_test_runs,
    others_seen,
    shown_command,
    write_result,
)
from bench.paths import RESULTS, classpath_cache
from bench.split.job import JobRun, put_study, run_job
from bench.split.model import fit
from bench.split.report import medians_table, model_section, runs_table, timelines
from bench.split.stack import split_stack

from dicompress_stack.stack import raise_interrupt
from dicompress_stack.synthetic_ct import write_series


@dataclass(frozen=True)
class Config:
    key: str
    label: str
    compressors: int
    split: bool


CONFIGS = (
    Config("a", "a) 1 compressor, splitting off", 1, False),
    Config("b", "b) 1 compressor, splitting on", 1, True),
    Config("c", "c) 2 compressors, splitting on", 2, True),
)


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--slices", type=int, default=399)
    parser.add_argument("--rate", type=float, default=10.0, help="compressionRate of the jobs")
    parser.add_argument("--repeat", type=int, default=None, help="timed jobs per configuration")
    parser.add_argument("--split-slices", type=int, default=128, help="COMPRESSOR_SPLIT_SLICES")
    parser.add_argument("--task-slices", type=int, default=32, help="COMPRESSOR_TASK_SLICES")
    parser.add_argument("--configs", nargs="+", choices=[c.key for c in CONFIGS], default=None)
    parser.add_argument("--quick", action="store_true", help="40 slices, ranges of 8, 1 run")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per job")
    parser.add_argument("--results", type=Path, default=RESULTS, help="where the .md goes")
    parser.add_argument("--note", default="", help="a sentence for the results file")
    args = parser.parse_args(argv)
    if args.quick:
        args.slices, args.split_slices, args.task_slices = 40, 16, 8
    if args.repeat is None:
        args.repeat = 1 if args.quick else 2
    args.configs = [c for c in CONFIGS if args.configs is None or c.key in args.configs]
    return args


def config_env(config: Config, args: argparse.Namespace) -> dict[str, str]:
    return {
        **RATE_LIMIT_ENV,  # 10 polls a second of one tenant, with the markers' reads beside
        "COMPRESSOR_PROCESSES": "1",
        "COMPRESSOR_SPLIT_SLICES": str(args.split_slices if config.split else 0),
        "COMPRESSOR_TASK_SLICES": str(args.task_slices),
        # b's one compressor would not spread by itself: nobody else could take a range
        "COMPRESSOR_SPLIT_ALONE": str(config.split and config.compressors == 1).lower(),
    }


@dataclass(frozen=True)
class ConfigRuns:
    config: Config
    warmup: JobRun
    runs: list[JobRun]
    log_errors: list[str]


def run_config(config: Config, args: argparse.Namespace, files: list[Path]) -> ConfigRuns:
    """A fresh stack in `config`: a warm-up job, then `--repeat` timed ones."""
    began = time.perf_counter()
    cache = classpath_cache()
    with split_stack(config.compressors, config_env(config, args), cache) as split:
        log(f"{config.label}: stack up in {time.perf_counter() - began:.0f} s")
        source = put_study(split, files, "study")
        warm = put_study(split, files[: args.split_slices], "warmup")
        warmed = asyncio.run(run_job(split, warm, args.rate, config.label, 0, args.timeout))
        log(f"  warm-up: {warmed.slices} slices in {warmed.client_s:.1f} s, {warmed.status}")
        runs = []
        for number in range(1, args.repeat + 1):
            time.sleep(2.0)  # the last job's stragglers (projection, logs) out of the way
            run = asyncio.run(
                run_job(split, source, args.rate, config.label, number, args.timeout, True)
            )
            runs.append(run)
            log(
                f"  run {number}: {run.status}, 202 -> terminal {run.client_s:.2f} s, events "
                f"{run.events_s or 0:.2f} s, fixed {run.fixed_s or 0:.2f} encode "
                f"{run.encode_s or 0:.2f} tail {run.tail_s or 0:.2f}; owner {run.owner}; "
                f"ranges {run.ranges or 'none'}; load {run.load}"
            )
        errors = split.log_errors()
    return ConfigRuns(config, warmed, runs, errors)


def notes(results: list[ConfigRuns]) -> list[str]:
    """What else happened: warm-ups, jobs not spread (or spread when they should not be),
    answers other than 200, jobs not completed, errors in the services' logs."""
    found = []
    for result in results:
        c, label = result.config, result.config.label
        w = result.warmup
        found.append(
            f"{label}: warm-up job ({w.slices} slices) {w.status} in {w.client_s:.2f} s, "
            f"{'spread in ' + str(w.range_count()) + ' ranges' if w.spread else 'not spread'}"
        )
        for run in result.runs:
            if run.spread != c.split:
                found.append(f"{label} run {run.number}: spread = {run.spread}, expected {c.split}")
            if run.status != "completed":
                found.append(f"{label} run {run.number}: {run.status}")
            other = {code: n for code, n in run.poll_statuses.items() if code != 200}
            if other:
                found.append(f"{label} run {run.number}: GET /jobs/{{id}} answered {other}")
        shown = result.log_errors[:5]
        found.append(
            f"{label}: {len(result.log_errors)} ERROR lines in the services' logs"
            + ("" if not shown else ": " + " / ".join(f"`{line}`" for line in shown))
        )
    return found


def render(args: argparse.Namespace, results: list[ConfigRuns], head: list[str]) -> tuple[str, str]:
    """The results file, and what to print."""
    by_label = {r.config.label: r.runs for r in results}
    runs = [run for r in results for run in r.runs]
    body = [
        "## Runs",
        "",
        *runs_table(runs),
        "",
        "fixed: requestedAt -> JobStarted; encode: JobStarted -> the last range's marker seen "
        "(listed every 0.1 s: up to 0.1 s late, so a tail can come out slightly negative) or, "
        "not spread, the last SliceEncoded; assembly (tail): that -> finishedAt. Seconds. "
        "Encoder ms/slice: the job's encodeMs / slices (the encoder's own time, every worker's). "
        "CPU-s: each process tree of the stack (a compressor with its encoder pool) during the "
        "job; stack: every service with Kafka, Postgres and S3Proxy.",
        "",
        "Spread runs, each range's first index, who made it and when its marker was seen "
        "(s from JobStarted):",
        "",
        *timelines(runs),
        "",
        "## Medians",
        "",
        *medians_table(by_label),
        "",
    ]
    one = [r for r in results if r.config.key == "b"]
    two = [r for r in results if r.config.key == "c"]
    if one and one[0].runs:
        model = fit(one[0].runs, args.task_slices)
        checked = model_section(model, two[0].runs if two else [], os.cpu_count() or 1)
        body += ["## Model", "", *checked, ""]
    body += ["## Notes", "", *(f"- {line}" for line in notes(results))]
    printed = "\n".join(body[: body.index("## Notes")])
    return "\n".join(head + body), printed


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, raise_interrupt)  # stop the stack on SIGTERM as on Ctrl-C
    began = datetime.now(UTC)
    load = load_average()
    machine, others = describe_machine(load), other_test_runs()
    log(f"load average {load}; other test runs: {len(others)}")
    results = []
    with tempfile.TemporaryDirectory(prefix="dicompress-bench-split-") as tmp:
        files = write_series(Path(tmp) / "study", args.slices)
        size = sum(f.stat().st_size for f in files)
        log(f"study written: {len(files)} files, {size / 1e6:.0f} MB")
        for config in args.configs:
            results.append(run_config(config, args, files))
    command = shown_command("bench.bench_split", argv)
    head = [
        f"# One study across workers, {began:%Y-%m-%d %H:%M} UTC",
        "",
        f"Issue 18 item 3: ONE {args.slices}-slice 512x512 12-bit CT study (`synthetic_ct`, "
        f"seed 0), lossy JPEG 2000 at rate {args.rate:g}, `POST /jobs` with priority batch on "
        f"the whole embedded stack, a fresh stack per configuration, each compressor with "
        f"COMPRESSOR_PROCESSES=1; spread jobs: from {args.split_slices} slices, in ranges of "
        f"{args.task_slices}. Command: `{command}`.",
        "",
        machine,
        f"Load average (1, 5, 15 min) at the start: {load}; at the end: {load_average()}.",
        others_seen(others) + ".",
        "",
    ]
    if args.note:
        head += [args.note, ""]
    text, printed = render(args, results, head)
    print(printed, flush=True)
    quick = "-quick" if args.quick else ""
    write_result(args.results, f"split-{began:%Y%m%d-%H%M}{quick}.md", text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
