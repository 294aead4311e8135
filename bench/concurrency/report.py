"""The result file: the table, what each contender did, GET /queue's honesty, the machine."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from bench.concurrency.ours import OursRun
from bench.concurrency.probe import PROBE_TENANT
from bench.concurrency.stats import Contender, eta_error, position_error, render_table, start_error


@dataclass(frozen=True)
class Skipped:
    name: str
    reason: str


def describe_contender(contender: Contender, command: str) -> list[str]:
    times = ", ".join("-" if s is None else f"{s:.1f}" for s in contender.job_done_s)
    lines = [
        f"### {contender.name}",
        "",
        f"Command: {command}",
        "",
        f"Each job's completion, seconds from the start, in submission order: {times}.",
        "",
    ]
    lines += [f"- {note}" for note in contender.notes]
    return [*lines, ""]


def _lane_errors(ours: OursRun, lane: str | None) -> list[str]:
    samples = [s for s in ours.burst.queue if s.lane == lane]
    return [
        f"- **{lane or 'no lane given'} lane** ({len(samples)} job entries):",
        f"  - estimated finish: {eta_error(samples, ours.finished).describe(' s')}",
        f"  - estimated start (queued jobs): {start_error(samples, ours.started).describe(' s')}",
        f"  - queue position: {position_error(samples, ours.started).describe('')}",
    ]


def _first_answers(ours: OursRun) -> list[str]:
    samples = ours.burst.queue
    rows = [
        "",
        "The first answer that listed each job, against its real finish:",
        "",
        "| job (submission order) | lane | asked at | position | estimated finish "
        "| actual finish |",
        "|---|---|---:|---:|---:|---:|",
    ]
    named = [(str(n), job_id) for n, job_id in enumerate(ours.burst.job_ids, start=1)]
    if ours.probe is not None:
        named.append(("interactive probe", ours.probe.job_id))
    for name, job_id in named:
        first = next((s for s in samples if s.job_id == job_id), None)
        if first is None:
            rows.append(f"| {name} | - | - | - | - | - |")
            continue
        finish = ours.finished.get(job_id)
        rows.append(
            f"| {name} | {first.lane or '-'} | {first.at:.1f} s | {first.position or 'running'} | "
            + ("null" if first.estimated_finish is None else f"{first.estimated_finish:.1f} s")
            + " | "
            + ("-" if finish is None else f"{finish:.1f} s")
            + " |"
        )
    return rows


def _served_order(ours: OursRun) -> str:
    """The batch's jobs (numbered in submission order) by `requestedAt`, the order GET /queue
    counts positions in, and by start, the order they were served in."""
    number = {job_id: n for n, job_id in enumerate(ours.burst.job_ids, start=1)}

    def by(times: dict[str, float]) -> str:
        return ", ".join(str(number[j]) for j in sorted(number, key=lambda j: times.get(j, 1e9)))

    return (
        f"- the batch's jobs (submission order) by `requestedAt`: {by(ours.requested)}; "
        f"by start: {by(ours.started)}"
    )


def describe_queue(ours: OursRun) -> list[str]:
    samples = ours.burst.queue
    answers = len({s.at for s in samples})
    lines = [
        "## Queue position and ETA during the burst (issue 18 item 4)",
        "",
        f"`GET /queue` asked every second during the burst by each tenant (a tenant sees its "
        f"own jobs; the probe's tenant once more just after its POST): {answers} answers, "
        f"{len(samples)} job entries. Each entry carries its `lane`, and its position and "
        "estimates count within that lane. Error = what the answer said minus what happened "
        "(from the jobs' `startedAt` / `finishedAt`), in seconds; positive = the estimate was "
        "later than the truth. Position error = the job's real place among the jobs of the "
        "same answer and lane queued (1 + how many of them started before it) minus the "
        "position given.",
        "",
    ]
    for lane in sorted({s.lane for s in samples}, key=lambda lane: lane or ""):
        lines += _lane_errors(ours, lane)
    lines.append(_served_order(ours))
    if ours.warmup_s is not None:
        lines.append(
            f"- the estimates learn their pace from finished jobs: one warm-up job of the same "
            f"study ran alone first ({ours.warmup_s:.1f} s from POST to completed)"
        )
    return [*lines, *_first_answers(ours), ""]


def _after(at: float | None, queued: float | None) -> str:
    return "-" if at is None or queued is None else f"{at - queued:.2f} s"


def describe_probe(ours: OursRun) -> list[str]:
    """The interactive job behind the batch, beside what the batch's jobs waited."""
    lines = ["## The interactive job behind the batch (issue 18 item 2)", ""]
    probe = ours.probe
    if probe is None:
        return [*lines, f"No figures: {ours.probe_error or 'not asked for (--no-probe)'}.", ""]
    batch = ours.burst.job_ids
    last = batch[-1]
    waits = [ours.started[j] - ours.requested[j] for j in batch if j in ours.started]
    first_start = min((ours.started[j] for j in batch if j in ours.started), default=None)
    mine = [_after(at, probe.queued_s) for at in (probe.started_s, probe.first_slice_s)]
    mine.append(_after(probe.ended_s, probe.queued_s))
    queued = ours.requested.get(last)
    theirs = [
        _after(at, queued)
        for at in (
            ours.started.get(last),
            ours.contender.first_slice_last_job_s,
            ours.finished.get(last),
        )
    ]
    return [
        *lines,
        f"One job of another tenant (`{PROBE_TENANT}`; the same {probe.slices_total}-slice "
        'study, copied under that tenant\'s own prefix), `POST /jobs` with `"priority": '
        "\"interactive\"`, sent once the batch's first job was seen running: the batch's first "
        f"job started at {_s(first_start)}, the probe was posted at {probe.posted_s:.1f} s and "
        f"queued (its `requestedAt`) at {_s(probe.queued_s)} from the burst's start. It ended "
        f"{probe.status}.",
        "",
        f"**Interactive job behind the batch: started {mine[0]} after it was queued, finished "
        f"{mine[2]}.** The batch's last-submitted job started {theirs[0]} after it was queued, "
        f"had its first slice {theirs[1]} after and ended {theirs[2]} after; the batch's jobs "
        f"waited {statistics.median(waits) if waits else float('nan'):.1f} s for their start "
        f"(median of {len(waits)}).",
        "",
        "| seconds after queued | started | first slice | ended |",
        "|---|---:|---:|---:|",
        "| interactive job behind the batch | " + " | ".join(mine) + " |",
        "| batch: last-submitted job | " + " | ".join(theirs) + " |",
        "",
    ]


