"""After an upload: follow the products made on arrival (GET /studies/{id}/products) until each
has ended, printing a line whenever one moves, then say what each is, where it lies and how
long it took."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TextIO
from urllib.parse import urlsplit

from dicompress_schemas.jobs import TERMINAL_STATUSES

Get = Callable[[str], Any]  # GET of an API path, answering the decoded JSON


def follow_products(
    get: Get,
    study_id: str,
    out: TextIO,
    *,
    appear_s: float = 15.0,
    timeout_s: float = 600.0,
    poll_s: float = 0.5,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> list[dict[str, Any]]:
    """The study's products once all have ended (or at `timeout_s`, as they stand). The
    process manager asks for them a moment after the ingest ends: none within `appear_s` means
    the tenant's policy makes none (or the study has no CT volume)."""
    started = clock()
    last: dict[str, tuple[str, int]] = {}
    while True:
        items: list[dict[str, Any]] = get(f"/studies/{study_id}/products")["items"]
        for item in items:
            step = (item["status"], _tenth(item))
            if last.get(item["id"]) != step:  # a new state, or another tenth of the items
                out.write(progress_line(item) + "\n")
                out.flush()
                last[item["id"]] = step
        waited = clock() - started
        if items and all(i["status"] in TERMINAL_STATUSES for i in items):
            return items
        if (not items and waited >= appear_s) or waited >= timeout_s:
            return items
        sleep(poll_s)


def _tenth(item: dict[str, Any]) -> int:
    counts = item.get("items") or {}
    total = counts.get("total") or 0
    return (10 * counts.get("done", 0)) // total if total else 0


def progress_line(item: dict[str, Any]) -> str:
    counts = item.get("items") or {}
    total = counts.get("total")
    done = f"{counts.get('done', 0)} of {total}" if total is not None else "waiting"
    series = str(item.get("seriesInstanceUid", ""))[-12:]
    return f"  {item['kind']:<10} series ...{series}  {item['status']:<9} {done}"


def describe_products(items: list[dict[str, Any]]) -> list[str]:
    """What each product is, where it lies and how long it took."""
    if not items:
        return ["products: none were made on upload (no CT volume, or the tenant's policy)"]
    lines = [f"products ({len(items)}):"]
    for item in sorted(items, key=lambda i: (i["seriesInstanceUid"], i["kind"])):
        counts = item.get("items") or {}
        took = f"{item['wallMs'] / 1000:.2f} s" if item.get("wallMs") is not None else "-"
        head = (
            f"  {item['kind']:<10} {item['status']:<9} {counts.get('done', 0)} made, "
            f"{counts.get('failed', 0)} failed, worker {took}"
        )
        if item.get("reason"):
            head += f": {item['reason']}"
        lines.append(head)
        if item.get("slicesUrl"):
            lines.append(f"      slices   GET {item['slicesUrl']} (presigned URLs)")
        images = item.get("images") or []
        if images:
            lines.append(f"      in       {_folder(images[0]['url'])}")
        for image in images[:2]:
            note = f" ({image['fallback']})" if image.get("fallback") else ""
            lines.append(
                f"      {image['view']}-{image['preset']}-{image['size']}.{image['format']} "
                f"{image['width']}x{image['height']}{note}"
            )
        if len(images) > 2:
            lines.append(
                f"      ... {len(images) - 2} more (GET /studies/.../products: presigned URLs)"
            )
    return lines


def _folder(url: str) -> str:
    """s3://bucket/prefix/ of a presigned path-style URL (its signature dropped: a signed URL
    is for a browser, this is where the files lie)."""
    path = urlsplit(url).path.lstrip("/")
    bucket, _, key = path.partition("/")
    return f"s3://{bucket}/{key.rsplit('/', 1)[0]}/"
