"""`dicompress mini-ct STUDY SERIES --z A:B --roi ...`: ask the running stack for a Mini CT (a
region of one series), follow its job like `dicompress watch`, and download the result.

A Mini CT already made is answered at once with a short-lived URL; one being made is followed
over the notifier, then asked for again (the same request names the same product, so nothing is
made twice) for its URL.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any, TextIO

from dicompress_stack import watch as watching
from dicompress_stack.client import ClientError, api_request
from dicompress_stack.errors import StackError

FORMATS = ("series", "multiframe")
PRESETS = ("lossless", "rate10", "rate20")
CODECS = ("j2k-lossless", "j2k-lossy", "htj2k-lossless", "htj2k-lossy")
URL_ATTEMPTS = 20  # the projection may record the end a moment after the notifier said it


def add_mini_ct_command(commands: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = commands.add_parser(
        "mini-ct",
        help="make (or fetch) a region of a series as a DICOM series or one multi-frame object",
    )
    parser.add_argument("study", metavar="STUDY", help="the study's id (GET /studies)")
    parser.add_argument("series", metavar="SERIES", help="its SeriesInstanceUID")
    parser.add_argument(
        "--z",
        metavar="A:B",
        help="slices A to B (both included) in anatomical order; A: or :B leave an end open "
        "(default: every slice); write --z=-30:-10 when A is negative",
    )
    parser.add_argument(
        "--mm", action="store_true", help="--z in mm along the slice normal instead of indexes"
    )
    parser.add_argument("--roi", metavar="ROW,COL,ROWS,COLS", help="a pixel box of each slice")
    parser.add_argument(
        "--roi-mm",
        metavar="X,Y,Z,W,H",
        help="a W x H mm box in the slice plane centred on patient point (X, Y, Z); write "
        "--roi-mm=-12,... when X is negative",
    )
    parser.add_argument("--downsample", type=int, choices=(1, 2, 4), help="in-plane, n x n")
    parser.add_argument("--format", choices=FORMATS, help="default: series (a ZIP of slices)")
    parser.add_argument("--rate", type=float, help="lossy at this compression ratio")
    parser.add_argument(
        "--codec", choices=CODECS, help="default: j2k-lossless, or lossy with --rate"
    )
    parser.add_argument("--preset", choices=PRESETS, help="instead of --codec/--rate")
    parser.add_argument(
        "-o", "--output", type=Path, help="where to save it (default: mini-ct-<id>.zip or .dcm)"
    )
    return parser


def mini_ct_body(args: argparse.Namespace) -> dict[str, Any]:
    """The body of POST /studies/{id}/series/{uid}/mini-ct; options left out take the API's
    defaults. StackError for an option that does not parse."""
    body: dict[str, Any] = {}
    if args.z is not None:
        start, end = _z(args.z, args.mm)
        body.update({k: v for k, v in (("zStart", start), ("zEnd", end)) if v is not None})
    if args.mm:
        body["zUnit"] = "mm"
    if args.roi is not None and args.roi_mm is not None:
        raise StackError("give --roi or --roi-mm, not both")
    if args.roi is not None:
        row, column, rows, columns = _numbers(args.roi, "--roi", 4, int)
        body["roi"] = {"row": row, "column": column, "rows": rows, "columns": columns}
    if args.roi_mm is not None:
        x, y, z, width, height = _numbers(args.roi_mm, "--roi-mm", 5, float)
        body["roiMm"] = {"center": [x, y, z], "size": [width, height]}
    for option in ("downsample", "format", "rate", "codec", "preset"):
        value = getattr(args, option)
        if value is not None:
            body[option] = value
    return body


def _z(text: str, mm: bool) -> tuple[float | int | None, float | int | None]:
    start, colon, end = text.partition(":")
    if not colon:
        raise StackError(f"--z {text!r}: give A:B (A: or :B leave an end open)")
    parse = float if mm else int
    try:
        return (parse(start) if start else None, parse(end) if end else None)
    except ValueError:
        unit = "millimetres" if mm else "slice indexes (or add --mm)"
        raise StackError(f"--z {text!r}: A and B are {unit}") from None


def _numbers(text: str, option: str, count: int, kind: type[int] | type[float]) -> list[Any]:
    parts = text.split(",")
    try:
        values = [kind(part) for part in parts]
    except ValueError:
        values = []
    if len(values) != count:
        raise StackError(f"{option} {text!r}: give {count} {kind.__name__}s separated by commas")
    return values


def run_mini_ct(
    api_url: str, ws_url: str, token: str, args: argparse.Namespace, out: TextIO = sys.stdout
) -> int:
    """Request, follow, download; 0 once the file is saved."""
    url = f"{api_url}/studies/{args.study}/series/{args.series}/mini-ct"
    body = mini_ct_body(args)
    answer = _ask(url, token, body)
    job = answer["id"]
    if answer["status"] not in ("completed", "failed", "cancelled"):
        region = answer["region"]
        out.write(
            f"Mini CT {job} {answer['status']}: slices {region['zStart']}..{region['zEnd']} "
            f"({region['firstMm']:.2f}..{region['lastMm']:.2f} mm)\n"
        )
        out.flush()
        try:
            progress = asyncio.run(watching.watch(ws_url, token, job))
        except KeyboardInterrupt:
            out.write(f"stopped watching; it goes on (dicompress watch {job})\n")
            return 130
        if progress.status != "completed":
            out.write(watching.outcome(progress) + "\n")
            return 1
        answer = _made(url, token, body)
    if answer["status"] != "completed" or not answer.get("downloadUrl"):
        reason = answer.get("reason") or "no file to download"
        out.write(f"Mini CT {job} {answer['status']}: {reason}\n")
        return 1
    suffix = ".dcm" if answer["params"]["format"] == "multiframe" else ".zip"
    target = args.output or Path(f"mini-ct-{str(job)[:8]}{suffix}")
    size = _download(answer["downloadUrl"], target)
    out.write(f"Mini CT {job} saved to {target} ({size} bytes)\n")
    return 0


def _ask(url: str, token: str, body: dict[str, Any]) -> dict[str, Any]:
    answer = api_request("POST", url, token, body)
    if not isinstance(answer, dict) or "id" not in answer:
        raise ClientError(f"unexpected answer to POST {url}: {answer!r}")
    return answer


def _made(url: str, token: str, body: dict[str, Any]) -> dict[str, Any]:
    """The answer once the projection says the Mini CT is over (it follows the notifier)."""
    for _ in range(URL_ATTEMPTS):
        answer = _ask(url, token, body)
        if answer["status"] in ("completed", "failed", "cancelled"):
            return answer
        time.sleep(0.5)
    raise ClientError(f"the Mini CT ended but {url} still says {answer['status']}")


def _download(url: str, target: Path) -> int:
    partial = target.with_name(target.name + ".part")
    with urllib.request.urlopen(url, timeout=60) as source, partial.open("wb") as sink:  # noqa: S310 - the API's presigned URL
        shutil.copyfileobj(source, sink, 1024 * 1024)
    partial.replace(target)  # a complete file or none under the asked name
    return target.stat().st_size
