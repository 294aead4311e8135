"""`dicompress demo`: the main job, end to end, on the embedded stack.

Brings the stack up if none is running, makes a realistic synthetic CT study (a scout, a
soft-tissue and a bone series, secondary captures, a dose report and a DICOMDIR, as a scanner
exports it) or takes `--source DIR`, uploads it as a clinic would (presigned multipart, with a
progress bar), follows its ingest and prints the study it became; while the products made on
upload (preview series, thumbnails, 3D snapshots of each CT volume) are being made, compresses
the study through the HTTP API with live progress from the WebSocket; then prints the
compression result and each product (where it lies, how long it took). Exit status 0 only if
the upload was ingested, the job completed and every product completed.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from dicompress_stack.client import api_request, get_job, submit_job
from dicompress_stack.ingest_report import describe, follow_ingest, study_ids
from dicompress_stack.products_report import describe_products, follow_products
from dicompress_stack.synthetic_study import StudySpec, write_study_zip
from dicompress_stack.upload import send
from dicompress_stack.upload_source import source_of
from dicompress_stack.watch import outcome, watch


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--source",
        type=Path,
        help="a study: a folder or a .zip of DICOM files (default: synthetic)",
    )
    parser.add_argument(
        "--slices", type=int, default=399, help="slices of the synthetic soft-tissue series"
    )
    parser.add_argument("--rate", type=float, default=100, help="compression ratio to ask for")
    parser.add_argument("--tenant", default="demo", help="tenant the study belongs to")


def study_path(args: argparse.Namespace, data_dir: Path) -> Path:
    """The study to upload: the user's, or the synthetic one (made once per size: the same
    seed gives the same bytes, so a second demo uploads the very same study)."""
    if args.source is not None:
        if not args.source.exists():
            raise SystemExit(f"--source {args.source}: no such file or folder")
        return Path(args.source)
    path = data_dir / "demo" / f"synthetic-study-{args.slices}.zip"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        partial = path.with_suffix(".partial")
        manifest = write_study_zip(StudySpec.realistic(slices=args.slices), partial)
        partial.replace(path)
        print(
            f"made a synthetic study: {len(manifest.files)} files, {len(manifest.series)} "
            f"series, {path.stat().st_size / 2**20:.1f} MiB in {time.monotonic() - started:.1f} s"
        )
    return path


def upload_study(api_url: str, token: str, path: Path) -> list[str]:
    """Upload the study, follow its ingest, print what it became; the ids of its studies."""
    started = time.monotonic()
    accepted = send(api_url, token, source_of(path))
    print(f"uploaded {path.name} in {time.monotonic() - started:.1f} s")

    def get(api_path: str) -> Any:
        return api_request("GET", f"{api_url}{api_path}", token)

    ingest = follow_ingest(get, accepted["ingestId"], sys.stderr)
    studies = [get(f"/studies/{study}") for study in study_ids(ingest)]
    print("\n".join(describe(ingest, studies)))
    if ingest.get("status") != "completed":
        raise SystemExit(1)
    return [str(study["id"]) for study in studies]


def report(event: dict[str, Any], job: dict[str, Any], seconds: float) -> str:
    """The closing summary a person reads."""
    if event["type"] != "JobCompleted":
        return f"job {event['job_id']} {event['type']}: {event.get('reason', '')}"
    mb = 1024 * 1024
    lines = [
        f"job {event['job_id']} completed: {event['slices_encoded']} slices encoded, "
        f"{event['slices_failed']} failed",
        f"  size        {event['bytes_in'] / mb:.1f} MiB -> {event['bytes_out'] / mb:.2f} MiB "
        f"(ZIP {event['artifact_bytes'] / mb:.2f} MiB)",
        f"  ratio       {event['ratio']:.1f}:1 (pixel bytes / codestream bytes)",
        f"  timings     download {event['download_ms'] / 1000:.2f} s, "
        f"encode {event['encode_ms'] / 1000:.2f} s of CPU, "
        f"upload {event['upload_ms'] / 1000:.2f} s, worker wall {event['wall_ms'] / 1000:.2f} s",
        f"  end to end  {seconds:.2f} s from submit to the completion event",
        f"  projection  status={job.get('status')} "
        f"{job.get('slicesDone')}/{job.get('slicesTotal')} slices",
        f"  artifact    {event['artifact_uri']}",
    ]
    return "\n".join(lines)


def run_demo(
    args: argparse.Namespace, endpoints: dict[str, str], token: str, data_dir: Path
) -> int:
    api_url, bucket = endpoints["API_URL"], endpoints["S3_BUCKET"]
    path = study_path(args, data_dir)
    studies = upload_study(api_url, token, path)
    if not studies:
        print("the upload held no study to compress")
        return 1
    answer = submit_job(
        api_url,
        token,
        {
            "studyId": studies[0],
            "s3TargetUri": f"s3://{bucket}/{args.tenant}/results/",
            "compressionRate": args.rate,
        },
    )
    job_id = answer["jobId"]
    print(
        f"compressing study {studies[0]}: job {job_id} (rate {args.rate:g}); live progress "
        f"from {endpoints['WS_URL']}"
    )
    submitted = time.monotonic()
    # the same client as `dicompress watch`: a dropped notifier connection is resumed
    progress = asyncio.run(watch(endpoints["WS_URL"], token, job_id))
    seconds = time.monotonic() - submitted
    terminal = progress.terminal
    if terminal is None:  # the end came as a snapshot (a resume past the log): no figures
        print(outcome(progress))
    else:
        job = _wait_projection(api_url, token, job_id, terminal["type"])
        print(report(terminal, job, seconds))
    products_ok = show_products(api_url, token, studies[0])
    # a development token of the local stack, in the fragment (never sent to a server)
    print(f"viewer: {api_url}/viewer/#token={token}")
    return 0 if progress.status == "completed" and products_ok else 1


def show_products(api_url: str, token: str, study: str) -> bool:
    """Follow the products made on upload to their end and print them; True if all
    completed."""

    def get(api_path: str) -> Any:
        return api_request("GET", f"{api_url}{api_path}", token)

    print(f"products made on upload of study {study}:")
    items = follow_products(get, study, sys.stdout)
    print("\n".join(describe_products(items)))
    return bool(items) and all(i["status"] == "completed" for i in items)


def _wait_projection(api_url: str, token: str, job_id: str, terminal: str) -> dict[str, Any]:
    """The projection trails the log by a few ms: wait (bounded) until it shows the end."""
    want = {"JobCompleted": "completed", "JobFailed": "failed", "JobCancelled": "cancelled"}
    deadline = time.monotonic() + 10
    job = get_job(api_url, token, job_id)
    while job.get("status") != want[terminal] and time.monotonic() < deadline:
        time.sleep(0.1)
        job = get_job(api_url, token, job_id)
    return job


def main(args: argparse.Namespace) -> int:
    """Entry of `dicompress demo` (the CLI parsed `args`, including `data_dir`)."""
    # imported here: the stack pulls in boto3 and the launchers, which only the demo needs
    from dicompress_stack import stack as stack_mod

    with ExitStack() as cleanup:
        running = stack_mod.ensure_running(args.data_dir, cleanup)
        try:
            return run_demo(
                args, running.endpoints(), running.token(args.tenant), running.config.data_dir
            )
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            return 130
