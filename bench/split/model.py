"""The model of one study's wall time over W workers (one encoder core each), fitted on the
1-worker runs with splitting on and checked against the 2-worker runs:

    wall(W) = fixed + N x t_slice / W + assembly

- fixed: requestedAt to JobStarted (the request taken, the source's headers read and laid
  out): the same whatever W, since only the owner does it;
- t_slice: one worker's encode span (JobStarted to its last range stored) / N: the encoder's
  time per slice on one core, with the download and store around it;
- assembly: the last range stored to finishedAt: the owner's fetch of what it had not fetched
  yet into the ZIP, then the manifest and the ZIP's completion.

The N / W term assumes the slices dealt evenly. They are dealt in ranges (`size` slices; 399
make 13 of 32), a job's ranges on consecutive partitions of the tasks topic from one its id
picks, the partitions dealt round-robin over the workers (aiokafka's default assignor), and
each worker makes its ranges one after another. So the encode span is the most slices any one
worker got, never under one range, and no more than `partitions` workers get any: `ranged` is
the model with that term, averaged over where the job's ranges start. With every range
made at once, the owner is left with all but the first range to fetch after the first one ends:
`fetch_per_slice` (the bench's own fetch of the stored slices, 16 at once) x (N - size) more.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from bench.split.job import JobRun

from dicompress_schemas.tasks import slice_ranges
from dicompress_schemas.topics import PARTITIONS, TASKS

TRIALS = 20_000


@dataclass(frozen=True)
class Fit:
    slices: int
    size: int  # slices per range
    fixed_s: float
    t_slice_s: float
    assembly_s: float
    fetch_per_slice_s: float | None  # the probe's seconds / N, when measured
    cpu_s: float | None = None  # CPU seconds of the whole stack per job
    partitions: int = PARTITIONS[TASKS]

    @property
    def serial_s(self) -> float:
        """What no number of workers shortens (the simple model's floor)."""
        return self.fixed_s + self.assembly_s

    def simple(self, workers: int) -> float:
        return self.fixed_s + self.slices * self.t_slice_s / workers + self.assembly_s

    def ranged(self, workers: int, busiest: float | None = None) -> float:
        """With ranges: the busiest worker's slices (`busiest`, else its expectation), and
        when every range runs at once (no more ranges than workers) the owner's catch-up."""
        load = self.expected_busiest(workers) if busiest is None else busiest
        catch_up = 0.0
        ranges = len(slice_ranges(self.slices, self.size))
        if workers >= ranges and self.fetch_per_slice_s is not None:
            catch_up = (self.slices - self.size) * self.fetch_per_slice_s
        return self.fixed_s + load * self.t_slice_s + self.assembly_s + catch_up

    def expected_busiest(self, workers: int) -> float:
        """The most slices one worker gets, averaged over where a job's ranges start: range k
        goes to partition (start + k) mod P (`publish_task`), partition p to worker p mod W
        (round-robin over the members)."""
        sizes = [len(r) for r in slice_ranges(self.slices, self.size)]
        members = min(workers, self.partitions)
        total = 0
        for start in range(self.partitions):
            loads = [0] * members
            for k, size in enumerate(sizes):
                loads[((start + k) % self.partitions) % members] += size
            total += max(loads)
        return total / self.partitions


def _median(values: Sequence[float | None]) -> float:
    found = [v for v in values if v is not None]
    if not found:
        raise ValueError("no run gave this figure")
    return statistics.median(found)


def fit(one_worker: Sequence[JobRun], size: int) -> Fit:
    """The model's parts: medians of the 1-worker runs with splitting on (ranges of `size`)."""
    first = one_worker[0]
    fetched = [r.fetch_s for r in one_worker if r.fetch_s is not None]
    return Fit(
        slices=first.slices,
        size=size,
        fixed_s=_median([r.fixed_s for r in one_worker]),
        t_slice_s=_median([r.encode_s for r in one_worker]) / first.slices,
        assembly_s=_median([r.tail_s for r in one_worker]),
        fetch_per_slice_s=statistics.median(fetched) / first.slices if fetched else None,
        cpu_s=statistics.median(sum(r.cpu.values()) for r in one_worker),
    )


def busiest(run: JobRun, size: int) -> int:
    """The most slices one worker made in `run` (the last range may be shorter)."""
    return max(
        (sum(min(size, run.slices - f) for f in firsts) for firsts in run.ranges.values()),
        default=run.slices,
    )
