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

Prints a markdown table and writes everything to bench/results/faults.json.

    .venv/bin/python bench/bench_faults.py [--jobs 3] [--slices 60] [--processes 2]
        [--scenarios baseline compressor-kill9 ...]

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

from dicompress_stack.testing import restartable_backends

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "faults"))

# the fault tests' harness, shared so the bench runs exactly what the tests assert on
from faults_rig import Rig, as_test_backends, service_env, upload_series  # type: ignore[import-not-found]  # noqa: E402
from faults_scenarios import SCENARIOS, run_fault  # type: ignore[import-not-found]  # noqa: E402

CLASSPATH_CACHE = ROOT / ".pytest_cache/d/dicompress-kafka-classpath"
RESULT = ROOT / "bench/results/faults.json"


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


async def run_all(rig: Rig, scenarios: list[str], jobs: int) -> list[dict[str, Any]]:
    await rig.start_all()
    runs = []
    for scenario in scenarios:
        began = time.monotonic()
        run = await run_fault(rig, scenario, jobs, timeout_s=300)
        result: dict[str, Any] = run.as_dict()
        runs.append(result)
        verdict = "ok" if not result["problems"] else f"PROBLEMS: {result['problems']}"
        print(f"{scenario}: {time.monotonic() - began:.1f} s, {verdict}", flush=True)
    return runs


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
            runs = asyncio.run(run_all(rig, args.scenarios, args.jobs))
        finally:
            rig.stop_all()
    print()
    print(table(runs))
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
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(f"\nwritten to {args.out}")
    problems = [p for run in runs for p in run["problems"]]
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
