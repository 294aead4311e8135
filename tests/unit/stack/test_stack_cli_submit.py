"""`dicompress submit` and `watch` without a stack: their arguments, the request they build, and
the client's pure rules (apply each seq once, resume from the last one, back off with jitter)."""

from __future__ import annotations

import argparse
import itertools
import random
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from dicompress_stack.cli import build_parser, job_request
from dicompress_stack.client import JobProgress, backoff_delays
from dicompress_stack.errors import StackError
from dicompress_stack.watch import line, outcome

JOB = "7d4cbe5c-21b3-4bb6-9d4c-5c3fd4a1e0b1"


def parse(*argv: str) -> argparse.Namespace:
    args, rest = build_parser().parse_known_args(list(argv))
    assert rest == []
    return args


def test_submit_takes_the_source_and_the_options() -> None:
    args = parse(
        "submit",
        "s3://data/acme/ct-1/",
        "--target",
        "s3://data/acme/out/",
        "--rate",
        "20",
        "--codec",
        "htj2k-lossy",
        "--anonymize",
        "--watch",
        "--tenant",
        "acme",
    )
    assert args.command == "submit"
    assert (args.source, args.target, args.rate, args.codec) == (
        "s3://data/acme/ct-1/",
        "s3://data/acme/out/",
        20.0,
        "htj2k-lossy",
    )
    assert args.anonymize
    assert args.watch
    assert job_request(args) == {
        "s3SourceUri": "s3://data/acme/ct-1/",
        "s3TargetUri": "s3://data/acme/out/",
        "compressionRate": 20.0,
        "codec": "htj2k-lossy",
        "anonymize": True,
    }


def test_submit_leaves_defaults_to_the_api_and_targets_the_tenant_prefix() -> None:
    args = parse("submit", "s3://data/demo/ct-1/")
    assert job_request(args) == {
        "s3SourceUri": "s3://data/demo/ct-1/",
        "s3TargetUri": "s3://data/demo/results/",
    }
    assert not args.watch


