"""Runs of a job or an ingest (attempts), and the seq a re-run's failure takes.

Every event of a run has a deterministic id from (stream, seq), so a re-run after a crash
re-emits the same identities and readers keep the first event of each seq. A re-run that ends
*differently* would lose its end that way: if it fails earlier than its crashed first run had
got, its terminal event takes a seq the first run already used, every reader drops it, and the
job stays `running` for ever. The rule that prevents it, the same for every worker:

- A run records, in its attempt marker, the highest seq it may use (its *ceiling*:
  `job_ceiling`, `ingest_ceiling`) before it emits any event but a failure at seq 1.
- A run whose terminal event is not its natural completion (a failure, a cancel) puts it at
  `terminal_seq(next_seq, floor)`, where the floor lies past every ceiling the earlier runs
  recorded (`next_attempt`): beyond anything they can have written. The natural completion
  keeps its fixed seq, so a re-run after a crash that came after the first run's end re-emits
  the same id.

A re-run's failure can so leave a hole in the seqs before it (those the first run would have
used); the terminal event is the stream's last, and readers that wait on holes must let it
through (see docs/FAULTS.md).

Markers are small objects `<n>` (1, 2, ...) in an attempts folder (`job_attempts_folder`,
`ingest_attempts_folder`), their body `encode_marker`'s JSON. A marker written before this rule
holds the worker's name alone and reads as ceiling None: it raises no floor. Pure: each service
reads and writes the markers through its own storage adapter.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from dicompress_schemas.envelope import SEQ_MAX
from dicompress_schemas.naming import job_folder

ATTEMPTS_FOLDER = "attempts/"


def job_attempts_folder(tenant: str, job_id: uuid.UUID) -> str:
    """The markers of a job's runs (a compression or a product), in its own folder."""
    return f"{job_folder(tenant, job_id)}{ATTEMPTS_FOLDER}"


def ingest_attempts_folder(tenant: str, ingest_id: uuid.UUID) -> str:
    """The markers of an ingest's runs, beside what the ingest keeps of its upload."""
    return f"{tenant}/ingests/{ingest_id}/{ATTEMPTS_FOLDER}"


@dataclass(frozen=True)
class AttemptMarker:
    """What one run recorded: who ran it and the highest seq it may use (None: not known yet,
    or a marker from before the rule)."""

    worker: str
    ceiling: int | None = None


def encode_marker(marker: AttemptMarker) -> bytes:
    """A marker's body: `{"worker": ..., "ceiling": N or null}`."""
    return json.dumps({"worker": marker.worker, "ceiling": marker.ceiling}).encode()


def decode_marker(body: bytes) -> AttemptMarker:
    """A marker from its body. Never fails: a body that is not ours (a marker from before the
    rule holds the worker's name alone) is a marker without a ceiling."""
    text = body.decode("utf-8", "replace")
    try:
        found = json.loads(text)
    except ValueError:
        return AttemptMarker(text)
    if not isinstance(found, dict):
        return AttemptMarker(text)
    worker, ceiling = found.get("worker"), found.get("ceiling")
    usable = isinstance(ceiling, int) and not isinstance(ceiling, bool) and ceiling >= 1
    return AttemptMarker(worker if isinstance(worker, str) else "", ceiling if usable else None)


@dataclass(frozen=True)
class Attempt:
    """This run: its number (1 for the first), and the lowest seq its failure or cancel may
    take (1 when no earlier run recorded a ceiling)."""

    number: int
    floor: int = 1


def floor_after(ceilings: Iterable[int | None]) -> int:
    """1 + the highest ceiling recorded (unknown ones ignored), at most SEQ_MAX."""
    highest = max((c for c in ceilings if c is not None), default=0)
    return min(highest + 1, SEQ_MAX)


def next_attempt(earlier: Sequence[AttemptMarker]) -> Attempt:
    """The run after the `earlier` ones recorded."""
    return Attempt(len(earlier) + 1, floor_after(m.ceiling for m in earlier))


def terminal_seq(next_seq: int, floor: int) -> int:
    """The seq of a run's failure or cancel: right after its last event, and never on a seq an
    earlier run may have used."""
    return max(next_seq, floor)


def job_ceiling(items: int) -> int:
    """A job of `items` slices or images: JobStarted 1, items at 2..items+1, its completion at
    items+2."""
    return min(items + 2, SEQ_MAX)


def ingest_ceiling(max_members: int) -> int:
    """An ingest of at most `max_members` members (its cap: the count is known only once the
    archive is read): IngestStarted 1, members at 2..max_members+1, its end right after."""
    return min(max_members + 2, SEQ_MAX)
