"""The next request is the oldest waiting in the partitions a worker holds, each once."""

from __future__ import annotations

from dataclasses import dataclass

from dicompress_infra.oldest_first import OldestFirst, age


@dataclass(frozen=True)
class Rec:
    offset: int
    timestamp: int
    value: bytes | None = None


def _drain(waiting: OldestFirst[str, Rec], held: set[str]) -> list[tuple[str, int]]:
    order = []
    while (taken := waiting.take(held)) is not None:
        order.append((taken[0], taken[1].offset))
    return order


def test_requests_run_in_the_order_they_were_made_not_partition_by_partition() -> None:
    waiting: OldestFirst[str, Rec] = OldestFirst()
    # p0 got the 1st, 3rd and 6th requests; p1 the 2nd and 4th; p2 the 5th
    waiting.add({"p0": [Rec(0, 100), Rec(1, 300), Rec(2, 600)], "p1": [Rec(0, 200), Rec(1, 400)]})
    waiting.add({"p2": [Rec(0, 500)]})
    assert _drain(waiting, {"p0", "p1", "p2"}) == [
        ("p0", 0),
        ("p1", 0),
        ("p0", 1),
        ("p1", 1),
        ("p2", 0),
        ("p0", 2),
    ]
    assert len(waiting) == 0


def test_peek_shows_the_next_take_and_leaves_it_waiting() -> None:
    waiting: OldestFirst[str, Rec] = OldestFirst()
    assert waiting.peek() is None
    waiting.add({"p0": [Rec(0, 300)], "p1": [Rec(0, 100), Rec(1, 200)]})
    assert waiting.peek() == Rec(0, 100)
    assert waiting.peek() == Rec(0, 100)  # still there
    assert waiting.take({"p0", "p1"}) == ("p1", Rec(0, 100))
    assert waiting.peek() == Rec(1, 200)
    assert _drain(waiting, {"p0", "p1"}) == [("p1", 1), ("p0", 0)]


def test_a_partition_handed_over_again_is_not_doubled_and_a_taken_one_not_rerun() -> None:
    waiting: OldestFirst[str, Rec] = OldestFirst()
    waiting.add({"p0": [Rec(5, 1), Rec(6, 2), Rec(7, 3)]})
    assert waiting.take({"p0"}) == ("p0", Rec(5, 1))
    # the partition came back after a rebalance: the consumer reads it again from offset 5
    waiting.add({"p0": [Rec(5, 1), Rec(6, 2), Rec(7, 3), Rec(8, 4)]})
    assert _drain(waiting, {"p0"}) == [("p0", 6), ("p0", 7), ("p0", 8)]


def test_a_retried_record_is_taken_again_after_forget() -> None:
    waiting: OldestFirst[str, Rec] = OldestFirst()
    waiting.add({"p0": [Rec(3, 1), Rec(4, 2)]})
    assert waiting.take({"p0"}) == ("p0", Rec(3, 1))
    waiting.forget("p0")  # the loop seeks p0 back to 3
    waiting.add({"p0": [Rec(3, 1), Rec(4, 2)]})
    assert _drain(waiting, {"p0"}) == [("p0", 3), ("p0", 4)]


def test_records_of_a_partition_no_longer_held_are_dropped() -> None:
    waiting: OldestFirst[str, Rec] = OldestFirst()
    waiting.add({"p0": [Rec(0, 10)], "p1": [Rec(0, 1), Rec(1, 2)]})
    assert _drain(waiting, {"p0"}) == [("p0", 0)]  # p1 went to another worker
    assert len(waiting) == 0


def test_a_request_is_served_by_when_it_was_made_not_when_it_was_published() -> None:
    waiting: OldestFirst[str, Rec] = OldestFirst()
    made = [b'{"occurred_at": "2026-12-06T08:00:0%d.500000Z"}' % n for n in (1, 2)]
    # the second request was published first (the first one's API answer came later)
    waiting.add({"p0": [Rec(0, 1_000, made[1])], "p1": [Rec(0, 2_000, made[0])]})
    assert _drain(waiting, {"p0", "p1"}) == [("p1", 0), ("p0", 0)]
    assert age(Rec(0, 2_500, b"not json")) == 2.5  # no time of its own: the record's
