"""Products benchmark (issue 13, "Done when", benchmarks): from upload complete to what a viewer
shows.

On the whole embedded stack (`bench_stack`: Kafka, Postgres, S3Proxy and every service, the
products process manager and the renderer included, on free ports in a temp dir), for each of
`--repeat` runs: ONE CT series of `--slices` 512x512 slices (the `synthetic_ct` phantom, fresh
UIDs each run so each upload is a new series with new products) is zipped (STORED) and uploaded
by presigned multipart through the API. From the API's answer to `POST /uploads/{id}/complete`
("upload complete"), `GET /studies/{id}/products` is polled every 50 ms and `GET /ingests/{id}`
every 200 ms, timing:

- ingest complete (GET /ingests/{id} completed: the study indexed);
- the first thumbnail available: the first image of the thumbnails product listed with a
  presigned URL that serves it (target < 1 s);
- the preview complete (2x-binned Rate10 by default; target < 4 s);
- both 3D snapshots complete (the snapshot product completed; target < 3 s);

beside each product's worker wall time (`wallMs`), its items, the seconds from upload complete
by the events' own times (the projection's finishedAt), and the CPU seconds each service's
process tree used from the upload's start to the last product's end.

    .venv/bin/python -m bench.bench_products [--slices 399] [--repeat 1]

Prints the tables and writes them, with the machine and its load, to
bench/results/products-<UTC date-time>.md. Figures only, no asserts. The API's per-tenant rate
limit (20/s by default) is raised for the stack it starts (API_RATE_LIMIT_PER_S, unless set),
or the 50 ms polling would be answered 429 with a Retry-After of a second.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import platform
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, TypeVar

import httpx
import psutil
from bench.ingest.stack import BenchStack, bench_stack
from bench.ingest.uploads import Uploaded, presigned_upload, wait_indexed
from bench.paths import RESULTS, ROOT, classpath_cache
from bench.products.cpu import cpu_seconds, cpu_used, service_pids
from bench.products.follow import Followed, follow_products
from bench.products.report import Measure, render_medians, render_rows, series_measures
from bench.products.series import SeriesArchive, SeriesTemplate

from dicompress_schemas import study_id
from dicompress_stack.stack import raise_interrupt

TENANT = "bench-products"
MB = 1e6
# the API's per-tenant limit is 20 requests/s, bursts of 40: polling at 20/s plus the ingest's
# status at 5/s would be throttled a second at a time
RATE_LIMIT_ENV = {"API_RATE_LIMIT_PER_S": "1000", "API_RATE_LIMIT_BURST": "1000"}
R = TypeVar("R")  # what one run of an upload bench gives


@dataclass(frozen=True)
class Run:
    """One upload and what its products did."""

    number: int
    archive: SeriesArchive
    upload: Uploaded
    start_wall: float  # the upload's completion by the wall clock
    indexed_at: float
    followed: Followed
    cpu: dict[str, float]
    load_before: str
    load_after: str

    def measures(self) -> list[tuple[str, list[Measure]]]:
        """(series UID, rows) for each series of the study."""
        return [
            (
                series,
                series_measures(
                    kinds,
                    self.followed,
                    self.upload.completed_at,
                    self.start_wall,
                    self.indexed_at,
                ),
            )
            for series, kinds in self.followed.of_series().items()
        ]


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def shown_command(module: str, argv: list[str] | None = None) -> str:
    """The command line a result file gives for bench `module` run with `argv` (default: this
    process's), its `--note` shown as "(below)": the note is printed as its own paragraph."""
    shown = list(sys.argv[1:] if argv is None else argv)
    if "--note" in shown:
        at = shown.index("--note")
        shown[at : at + 2] = ["--note", "(below)"]
    return " ".join([f"python3 -m uv run --frozen python -m {module}", *map(shlex.quote, shown)])


def write_result(folder: Path, name: str, text: str) -> Path:
    """Write a result file `name` (with its trailing newline as given) into `folder`, and say
    where, from the repository's root when it lies inside it."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text)
    print(f"written: {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    return path


def load_average() -> str:
    return ", ".join(f"{value:.2f}" for value in os.getloadavg())


async def one_run(
    stack: BenchStack, template: SeriesTemplate, workdir: Path, number: int, timeout_s: float
) -> Run:
    archive = await asyncio.to_thread(template.build_zip, workdir / f"series-{number}.zip")
    log(f"run {number}: {archive.size / MB:.0f} MB, {archive.members} slices; uploading")
    study = str(study_id(TENANT, archive.study_instance_uid))
    pids = service_pids(stack.config)
    headers = {"Authorization": f"Bearer {stack.handle.token(TENANT)}"}
    try:
        async with httpx.AsyncClient(
            base_url=stack.config.api_url, headers=headers, timeout=httpx.Timeout(600.0)
        ) as http:
            load_before = load_average()
            cpu_before = cpu_seconds(pids)
            upload = await presigned_upload(http, archive.path, archive.size)
            start_wall = time.time() - (time.perf_counter() - upload.completed_at)
            indexed_at, followed = await asyncio.gather(
                wait_indexed(http, upload.ingest_id, timeout_s),
                follow_products(http, study, timeout_s),
            )
            cpu = cpu_used(cpu_before, cpu_seconds(pids))
    finally:
        archive.path.unlink(missing_ok=True)
    if followed.timed_out:
        log(f"run {number}: products not all ended after {timeout_s:.0f} s")
    return Run(
        number,
        archive,
        upload,
        start_wall,
        indexed_at,
        followed,
        cpu,
        load_before,
        load_average(),
    )


def describe_run(run: Run) -> str:
    lines = [
        f"### Run {run.number}",
        "",
        f"Upload: {run.archive.size / MB:.0f} MB ({run.archive.members} slices) by presigned "
        f"multipart in {run.upload.seconds:.1f} s; load average {run.load_before} before, "
        f"{run.load_after} after. Polls of the products: {run.followed.polls} "
        f"({run.followed.not_found} answered 404 before the study was indexed, "
        f"{run.followed.throttled} answered 429)"
        + ("; TIMED OUT before every product ended" if run.followed.timed_out else "")
        + ".",
        "",
    ]
    measures = run.measures()
    if not measures:
        lines.append("No product was listed.")
    for series, rows in measures:
        lines += [f"Series ...{series[-16:]}:", "", render_rows(rows), ""]
    used = sorted(run.cpu.items(), key=lambda item: -item[1])
    lines.append(
        "CPU seconds from the upload's start to the last product's end (each service with its "
        "children): " + ", ".join(f"{name} {seconds:.1f}" for name, seconds in used) + "."
    )
    return "\n".join(lines)


def _package(name: str) -> str:
    try:
        return f"{name} {version(name)}"
    except PackageNotFoundError:
        return f"{name} (not installed)"


def describe_machine(load: str) -> str:
    try:
        model = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    except (OSError, StopIteration):
        model = platform.machine()
    head = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    ).stdout.strip()
    packages = "; ".join(
        _package(name) for name in ("pydicom", "pylibjpeg-openjpeg", "vtk", "pillow", "numpy")
    )
    return (
        f"Machine: {os.cpu_count()} cores ({model}), "
        f"{psutil.virtual_memory().total / 1e9:.1f} GB RAM, load average {load} at start. "
        f"Commit {head or '?'} (working tree as it was). Python {platform.python_version()}; "
        f"{packages}."
    )


def other_test_runs() -> list[str]:
    """Test runs of other people on this machine now (pytest processes not of this bench)."""
    own = {os.getpid(), *(child.pid for child in psutil.Process().children(recursive=True))}
    found = []
    for process in psutil.process_iter(["pid", "cmdline"]):
        argv = process.info["cmdline"] or []
        if process.info["pid"] not in own and any(a.endswith("pytest") for a in argv[:3]):
            found.append(" ".join(argv[1:])[:100])
    return found


def others_seen(others: list[str]) -> str:
    """The results files' sentence on `other_test_runs`, without its full stop."""
    listed = "; ".join(f"`{o}`" for o in others) if others else "none seen"
    return f"Other test runs on the machine at the start: {listed}"


def report(
    args: argparse.Namespace, runs: list[Run], began: datetime, machine: str, others: list[str]
) -> str:
    command = shown_command("bench.bench_products")
    lines = [
        f"# Products benchmark, {began:%Y-%m-%d %H:%M} UTC",
        "",
        f"One CT series of {args.slices} slices 512x512 (synthetic_ct phantom, fresh UIDs per "
        f"run), uploaded by presigned multipart through the API of the embedded stack; every "
        f"product made on upload with the default policy and parameters. Command: `{command}`.",
        "",
        machine,
        "",
        others_seen(others) + ".",
        "",
        *([args.note, ""] if args.note else []),
        "Times are seconds from the API's answer to `POST /uploads/{id}/complete` (upload "
        "complete). A product is complete when `GET /studies/{id}/products` (polled every 50 ms) "
        "first lists it completed; an image is available when it is listed AND its presigned URL "
        "answers 200 with its bytes. \"By the events' times\": the product's startedAt and "
        "finishedAt (its JobStarted and terminal events) minus the upload's completion, without "
        "the polling's delay. \"worker wallMs\": the worker's own wall time of the product "
        "(JobCompleted.wall_ms), with its download / work (encode or render) / upload phases "
        "from GET /jobs/{id}. "
        "The API's rate limit was raised for this stack (the polling alone is 20 requests/s).",
        "",
        "## Runs",
        "",
    ]
    lines += [describe_run(run) + "\n" for run in runs]
    per_series = [rows for run in runs for _, rows in run.measures()]
    if len(per_series) > 1:
        lines += ["## Over the runs", "", render_medians(per_series), ""]
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--slices", type=int, default=399, help="slices of the CT series")
    parser.add_argument("--repeat", type=int, default=1, help="uploads, one after the other")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per run")
    parser.add_argument("--results", type=Path, default=RESULTS, help="where the .md goes")
    parser.add_argument(
        "--note", default="", help="a sentence for the results file (e.g. what else ran)"
    )
    return parser.parse_args(argv)


def drive_uploads(
    args: argparse.Namespace,
    kind: str,
    one_run: Callable[[BenchStack, SeriesTemplate, Path, int], Coroutine[Any, Any, R]],
    describe_run: Callable[[R], str],
    report: Callable[[argparse.Namespace, list[R], datetime, str, list[str]], str],
) -> int:
    """What the upload benches (products, Mini CT) share: the embedded stack up once, the
    series rendered once, `args.repeat` runs of `one_run` printed as each ends, and the report
    written to `args.results` as `kind`-<UTC date-time>.md."""
    signal.signal(signal.SIGTERM, raise_interrupt)  # stop the stack on SIGTERM as on Ctrl-C
    for name, value in RATE_LIMIT_ENV.items():
        os.environ.setdefault(name, value)
    began = datetime.now(UTC)
    load = load_average()
    machine = describe_machine(load)
    others = other_test_runs()
    print(f"load average before: {load} ({os.cpu_count()} cores)", flush=True)
    if others:
        print(f"other test runs now: {'; '.join(others)}", flush=True)
    cache = classpath_cache()
    runs: list[R] = []
    with tempfile.TemporaryDirectory(prefix=f"dicompress-bench-{kind}-") as tmp:
        workdir = Path(tmp)
        started = time.perf_counter()
        template = SeriesTemplate(workdir / "series", args.slices)
        log(f"rendered {args.slices} slices in {time.perf_counter() - started:.1f} s")
        started = time.perf_counter()
        with bench_stack(cache) as stack:
            log(f"stack up in {time.perf_counter() - started:.0f} s")
            for number in range(1, args.repeat + 1):
                run = asyncio.run(one_run(stack, template, workdir, number))
                runs.append(run)
                print(describe_run(run) + "\n", flush=True)
    text = report(args, runs, began, machine, others)
    if len(runs) > 1:
        print(text.split("## Over the runs", 1)[-1], flush=True)
    write_result(args.results, f"{kind}-{began:%Y%m%d-%H%M%S}.md", text)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    run = functools.partial(one_run, timeout_s=args.timeout)
    return drive_uploads(args, "products", run, describe_run, report)


if __name__ == "__main__":
    raise SystemExit(main())
