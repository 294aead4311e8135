"""Topic names, defined once; a prefix gives tests (or a shared cluster) their own set."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

REQUESTS = "compression.requests"
INTERACTIVE = "compression.interactive"
TASKS = "compression.tasks"
INTERACTIVE_TASKS = "compression.interactive.tasks"
EVENTS = "compression.events"
CONTROL = "compression.control"
DEAD_LETTER = "compression.dead-letter"
INGEST_REQUESTS = "ingest.requests"
INGEST_EVENTS = "ingest.events"
RENDER_REQUESTS = "render.requests"

# Partitions per topic: requests and events bound how many compressors and projection workers
# share the load; control (commands every compressor must see) and dead-letter are small.
# Ingest topics: one partition per ingest worker, like the requests.
PARTITIONS = {
    REQUESTS: 4,
    INTERACTIVE: 4,
    # slice-range tasks: any compressor takes any of them, so more compressors than the
    # requests' partitions can share one job (KEDA scales on this topic's lag too)
    TASKS: 16,
    INTERACTIVE_TASKS: 16,
    EVENTS: 4,
    CONTROL: 1,
    DEAD_LETTER: 1,
    INGEST_REQUESTS: 4,
    INGEST_EVENTS: 4,
    RENDER_REQUESTS: 4,
}


class Lane(StrEnum):
    """Which request topic a compressor job waits on (docs/SCHEDULING.md). A compressor serves
    both at once over one encoder pool, interactive slices first, so a job a person waits for
    (a preview, a Mini CT, a single study) never queues behind another clinic's batch."""

    INTERACTIVE = "interactive"
    BATCH = "batch"


@dataclass(frozen=True)
class Topics:
    """The topics of one deployment.

    requests: `CompressionRequested`, keyed by job id: the batch lane; the compressors'
        consumer group reads it.
    interactive: the same requests (and the `ProductRequested` of previews and Mini CTs) in
        the interactive lane; the compressors' interactive group reads it.
    tasks, interactive_tasks: `SliceRangeRequested`, the slices of a large job in ranges
        (`dicompress_schemas.tasks`), keyed by task id, one topic per lane; the compressors'
        tasks groups read them.
    events: every later event of a job, keyed by job id so a job's events keep their order.
    control: commands to running jobs (`CancelRequested`), keyed by job id; every compressor
        reads all of it (no consumer group), since any of them may hold the job.
    dead_letter: what could not be decoded or applied, with the reason in a header.
    ingest_requests: `ArchiveUploaded`, keyed by ingest id; the ingest workers' group reads it.
    ingest_events: everything that happens to an ingest after that, keyed by ingest id.
    render_requests: the `ProductRequested` of thumbnails and snapshots, keyed by job id; the
        renderers' group reads it (previews go to `interactive`: the compressor makes them). Their
        later events go to `events`, like any job's.
    """

    prefix: str = ""

    @property
    def requests(self) -> str:
        return self.prefix + REQUESTS

    @property
    def interactive(self) -> str:
        return self.prefix + INTERACTIVE

    def lane(self, lane: Lane) -> str:
        """The request topic of `lane`."""
        return self.interactive if lane is Lane.INTERACTIVE else self.requests

    def lane_of(self, topic: str) -> Lane | None:
        """The lane whose request topic `topic` is (None for any other topic)."""
        return {self.interactive: Lane.INTERACTIVE, self.requests: Lane.BATCH}.get(topic)

    @property
    def compressor_requests(self) -> tuple[str, str]:
        """Both lanes' request topics: what readers of every request (the projection, the
        notifier) consume."""
        return (self.interactive, self.requests)

    @property
    def tasks(self) -> str:
        return self.prefix + TASKS

    @property
    def interactive_tasks(self) -> str:
        return self.prefix + INTERACTIVE_TASKS

    def task_topic(self, lane: Lane) -> str:
        """The tasks topic of `lane`: each lane's tasks have a loop of their own on every
        compressor, so an interactive job's ranges never wait behind a batch job's."""
        return self.interactive_tasks if lane is Lane.INTERACTIVE else self.tasks

    @property
    def events(self) -> str:
        return self.prefix + EVENTS

    @property
    def control(self) -> str:
        return self.prefix + CONTROL

    @property
    def dead_letter(self) -> str:
        return self.prefix + DEAD_LETTER

    @property
    def ingest_requests(self) -> str:
        return self.prefix + INGEST_REQUESTS

    @property
    def ingest_events(self) -> str:
        return self.prefix + INGEST_EVENTS

    @property
    def render_requests(self) -> str:
        return self.prefix + RENDER_REQUESTS

    def all(self) -> tuple[str, ...]:
        return (
            self.requests,
            self.interactive,
            self.tasks,
            self.interactive_tasks,
            self.events,
            self.control,
            self.dead_letter,
            self.ingest_requests,
            self.ingest_events,
            self.render_requests,
        )

    def layout(self) -> list[tuple[str, int]]:
        """(name, partitions) of every topic, for whoever creates them."""
        return [(self.prefix + name, count) for name, count in PARTITIONS.items()]
