"""A job's live progress on the terminal (`dicompress watch`, `submit --watch`, the demo):
the notifier's frames drive the progress bar, and a dropped connection is resumed from the
last seq applied."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import TextIO

from dicompress_schemas import jobs
from dicompress_stack.client import JobProgress, follow_job
from dicompress_stack.progressbar import ProgressBar, render


async def watch(ws_url: str, token: str, job_id: str, stream: TextIO = sys.stderr) -> JobProgress:
    """Follow `job_id` until it is over, drawing the bar on `stream`; returns what was seen."""
    bar = ProgressBar(stream)
    progress = JobProgress(job_id)

    def draw(seen: JobProgress) -> None:
        if seen.total is not None:
            bar.show(seen.done + seen.failures, seen.total, line(seen, datetime.now(UTC)))

    def reconnecting(delay_s: float, why: str) -> None:
        stream.write(
            ("\n" if bar.tty else "")  # off the progress line being redrawn
            + f"lost the notifier ({why}); resuming after seq {progress.last_seq} "
            f"in {delay_s:.1f} s\n"
        )
        stream.flush()

    try:
        return await follow_job(ws_url, token, progress, draw, on_reconnect=reconnecting)
    finally:
        bar.close()


def line(progress: JobProgress, now: datetime, width: int = 30) -> str:
    """The job's progress line: its counts, and the server's figures as they are."""
    rate, eta, ratio = progress.shown(now)
    handled = progress.done + progress.failures
    return render(handled, progress.total or 0, progress.failures, rate, eta, width, ratio)


def outcome(progress: JobProgress) -> str:
    """One line saying how the job ended."""
    event = progress.terminal or {}
    head = f"job {progress.job_id} {progress.status}"
    if progress.status == "completed" and event:
        ended = jobs.outcome(
            progress.status, progress.total, event["slices_encoded"], event["slices_failed"]
        )
        if ended is jobs.Outcome.COMPLETED_WITH_FAILURES:
            head += " WITH FAILED SLICES (see GET /jobs/{id}/slices for which and why)"
        return (
            f"{head}: {event['slices_encoded']} slices encoded, {event['slices_failed']} failed, "
            f"ratio {event['ratio']:.1f}:1, ZIP {event['artifact_uri']}"
        )
    if progress.status == "completed":
        return f"{head}: {progress.done} slices encoded, {progress.failures} failed"
    reason = event.get("reason")
    return f"{head}: {reason}" if reason else head
