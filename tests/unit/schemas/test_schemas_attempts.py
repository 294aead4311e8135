"""The attempts rule: a re-run's failure lands past every seq an earlier run may have used, and
the marker format, old markers included."""

from __future__ import annotations

import uuid

import pytest

from dicompress_schemas.attempts import (
    Attempt,
    AttemptMarker,
    decode_marker,
    encode_marker,
    floor_after,
    ingest_attempts_folder,
    ingest_ceiling,
    job_attempts_folder,
    job_ceiling,
    next_attempt,
    terminal_seq,
)
from dicompress_schemas.envelope import SEQ_MAX


def test_a_marker_round_trips_with_and_without_its_ceiling() -> None:
    for marker in (AttemptMarker("compressor-1", 402), AttemptMarker("ingest-a")):
        assert decode_marker(encode_marker(marker)) == marker
    assert encode_marker(AttemptMarker("w", 7)) == b'{"worker": "w", "ceiling": 7}'


@pytest.mark.parametrize(
    ("body", "marker"),
    [
        (b"compressor-host-42", AttemptMarker("compressor-host-42")),  # before the rule
        (b"", AttemptMarker("")),
        (b"[1, 2]", AttemptMarker("[1, 2]")),  # JSON, but not ours
        (b'{"worker": "w", "ceiling": 0}', AttemptMarker("w")),  # no seq is 0 or less
        (b'{"worker": "w", "ceiling": true}', AttemptMarker("w")),  # a bool is no count
        (b'{"worker": "w", "ceiling": "12"}', AttemptMarker("w")),
        (b'{"ceiling": 5}', AttemptMarker("", 5)),
        (b"\xff\xfe", AttemptMarker("\ufffd\ufffd")),  # never fails
    ],
)
def test_a_marker_not_written_by_the_rule_reads_without_a_ceiling(
    body: bytes, marker: AttemptMarker
) -> None:
    assert decode_marker(body) == marker


def test_the_first_run_has_floor_one_so_its_failure_takes_the_next_seq() -> None:
    first = next_attempt([])
    assert first == Attempt(1, 1)
    assert terminal_seq(1, first.floor) == 1  # refused before anything: JobFailed at seq 1
    assert terminal_seq(5, first.floor) == 5  # no gap before the end of a first run


def test_a_rerun_fails_past_every_ceiling_an_earlier_run_recorded() -> None:
    # run 1 recorded 10 slices (ceiling 12) and was killed; run 2 crashed before its ceiling
    earlier = [AttemptMarker("a", job_ceiling(10)), AttemptMarker("b")]
    third = next_attempt(earlier)
    assert third == Attempt(3, 13)
    assert terminal_seq(1, third.floor) == 13  # fails before JobStarted: past seq 12
    assert terminal_seq(4, third.floor) == 13  # fails after two slices: same
    assert terminal_seq(20, third.floor) == 20  # got further than run 1: no gap


def test_markers_from_before_the_rule_raise_no_floor() -> None:
    assert next_attempt([decode_marker(b"old-worker")]) == Attempt(2, 1)
    assert floor_after([None, 3, None, 9]) == 10


def test_the_floor_never_passes_the_highest_seq_a_reader_accepts() -> None:
    assert floor_after([SEQ_MAX]) == SEQ_MAX
    assert ingest_ceiling(SEQ_MAX) == SEQ_MAX
    assert job_ceiling(SEQ_MAX - 1) == SEQ_MAX


def test_ceilings_follow_each_seq_scheme() -> None:
    # JobStarted 1, slices or images 2..N+1, JobCompleted N+2
    assert job_ceiling(0) == 2
    assert job_ceiling(399) == 401
    # IngestStarted 1, members 2..M+1 (M at most the cap), the end right after the last
    assert ingest_ceiling(100_000) == 100_002


def test_markers_live_under_the_tenants_prefix() -> None:
    job, ingest = uuid.UUID(int=1), uuid.UUID(int=2)
    assert job_attempts_folder("acme", job) == f"acme/jobs/{job}/attempts/"
    assert ingest_attempts_folder("acme", ingest) == f"acme/ingests/{ingest}/attempts/"
