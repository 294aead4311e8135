"""The result file: the table, what each contender did, GET /queue's honesty, the machine."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bench.concurrency.ours import OursRun
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


def describe_queue(ours: OursRun) -> list[str]:
    samples = ours.burst.queue
    answers = len({s.at for s in samples})
    lines = [
        "## Queue position and ETA during the burst (issue 18 item 4)",
        "",
        f"`GET /queue` asked every second during the burst: {answers} answers, {len(samples)} "
        "job entries. Error = what the answer said minus what happened (from the jobs' "
        "`startedAt` / `finishedAt`), in seconds; positive = the estimate was later than the "
        "truth. Position error = the job's real place among the jobs queued in the same answer "
        "(1 + how many of them started before it) minus the position given.",
        "",
        f"- estimated finish: {eta_error(samples, ours.finished).describe(' s')}",
        f"- estimated start (queued jobs): {start_error(samples, ours.started).describe(' s')}",
        f"- queue position: {position_error(samples, ours.started).describe('')}",
    ]
    if ours.warmup_s is not None:
        lines.append(
            f"- the estimates learn their pace from finished jobs: one warm-up job of the same "
            f"study ran alone first ({ours.warmup_s:.1f} s from POST to completed)"
        )
    firsts: dict[str, tuple[float, float | None]] = {}
    for sample in samples:
        firsts.setdefault(sample.job_id, (sample.at, sample.estimated_finish))
    rows = [
        "",
        "The first answer that listed each job, against its real finish:",
        "",
        "| job (submission order) | asked at | position | estimated finish | actual finish |",
        "|---|---:|---:|---:|---:|",
    ]
    for number, job_id in enumerate(ours.burst.job_ids, start=1):
        first = next((s for s in samples if s.job_id == job_id), None)
        if first is None:
            rows.append(f"| {number} | - | - | - | - |")
            continue
        finish = ours.finished.get(job_id)
        rows.append(
            f"| {number} | {first.at:.1f} s | {first.position or 'running'} | "
            + ("null" if first.estimated_finish is None else f"{first.estimated_finish:.1f} s")
            + " | "
            + ("-" if finish is None else f"{finish:.1f} s")
            + " |"
        )
    return [*lines, *rows, ""]


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
        used = sorted(ours.cpu_by_service.items(), key=lambda item: -item[1])
        lines += [
            "CPU-seconds of the stack's processes over the burst: "
            + ", ".join(f"{name} {seconds:.1f}" for name, seconds in used)
            + ".",
            "",
        ]
        lines += describe_queue(ours)
    return "\n".join(lines)
