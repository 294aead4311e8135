"""Fault benchmark (issue 7 item 5): the fault tests' scenarios on bigger jobs, timed.

On backends of its own (embedded Kafka, Postgres, S3 on free ports) with the four services as
processes (one compressor, `--processes` encoders), for each scenario: submit `--jobs` jobs of
a `--slices`-slice synthetic CT series, harm the stack once the first slices are out (SIGKILL
a compressor or the progress worker and start a new one; restart the broker on its log dir;
stop Postgres for 3 s; freeze S3 for 4 s), then wait until every job ends. A reference run
with no harm comes first. For each it records when the harm came, how long the part was away,
how soon events flowed again, how long until every job had ended, and the outcome the fault
tests assert: job statuses, ZIP entries and duplicates, projection == replay, the WebSocket
subscribers' terminal events.

With `--study`, then the study scenario (tests/faults/faults_study.py): a small study uploaded
while the ingest (mid-ingest), the products process manager (around the IngestCompleted) and the
renderer (mid-render) are each killed with SIGKILL and started again; it records when each
died, what the log held then, how long each was away, how long until every product had ended,
and the outcome the fault test asserts (ingest, study index, products and their items once,
projection == replay).

Prints markdown tables and writes everything to bench/results/faults.json.

    .venv/bin/python bench/bench_faults.py [--jobs 3] [--slices 60] [--processes 2]
        [--scenarios baseline compressor-kill9 ...] [--study]

The scenario code is the fault tests' own (tests/faults/faults_*.py). Needs Java and Maven for
the embedded Kafka, as `dicompress up`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.paths import CLASSPATH_CACHE, RESULTS, ROOT

from dicompress_stack.testing import restartable_backends

sys.path.insert(0, str(ROOT / "tests" / "faults"))

# the fault tests' harness, shared so the bench runs exactly what the tests assert on
from faults_rig import Rig, as_test_backends, service_env, upload_series  # type: ignore[import-not-found]
from faults_scenarios import SCENARIOS, run_fault  # type: ignore[import-not-found]
from faults_study import run_study_faults  # type: ignore[import-not-found]

RESULT = RESULTS / "faults.json"


def table(runs: list[dict[str, Any]]) -> str:
    lines = [
        "| scenario | harm | harm at (s) | part away (s) | next event (s) | all ended (s) "
        "| jobs completed | ZIPs whole, no duplicate | projection = replay | WS terminal |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for run in runs:
        jobs = run["outcome"]["jobs"]
        completed = sum(j["status"] == "completed" for j in jobs)
        whole = sum(
            j["zip_entries"] == run["slices"] and j["zip_intact"] and not j["zip_duplicates"]
            for j in jobs
        )
        terminal = sum(j["ws_terminal"] is not None for j in jobs)
        lines.append(
            f"| {run['scenario']} | {run['what']} | {run['harm_at_s']} | {run['harm_s']} "
            f"| {run['first_event_after_s']} | {run['all_ended_s']} | {completed}/{len(jobs)} "
            f"| {whole}/{len(jobs)} | {run['outcome']['replay_equal']} | {terminal}/{len(jobs)} |"
        )
    return "\n".join(lines)


def study_table(runs: list[dict[str, Any]]) -> str:
    """The study scenario: one row per kill, then the outcome of the run."""
    lines = [
        "| scenario | service killed | killed at (s) | the log held then | before it ended "
        "| away (s) | all ended (s) | ingest | study index whole | products completed "
        "| items once | projection = replay |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for run in runs:
        outcome = run["outcome"]
        products = outcome["products"]
        completed = sum(p["status"] == "completed" for p in products)
        once = sum(
            p["items_done"] == p["rows"] == p["distinct_keys"] == p["items_total"]
            and p["s3_objects"] in (None, p["items_total"])
            for p in products
        )
        index = outcome["index_found"] == outcome["index_expected"]
        for kill in run["kills"]:
            held = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in kill["held"].items())
            lines.append(
                f"| {run['scenario']} | {kill['role']} | {kill['at_s']} | {held} "
                f"| {kill['mid']} | {kill['away_s']} | {run['all_ended_s']} "
                f"| {outcome['ingest_status']} | {index} | {completed}/{len(products)} "
                f"| {once}/{len(products)} | {outcome['replay_equal']} |"
            )
    return "\n".join(lines)


async def run_all(
    rig: Rig, scenarios: list[str], jobs: int, study: bool
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    await rig.start_all()
    runs = []
    for scenario in scenarios:
        began = time.monotonic()
        run = await run_fault(rig, scenario, jobs, timeout_s=300)
        result: dict[str, Any] = run.as_dict()
        runs.append(result)
        verdict = "ok" if not result["problems"] else f"PROBLEMS: {result['problems']}"
        print(f"{scenario}: {time.monotonic() - began:.1f} s, {verdict}", flush=True)
    studies = []
    if study:
        began = time.monotonic()
        done = await run_study_faults(rig, rig.workdir / "study", timeout_s=300)
        result = done.as_dict()
        studies.append(result)
        verdict = "ok" if not result["problems"] else f"PROBLEMS: {result['problems']}"
        print(f"{done.scenario}: {time.monotonic() - began:.1f} s, {verdict}", flush=True)
    return runs, studies


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=3)
    parser.add_argument("--slices", type=int, default=60)
    parser.add_argument("--processes", type=int, default=2, help="encoder processes")
    parser.add_argument(
        "--scenarios",
        nargs="+",
        default=["baseline", *SCENARIOS],
        help="baseline and/or " + ", ".join(SCENARIOS),
    )
    parser.add_argument(
        "--study",
        action="store_true",
        help="then the study scenario: ingest, products manager and renderer killed mid-way",
    )
    parser.add_argument("--out", type=Path, default=RESULT)
    args = parser.parse_args()

    started = time.monotonic()
    with restartable_backends(CLASSPATH_CACHE, durable=True) as backends:
        env = service_env(as_test_backends(backends), compressor_processes=args.processes)
        env["LOG_LEVEL"] = "WARNING"
        upload_series(env, args.slices)
        workdir = Path(tempfile.mkdtemp(prefix="bench-faults-"))
        rig = Rig(backends, env, workdir, args.slices)
        try:
            runs, studies = asyncio.run(run_all(rig, args.scenarios, args.jobs, args.study))
        finally:
            rig.stop_all()
    print()
    print(table(runs))
    if studies:
        print()
        print(study_table(studies))
    report = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {
            "cpus": os.cpu_count(),
            "load_avg_at_end": os.getloadavg(),
            "python": platform.python_version(),
        },
        "parameters": {
            "jobs": args.jobs,
            "slices": args.slices,
            "encoder_processes": args.processes,
            "compressors": 1,
            "postgres": "durable (fsync on)",
        },
        "seconds": round(time.monotonic() - started, 1),
        "runs": runs,
        "table": table(runs),
        "study_runs": studies,
        "study_table": study_table(studies) if studies else None,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(f"\nwritten to {args.out}")
    problems = [p for run in [*runs, *studies] for p in run["problems"]]
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
