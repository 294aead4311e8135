"""Comparison benchmark (issue 3): gdcmconv, dcmjs-codecs, our encode path and our full pipeline
on the same synthetic CT series, at each rate and worker count, in one run.

For every (tool, codec, rate, workers): wall seconds for the series, the achieved ratio and mean
PSNR (measured on the outputs by `compare.quality`, the same code for every tool), and the peak
RSS of the tool's processes (`compare.procwatch`). A tool that is missing or fails gives a
"skipped: <why>" row; the rest still run. Prints a markdown table and writes it, with the
machine and versions, to bench/results/compare-<UTC date-time>.md. Figures only, no asserts.

    .venv/bin/python -m bench.bench_compare                    # the full run: 399 slices
    .venv/bin/python -m bench.bench_compare --slices 40 --tools gdcmconv encode

Needs: `apt-get install -y libgdcm-tools` (gdcmconv), `npm ci --prefix bench/node`
(dcmjs-codecs), Java and Maven for the embedded Kafka of the pipeline rows (as `dicompress up`).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable
from contextlib import ExitStack
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

from bench.compare.environment import describe_machine
from bench.compare.ours import ExternalS3, PipelineStack, pipeline_stack, run_encode_path
from bench.compare.quality import Quality, measure, originals_by_instance, read_files
from bench.compare.report import Row, medians, render_report, render_table
from bench.compare.targets import check_targets
from bench.compare.tools import dcmjs_missing, gdcmconv_missing, run_dcmjs, run_gdcmconv
from bench.paths import RESULTS

from dicompress_compressor.encoder import SUPPORTED_CODECS
from dicompress_schemas import Codec, JobCompleted
from dicompress_stack.processes import Supervised
from dicompress_stack.synthetic_ct import write_series

TOOLS = ("gdcmconv", "dcmjs", "encode", "pipeline")
TOOL_NAMES = {
    "gdcmconv": "gdcmconv",
    "dcmjs": "dcmjs-codecs",
    "encode": "ours: encode path",
    "pipeline": "ours: pipeline",
}
J2K, HTJ2K = Codec.J2K_LOSSY, Codec.HTJ2K_LOSSY


def timeout_for(slices: int, workers: int) -> float:
    """A generous bound on one run (~70 ms of CPU per slice on a loaded machine, x3)."""
    return 60.0 + slices * 0.25 / workers


def one_line(reason: str, limit: int = 600) -> str:
    """A reason fit for a table cell: errors quoting a log tail span many lines."""
    return " / ".join(line.strip() for line in reason.splitlines() if line.strip())[:limit]


class Bench:
    """The series on disk and its originals, and the rows measured so far."""

    def __init__(self, root: Path, slices: int) -> None:
        self.root = root
        self.slices = slices
        self.files = write_series(root / "series", n_slices=slices)
        self.originals = originals_by_instance(self.files)
        self.rows: list[Row] = []

    def add(self, row: Row) -> None:
        self.rows.append(row)
        print(render_table([row]).splitlines()[-1], flush=True)

    def attempt(
        self, tool: str, codec: Codec, rate: float, workers: int, run: Callable[[], Row]
    ) -> None:
        """Run one measurement; a failure becomes a skipped row with the reason."""
        try:
            row = run()
        except Exception as exc:  # a broken tool must not cost us the other rows
            reason = one_line(f"failed: {type(exc).__name__}: {exc}")
            row = Row(TOOL_NAMES[tool], codec.value, rate, workers, skipped=reason)
        self.add(row)

    def skip(self, tool: str, codec: Codec, rates: Iterable[float], workers: Iterable[int],
             why: str) -> None:  # fmt: skip
        for rate in rates:
            for count in workers:
                self.add(Row(TOOL_NAMES[tool], codec.value, rate, count, skipped=one_line(why)))

    def quality_of_dir(self, out_dir: Path) -> Quality:
        quality = measure(self.originals, read_files(out_dir / f.name for f in self.files))
        shutil.rmtree(out_dir, ignore_errors=True)
        return quality


def run_external(bench: Bench, tool: str, rates: list[float], workers: list[int]) -> None:
    missing = gdcmconv_missing() if tool == "gdcmconv" else dcmjs_missing()
    if missing:
        bench.skip(tool, J2K, rates, workers, missing)
        return
    runner = run_gdcmconv if tool == "gdcmconv" else run_dcmjs
    for rate in rates:
        for count in workers:

            def one(rate: float = rate, count: int = count) -> Row:
                out_dir = bench.root / f"{tool}-r{rate:g}-w{count}"
                watched = runner(
                    bench.files, out_dir, rate, count, timeout_for(bench.slices, count)
                )
                return Row(
                    TOOL_NAMES[tool], J2K.value, rate, count, watched.seconds,
                    bench.quality_of_dir(out_dir), watched.peak_rss_bytes, bench.slices,
                )  # fmt: skip

            bench.attempt(tool, J2K, rate, count, one)


def run_encode(bench: Bench, codecs: list[Codec], rates: list[float], workers: list[int]) -> None:
    for codec in codecs:
        for rate in rates:
            for count in workers:

                def one(codec: Codec = codec, rate: float = rate, count: int = count) -> Row:
                    seconds, peak, encoded = run_encode_path(bench.files, rate, count, codec)
                    quality = measure(bench.originals, (e.data for e in encoded))
                    return Row(
                        TOOL_NAMES["encode"], codec.value, rate, count, seconds, quality, peak,
                        bench.slices, note="pool processes only; slices fed from memory",
                    )  # fmt: skip

                bench.attempt("encode", codec, rate, count, one)


def run_pipeline(
    bench: Bench,
    codecs: list[Codec],
    rates: list[float],
    workers: list[int],
    external_s3: ExternalS3 | None = None,
) -> None:
    started = time.perf_counter()
    with ExitStack() as cleanup:
        try:
            services = bench.root / "services"
            stack = cleanup.enter_context(pipeline_stack(bench.files, services, external_s3))
        except Exception as exc:  # no Java/Maven, ports...: the other tools' rows still stand
            for codec in codecs:
                bench.skip("pipeline", codec, rates, workers, f"stack did not start: {exc}")
            return
        print(f"(embedded stack up, series uploaded, in {time.perf_counter() - started:.1f} s)")
        for count in workers:
            with stack.compressor(count) as process:
                for codec in codecs:
                    for rate in rates:
                        bench.attempt(
                            "pipeline", codec, rate, count,
                            partial(pipeline_row, bench, stack, process, codec, rate, count),
                        )  # fmt: skip


def pipeline_row(
    bench: Bench,
    stack: PipelineStack,
    process: Supervised,
    codec: Codec,
    rate: float,
    count: int,
) -> Row:
    """One job through the running compressor, from request to JobCompleted."""
    job = stack.run_job(process, codec, rate, timeout_for(bench.slices, count))
    if not isinstance(job.outcome, JobCompleted):
        raise RuntimeError(f"{job.outcome.type}: {job.outcome}")
    quality = measure(bench.originals, stack.artifact_slices(job.outcome.artifact_uri))
    reported = job.outcome.peak_rss_bytes
    note = "compressor service and its pool (sampled)" + (
        f"; JobCompleted says {reported / 1e6:.0f} MB" if reported else ""
    )
    if job.slices_encoded_events != bench.slices:  # every slice must be announced
        note += f"; {job.slices_encoded_events} SliceEncoded events for {bench.slices} slices"
    return Row(
        TOOL_NAMES["pipeline"], codec.value, rate, count, job.seconds, quality,
        job.peak_rss_bytes, bench.slices, note=note,
    )  # fmt: skip


def ordered(rows: list[Row]) -> list[Row]:
    """By codec, then rate (high first), then tool, then workers: each block compares tools."""
    codec_order = [c.value for c in (J2K, HTJ2K)]
    tool_order = list(TOOL_NAMES.values())
    return sorted(
        rows,
        key=lambda r: (codec_order.index(r.codec), -r.rate, tool_order.index(r.tool), r.workers),
    )


def run_all(bench: Bench, args: argparse.Namespace) -> list[Row]:
    """Every selected tool at every rate and worker count; rows in table order."""
    htj2k = [HTJ2K] if HTJ2K in SUPPORTED_CODECS else []
    for tool in ("gdcmconv", "dcmjs"):
        if tool in args.tools:
            run_external(bench, tool, args.rates, args.workers)
    external_s3 = None
    if args.s3_endpoint:
        external_s3 = ExternalS3(args.s3_endpoint, args.s3_access_key, args.s3_secret_key)
    pipeline = partial(run_pipeline, external_s3=external_s3)
    for tool, run in (("encode", run_encode), ("pipeline", pipeline)):
        if tool in args.tools:
            run(bench, [J2K, *htj2k], args.rates, args.workers)
            if not htj2k:
                why = "the encoder does not support htj2k-lossy yet (SUPPORTED_CODECS)"
                bench.skip(tool, HTJ2K, args.rates, args.workers, why)
    return ordered(bench.rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--slices", type=int, default=399, help="slices in the series (399)")
    parser.add_argument("--rates", type=float, nargs="+", default=[100.0, 10.0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--tools", nargs="+", choices=TOOLS, default=list(TOOLS))
    parser.add_argument("--results", type=Path, default=RESULTS, help="where the .md goes")
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="run every tool N times, one after another in turn, and report median seconds: "
        "on this 2-core VM one run of a tool varies by 10-15%%",
    )
    parser.add_argument(
        "--s3-endpoint",
        help="a running S3 (another server, say) for the pipeline rows instead of the embedded one",
    )
    parser.add_argument("--s3-access-key", default="minioadmin")
    parser.add_argument("--s3-secret-key", default="minioadmin")
    args = parser.parse_args()

    began = datetime.now(UTC)
    clock = time.perf_counter()
    machine = describe_machine()
    root = Path(tempfile.mkdtemp(prefix="dicompress-bench-"))
    try:
        bench = Bench(root, args.slices)
        size_mb = sum(f.stat().st_size for f in bench.files) / 1e6
        series = (
            f"{args.slices} synthetic CT slices (512x512, 12 bits stored in 16), {size_mb:.1f} MB"
        )
        print(f"{series}, written to {root / 'series'} in {time.perf_counter() - clock:.1f} s")
        print(render_table([]))
        runs = []
        for number in range(1, args.repeat + 1):
            if args.repeat > 1:
                print(f"(run {number} of {args.repeat})", flush=True)
            bench.rows = []
            runs.append(run_all(bench, args))
        rows = medians(runs)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    minutes = (time.perf_counter() - clock) / 60
    verdicts = check_targets(rows)
    command = (
        f".venv/bin/python -m bench.bench_compare --slices {args.slices} "
        f"--rates {' '.join(f'{r:g}' for r in args.rates)} "
        f"--workers {' '.join(map(str, args.workers))} --tools {' '.join(args.tools)}"
        + (f" --repeat {args.repeat}" if args.repeat > 1 else "")
        + (f" --s3-endpoint {args.s3_endpoint}" if args.s3_endpoint else "")
    )
    print(f"\n{render_table(rows)}\n")
    print("\n".join(f"- {line}" for line in verdicts))
    args.results.mkdir(parents=True, exist_ok=True)
    path = args.results / f"compare-{began:%Y%m%d-%H%M%S}.md"
    title = f"Comparison benchmark, {began:%Y-%m-%d %H:%M} UTC"
    intro = [f"Series: {series}. Command: `{command}` ({minutes:.1f} min).", "", *machine]
    path.write_text(render_report(title, intro, rows, verdicts))
    print(f"\nwritten to {path} ({minutes:.1f} min in all)")


if __name__ == "__main__":
    main()