def _s(at: float | None) -> str:
    return "-" if at is None else f"{at:.1f} s"


def render(
    head: Sequence[str],
    contenders: Sequence[Contender],
    commands: dict[str, str],
    skipped: Sequence[Skipped],
    ours: OursRun | None,
) -> str:
    lines = [*head, "## Side by side", ""]
    lines.append(render_table(contenders) if contenders else "Nothing ran.")
    lines.append("")
    for gone in skipped:
        lines.append(f"**{gone.name} did not run:** {gone.reason}")
        lines.append("")
    lines += [
        "Seconds count from the first submission (ours) or the first process started (the "
        "tools). Process count and summed RSS: every process of the contender's trees (ours: "
        "every service with its children, Kafka, Postgres and S3Proxy), sampled every 100 ms "
        "from /proc (a process living less than that can be missed; summed RSS counts shared "
        "library pages once per process). Memory taken: the largest fall of the machine's "
        "MemAvailable from the start of the run (includes anything else the machine did "
        "meanwhile). CPU-seconds: ours, user+system of the stack's process trees over the "
        "burst; the tools, the bench's RUSAGE_CHILDREN over the run (every process they "
        "started, exactly).",
        "",
        "## Each contender",
        "",
    ]
    for contender in contenders:
        lines += describe_contender(contender, commands.get(contender.name, "-"))
    if ours is not None:
        lines += describe_probe(ours)
        lines += describe_queue(ours)
    return "\n".join(lines)
