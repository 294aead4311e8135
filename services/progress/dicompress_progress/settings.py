"""Settings of the progress worker: its consumer group, web port and retry pacing."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from dicompress_infra.settings import CommonSettings


def _default_data_dir() -> Path:
    return Path(".dicompress") / "progress"


class ProgressSettings(CommonSettings):
    """Environment: the common names plus PROGRESS_* (e.g. PROGRESS_WEB_PORT)."""

    progress_group_id: str = Field(
        default="dicompress-progress",
        description="Faust app id, used as the Kafka consumer group id",
    )
    progress_web_bind: str = Field(
        default="127.0.0.1", description="Interface the /healthz web server binds to"
    )
    progress_web_port: int = Field(
        default=18001, ge=1, le=65535, description="Port of GET /healthz"
    )
    progress_data_dir: Path = Field(
        default_factory=_default_data_dir,
        description="Faust's data directory, relative to the working directory unless absolute "
        "(no tables are kept, but faust insists on one)",
    )
    progress_db_pool_size: int = Field(
        default=4, ge=1, le=64, description="Most Postgres connections the worker holds"
    )
    progress_db_startup_timeout_s: float = Field(
        default=60,
        gt=0,
        description="How long start-up waits for Postgres before giving up (the worker exits)",
    )
    progress_batch_max: int = Field(
        default=500,
        ge=1,
        le=10_000,
        description="Most events recorded in one Postgres transaction (batches form only when "
        "events are waiting; a lone event is recorded at once)",
    )
    progress_event_loop: Literal["asyncio", "uvloop"] = Field(
        default="uvloop",
        description="Event loop of the worker: uvloop (faust's -L uvloop) cuts the per-message "
        "cost of faust, aiokafka and asyncpg (see bench/bench_progress.py)",
    )
    progress_session_timeout_s: float = Field(
        default=30,
        ge=6,
        le=300,
        description="Kafka group session timeout: how long a crashed worker's partitions wait "
        "before another worker gets them (heartbeats go every tenth of it)",
    )
    progress_retry_base_s: float = Field(
        default=0.2, gt=0, description="First pause before retrying an event that failed"
    )
    progress_retry_cap_s: float = Field(
        default=30, gt=0, description="Longest pause between retries of a failing event"
    )
    progress_poison_attempts: int = Field(
        default=3,
        ge=1,
        description="Attempts before an event whose own content is rejected is dead-lettered",
    )

    @property
    def projected_topics(self) -> list[str]:
        """Every topic the projection reads, live (`app`) and in a replay (`replay`)."""
        topics = self.topics
        return [
            *topics.compressor_requests,
            topics.events,
            topics.control,
            topics.ingest_requests,
            topics.ingest_events,
            topics.render_requests,
        ]