@pytest.mark.parametrize(
    "argv",
    [
        ("submit",),  # no source
        ("submit", "s3://b/p/", "--codec", "gif"),
        ("submit", "s3://b/p/", "--rate", "fast"),
        ("watch", "not-a-uuid"),
    ],
)
def test_bad_arguments_are_refused(
    argv: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(list(argv))
    assert exit_info.value.code == 2
    assert "usage: dicompress" in capsys.readouterr().err


def test_a_source_that_is_no_s3_uri_is_a_clear_error() -> None:
    with pytest.raises(StackError, match="SOURCE_URI 'data/ct-1'"):
        job_request(parse("submit", "data/ct-1"))


def test_watch_takes_a_job_id() -> None:
    args = parse("watch", JOB)
    assert args.job_id == uuid.UUID(JOB)
    assert args.tenant == "demo"


def event(seq: int, kind: str, **fields: Any) -> dict[str, Any]:
    return {"op": "event", "job_id": JOB, "seq": seq, "event": {"type": kind, "seq": seq, **fields}}


def sliced(seq: int, index: int, total: int = 3) -> dict[str, Any]:
    return event(seq, "SliceEncoded", slice_index=index, total_slices=total)


def test_each_seq_is_applied_once_whatever_a_resume_replays() -> None:
    progress = JobProgress(JOB)
    first = [event(0, "CompressionRequested"), event(1, "JobStarted", total_slices=3)]
    first += [sliced(2, 0), sliced(3, 1)]
    assert all(progress.apply(frame) for frame in first)
    assert (progress.last_seq, progress.done, progress.total) == (3, 2, 3)
    # the connection dropped; the resumed stream (since_seq=3) may overlap what we have
    replay = [sliced(3, 1), sliced(4, 2), event(5, "JobCompleted", ratio=9.5)]
    assert [progress.apply(frame) for frame in replay] == [False, True, True]
    assert progress.duplicates == 1
    assert progress.applied == 6
    assert progress.done == 3
    assert progress.status == "completed"
    assert progress.finished
    assert progress.terminal is not None
    assert progress.terminal["ratio"] == 9.5


def test_a_snapshot_sets_the_counts_and_an_older_one_is_ignored() -> None:
    progress = JobProgress(JOB)
    snapshot = {
        "op": "snapshot",
        "job_id": JOB,
        "seq": 10,
        "job": {
            "status": "running",
            "slices_total": 20,
            "slices_done": 8,
            "slices_failed": 1,
        },
    }
    assert progress.apply(snapshot)
    assert (progress.last_seq, progress.done, progress.failures, progress.total) == (10, 8, 1, 20)
    assert not progress.apply({**snapshot, "seq": 9})
    assert not progress.apply(sliced(10, 7, total=20))  # already reflected by the snapshot
    assert progress.apply(sliced(11, 9, total=20))
    assert progress.done == 9
    # a job not known yet: seq -1 and no job; nothing changes
    assert not JobProgress(JOB).apply({"op": "snapshot", "job_id": JOB, "seq": -1, "job": None})


def test_coalesced_progress_names_its_slices_and_a_terminal_snapshot_ends_the_watch() -> None:
    progress = JobProgress(JOB)
    progress.apply(event(1, "JobStarted", total_slices=5))
    frame = {
        "op": "progress",
        "job_id": JOB,
        "seq": 4,
        "slices_total": 5,
        "slices_done": 3,
        "slice_indexes": [0, 1, 2],
        "coalesced": 3,
    }
    assert progress.apply(frame)
    assert progress.encoded == {0, 1, 2}
    assert progress.unnamed_encoded == 0
    assert not progress.apply(frame)  # the same seq again
    ended = {"op": "snapshot", "job_id": JOB, "seq": 9, "job": {"status": "cancelled"}}
    assert progress.apply(ended)
    assert progress.finished
    assert outcome(progress) == f"job {JOB} cancelled"


def test_frames_that_are_not_progress_change_nothing() -> None:
    progress = JobProgress(JOB)
    for frame in ({"op": "subscribed", "job_id": JOB}, {"op": "gap", "since_seq": 4}, {"op": 1}):
        assert not progress.apply(frame)
    assert progress.last_seq == -1


def test_outcome_of_a_completed_job_gives_its_figures() -> None:
    progress = JobProgress(JOB)
    progress.apply(
        event(
            5,
            "JobCompleted",
            slices_encoded=3,
            slices_failed=0,
            ratio=10.04,
            artifact_uri="s3://b/acme/results/ct.zip",
        )
    )
    assert outcome(progress) == (
        f"job {JOB} completed: 3 slices encoded, 0 failed, ratio 10.0:1, ZIP s3://b/acme/results/ct.zip"
    )


def test_the_end_says_completed_with_failed_slices_in_capitals() -> None:
    progress = JobProgress(JOB)
    progress.apply(event(1, "JobStarted", total_slices=3))
    progress.apply(
        event(
            5,
            "JobCompleted",
            slices_encoded=2,
            slices_failed=1,
            ratio=10.0,
            artifact_uri="s3://b/acme/results/ct.zip",
        )
    )
    assert outcome(progress).startswith(f"job {JOB} completed WITH FAILED SLICES")
    assert "2 slices encoded, 1 failed" in outcome(progress)


def test_backoff_doubles_to_its_cap_with_jitter_in_the_upper_half() -> None:
    seeded = random.Random(7)  # noqa: S311 (a reproducible jitter, not cryptography)
    delays = list(itertools.islice(backoff_delays(0.5, 4.0, seeded), 7))
    ceilings = [0.5, 1.0, 2.0, 4.0, 4.0, 4.0, 4.0]
    assert all(c / 2 <= d <= c for d, c in zip(delays, ceilings, strict=True))
    assert len(set(delays)) == len(delays)  # jittered: many clients do not return in step


def test_the_figures_shown_are_the_servers_not_recomputed() -> None:
    """Slices/s, ETA and ratio come from the snapshot and figures frames as they are (the
    figures GET /jobs/{id} answers at the same seq); an older set never replaces a newer one."""
    progress = JobProgress(JOB)
    now = datetime(2026, 1, 1, 10, 0, 0, tzinfo=UTC)
    figures = {"slices_per_second": 40.0, "eta_at": "2026-01-01T10:00:05+00:00", "ratio": 9.75}
    snapshot = {
        "op": "snapshot",
        "seq": 4,
        "job": {"status": "running", "slices_total": 399, "slices_done": 3, "figures": figures},
    }
    progress.apply(snapshot)
    assert progress.shown(now) == (40.0, 5.0, 9.75)
    newer = {**figures, "slices_per_second": 50.0, "ratio": 10.5}
    assert progress.apply({"op": "figures", "seq": 9, "figures": newer})
    assert not progress.apply({"op": "figures", "seq": 6, "figures": figures})  # older
    assert progress.shown(now) == (50.0, 5.0, 10.5)
    assert line(progress, now, width=10) == (
        "3/399 slices [..........] 50.0 slices/s, ETA 5 s, ratio 10.5:1"
    )
    progress.apply(event(10, "JobCompleted", slices_encoded=399, slices_failed=0, ratio=10.25))
    assert progress.shown(now) == (None, None, 10.25)  # over: no pace, the exact ratio
