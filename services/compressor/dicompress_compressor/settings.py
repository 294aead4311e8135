"""The compressor's settings: the common ones plus its own, all from the environment."""

from __future__ import annotations

import os
import socket

from pydantic import Field

from dicompress_compressor.zipstream import MIN_PART_SIZE
from dicompress_infra.settings import CommonSettings, NameList


def _default_worker_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


class CompressorSettings(CommonSettings):
    """Environment names are the field names in upper case (COMPRESSOR_PROCESSES, ...)."""

    compressor_group_id: str = Field(
        default="dicompress-compressor",
        description="Kafka consumer group of every compressor instance: each request goes to one",
    )
    compressor_processes: int = Field(
        default_factory=lambda: os.cpu_count() or 1,
        ge=1,
        description="Encoder processes (encoding is CPU-bound: one per core)",
    )
    compressor_max_in_flight: int | None = Field(
        default=None,
        ge=1,
        description="Slices downloading or encoding at once; default 2 x processes",
    )
    compressor_health_host: str = Field(
        default="127.0.0.1", description="Address of the health endpoint (0.0.0.0 in a container)"
    )
    compressor_health_port: int = Field(
        default=18002, ge=0, le=65535, description="Port of GET /healthz (0: any free port)"
    )
    compressor_worker_id: str = Field(
        default_factory=_default_worker_id,
        description="Name of this instance in JobStarted events; default hostname-pid",
    )

    compressor_allowed_buckets: NameList = Field(
        default_factory=lambda: ["dicompress-data"],
        description="The only buckets a job may read from or write to (comma-separated or "
        "JSON); keep it the same as API_ALLOWED_BUCKETS",
    )
    compressor_part_size: int = Field(
        default=8 * 1024 * 1024,
        ge=MIN_PART_SIZE,
        description="Bytes per multipart part of the ZIP (S3 needs >= 5 MiB): the ZIP's memory",
    )
    compressor_cancel_lookback_s: float = Field(
        default=300,
        ge=0,
        description="How far back the control topic is read at start-up, so a cancel sent "
        "just before is not missed",
    )

    compressor_split_slices: int = Field(
        default=128,
        ge=0,
        description="Jobs of at least this many slices are spread over every compressor in "
        "slice-range tasks (0: never)",
    )
    compressor_split_alone: bool = Field(
        default=False,
        description="Spread jobs even while this compressor is alone in its lane's tasks group "
        "(its own tasks loop then takes every range: only to measure the tasks path, "
        "bench_split)",
    )
    compressor_task_slices: int = Field(
        default=32,
        ge=1,
        le=4096,
        description="Slices per task of a spread job: smaller ranges share a job out more evenly "
        "(13 ranges of a 399-slice study), each costs a message and a marker",
    )
    compressor_task_stall_s: float = Field(
        default=30,
        gt=0,
        description="How long a spread job's owner waits with nothing moving before it "
        "encodes the slices still missing itself",
    )

    @property
    def interactive_group_id(self) -> str:
        """The interactive lane's group: its own, so a member joining or leaving one lane
        never rebalances (and restarts) the other lane's running jobs."""
        return f"{self.compressor_group_id}.interactive"

    def groups(self) -> dict[str, str]:
        """Topic -> consumer group of everything a compressor takes: each lane's requests and
        each lane's slice-range tasks, a group each (a member joining or leaving one never
        rebalances, and restarts, the work of another); every compressor is in all four."""
        topics = self.topics
        return {
            topics.interactive: self.interactive_group_id,
            topics.requests: self.compressor_group_id,
            topics.interactive_tasks: f"{self.interactive_group_id}.tasks",
            topics.tasks: f"{self.compressor_group_id}.tasks",
        }

    @property
    def max_in_flight(self) -> int:
        """Two slices per process: one encoding, one downloading behind it."""
        return self.compressor_max_in_flight or 2 * self.compressor_processes
