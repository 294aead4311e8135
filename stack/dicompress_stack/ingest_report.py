"""After an upload: follow its ingest (GET /ingests/{id}) until it ends, then say what the
upload became: each study with its series and counts, the objects without pixels, and every
member that was rejected, with the reason."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TextIO

from dicompress_stack.client import ClientError

TERMINAL = frozenset({"completed", "failed"})

Get = Callable[[str], Any]  # GET of an API path, answering the decoded JSON


def follow_ingest(
    get: Get,
    ingest_id: str,
    out: TextIO,
    *,
    poll_s: float = 1.0,
    timeout_s: float = 600.0,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, Any]:
    """Poll the ingest until it is completed or failed, printing a line whenever its counts
    change; a 404 means not projected yet. ClientError after `timeout_s`."""
    deadline = clock() + timeout_s
    last = ""
    while True:
        try:
            ingest = get(f"/ingests/{ingest_id}")
        except ClientError as exc:
            if exc.status != 404:
                raise
            ingest = None
        if isinstance(ingest, dict):
            line = progress_line(ingest)
            if line != last:
                out.write(line + "\n")
                out.flush()
                last = line
            if ingest.get("status") in TERMINAL:
                return ingest
        if clock() >= deadline:
            raise ClientError(
                f"ingest {ingest_id} did not end within {timeout_s:g} s; it goes on: "
                f"GET /ingests/{ingest_id} shows it"
            )
        sleep(poll_s)


def progress_line(ingest: dict[str, Any]) -> str:
    counts = ingest.get("counts") or {}
    line = f"ingest {ingest.get('status', '?')}: {counts.get('members', 0)} members"
    if counts.get("instances") is not None:
        line += (
            f", {counts['instances']} stored ({counts.get('images', 0)} images, "
            f"{counts.get('nonImages', 0)} non-image)"
        )
    if counts.get("rejected"):
        line += f", {counts['rejected']} rejected"
    return line


def study_ids(ingest: dict[str, Any]) -> list[str]:
    return [str(s["id"]) for s in ingest.get("studies") or [] if isinstance(s, dict) and "id" in s]


def describe(ingest: dict[str, Any], studies: list[dict[str, Any]]) -> list[str]:
    """What the upload became, line by line."""
    lines = [_outcome(ingest)]
    for study in studies:
        lines.extend(_study(study))
    rejections = ingest.get("rejections") or []
    if rejections:
        lines.append(f"rejected ({len(rejections)}):")
        lines.extend(
            f"  {r.get('member')}: {r.get('reason')} [{r.get('errorCode')}]" for r in rejections
        )
    return lines


def _outcome(ingest: dict[str, Any]) -> str:
    head = f"ingest {ingest.get('ingestId')} {ingest.get('status')}"
    if ingest.get("status") == "failed":
        return f"{head}: {ingest.get('reason')} [{ingest.get('errorCode')}]"
    counts = ingest.get("counts") or {}
    return (
        f"{head}: {counts.get('instances', 0)} objects stored from {counts.get('members', 0)} "
        f"members, {counts.get('rejected', 0)} rejected, {counts.get('skipped', 0)} skipped"
    )


def _study(study: dict[str, Any]) -> list[str]:
    title = " ".join(
        str(part)
        for part in (study.get("studyDescription"), study.get("studyDate"))
        if part is not None
    )
    lines = [
        f"study {study.get('id')} {title}".rstrip()
        + f": {len(study.get('series') or [])} series, "
        + _count(study.get("instanceCount", 0), "object")
        + (f" (patient {study['patientId']})" if study.get("patientId") else "")
    ]
    for series in study.get("series") or []:
        lines.append("  " + _series(series))
    non_images = study.get("nonImages") or []
    if non_images:
        lines.append(f"  non-image objects ({len(non_images)}):")
        lines.extend(f"    {_non_image(n)}" for n in non_images)
    return lines


def _non_image(item: dict[str, Any]) -> str:
    kind = _sop_class(item.get("sopClassUid"))
    return f"{item.get('member')} ({item.get('modality') or '-'}, {kind})"


def _series(series: dict[str, Any]) -> str:
    number = series.get("seriesNumber")
    text = f"series {number if number is not None else '-'} {series.get('modality') or '?'}"
    if series.get("seriesDescription"):
        text += f" '{series['seriesDescription']}'"
    text += f": {_count(series.get('imageCount', 0), 'image')}"
    if series.get("nonImageCount"):
        text += f", {series['nonImageCount']} non-image"
    if series.get("rows") and series.get("columns"):
        text += f", {series['columns']}x{series['rows']}"
    spacing = series.get("spacing")
    if isinstance(spacing, dict):
        text += f", spacing {spacing.get('mean', 0):.2f} mm"
        if not spacing.get("uniform", True):
            text += f" (uneven: {spacing.get('min', 0):.2f}-{spacing.get('max', 0):.2f})"
    return text


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" + ("" if number == 1 else "s")


def _sop_class(uid: object) -> str:
    """A SOP class UID by its name where pydicom knows it."""
    if not isinstance(uid, str):
        return "?"
    from pydicom.uid import UID

    name = UID(uid).name
    return name if name and name != uid else uid
