"""`dicompress upload PATH`: send a study (a folder, zipped on the fly, or a .zip; or one DICOM
file) to the API, with a progress bar in bytes, then follow its ingest and print what it became.

Presigned by default: parts go straight to S3 and an interrupted upload resumes where it
stopped (run the same command again). `--stream` sends it through the API in one request
instead, for clients that cannot reach S3 (not resumable).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

from dicompress_stack import upload_transfer
from dicompress_stack.client import ClientError, api_request
from dicompress_stack.ingest_report import describe, follow_ingest, study_ids
from dicompress_stack.products_report import describe_products, follow_products
from dicompress_stack.progressbar import ProgressBar, render_bytes
from dicompress_stack.upload_source import Source, source_of
from dicompress_stack.upload_state import cache_dir


def add_upload_command(commands: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = commands.add_parser(
        "upload",
        help="upload a study (a folder or a .zip), then show the study it became; resumes "
        "after an interruption",
    )
    parser.add_argument("path", metavar="PATH", type=Path, help="a folder, a .zip or a DICOM file")
    parser.add_argument(
        "--stream",
        action="store_true",
        help="send it through the API in one request (for clients that cannot reach S3); "
        "not resumable",
    )
    parser.add_argument(
        "--no-follow", action="store_true", help="stop once it is uploaded (skip the ingest)"
    )
    parser.add_argument(
        "--no-products",
        action="store_true",
        help="do not wait for the previews, thumbnails and 3D views made on upload",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=600.0,
        help="seconds to wait for the ingest to end (default: 600)",
    )
    return parser


def run_upload(
    api_url: str,
    token: str,
    args: argparse.Namespace,
    *,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
    environ: Mapping[str, str] = os.environ,
) -> int:
    """The command: upload, then follow; exit 0 if the ingest completed (or was not
    followed), 1 if it failed."""
    source = source_of(args.path)
    accepted = send(api_url, token, source, stream=args.stream, err=err, environ=environ)
    ingest_id = accepted["ingestId"]
    out.write(
        f"uploaded {source.file_name} ({accepted['size']} bytes) as upload "
        f"{accepted['uploadId']}; ingest {ingest_id}\n"
    )
    out.flush()
    if args.no_follow:
        out.write(f"follow it with: GET {api_url}/ingests/{ingest_id}\n")
        return 0

    def get(path: str) -> Any:
        return api_request("GET", f"{api_url}{path}", token)

    ingest = follow_ingest(get, ingest_id, err, timeout_s=args.timeout)
    studies = [get(f"/studies/{study}") for study in study_ids(ingest)]
    out.write("\n".join(describe(ingest, studies)) + "\n")
    if ingest.get("status") != "completed":
        return 1
    if not args.no_products:
        for study in studies:
            made = follow_products(get, str(study["id"]), err, timeout_s=args.timeout)
            out.write("\n".join(describe_products(made)) + "\n")
    return 0


def send(
    api_url: str,
    token: str,
    source: Source,
    *,
    stream: bool = False,
    err: TextIO = sys.stderr,
    environ: Mapping[str, str] = os.environ,
) -> dict[str, Any]:
    """Upload `source` (presigned and resumable, or streamed through the API) with a progress
    bar on `err`; the API's answer to the completed upload (its `ingestId` among others)."""
    if stream:
        return _streamed(api_url, token, source, err)
    return _presigned(api_url, token, source, cache_dir(environ), err)


def _presigned(
    api_url: str, token: str, source: Source, cache: Path, err: TextIO
) -> dict[str, Any]:
    upload = upload_transfer.Presigned(api_url, token, source, cache)
    if source.is_folder:
        err.write(f"zipping {source.path} once to measure it ({source.input_bytes} bytes)...\n")
    size = source.size()
    view = upload.prepare(size)
    upload_id = view["uploadId"]
    if upload.resumed:
        err.write(
            f"resuming upload {upload_id}: {len(view['parts'])} of {view['partCount']} parts "
            "already in S3\n"
        )
    meter = _Meter(size, err)
    try:
        upload.send(view, meter.sent, meter.skipped, meter.retried)
    except KeyboardInterrupt:
        err.write(f"\ninterrupted; run the same command again to resume upload {upload_id}\n")
        raise
    except ClientError as exc:
        raise ClientError(
            f"{exc}; run the same command again to resume upload {upload_id}", exc.status
        ) from exc
    finally:
        meter.close()
    return upload.complete(upload_id)


def _streamed(api_url: str, token: str, source: Source, err: TextIO) -> dict[str, Any]:
    # The bar counts what is read from disk: a folder's ZIP length is not known beforehand.
    meter = _Meter(source.input_bytes, err)
    try:
        return upload_transfer.stream(api_url, token, source, meter.sent)
    finally:
        meter.close()


class _Meter:
    """The progress bar of a transfer: its rate counts only bytes really sent, so a resumed
    upload does not look faster than it is."""

    def __init__(self, total: int, stream: TextIO) -> None:
        self._bar = ProgressBar(stream, label=render_bytes)
        self._total = total
        self._started = time.monotonic()
        self._done = self._sent = self._retries = 0

    def sent(self, count: int) -> None:
        self._done += count
        self._sent += count
        self._draw()

    def skipped(self, count: int) -> None:
        self._done += count
        self._draw()

    def retried(self, count: int) -> None:
        self._retries += count

    def close(self) -> None:
        self._bar.close()

    def _draw(self) -> None:
        wall = max(time.monotonic() - self._started, 1e-6)
        # ProgressBar's rate is done / elapsed: scale elapsed so that it is sent / wall time
        elapsed = wall * self._done / self._sent if self._sent else float("inf")
        self._bar.update(min(self._done, self._total), self._total, self._retries, elapsed)
