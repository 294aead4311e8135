"""The ingest service's settings: the common ones plus its own, all from the environment."""

from __future__ import annotations

import os
import socket

from pydantic import Field

from dicompress_infra.settings import CommonSettings, NameList


def _default_worker_id() -> str:
    return f"ingest-{socket.gethostname()}-{os.getpid()}"


class IngestSettings(CommonSettings):
    """Environment names are the field names in upper case (INGEST_MAX_MEMBERS, ...)."""

    ingest_group_id: str = Field(
        default="dicompress-ingest",
        description="Kafka consumer group of every ingest instance: each upload goes to one",
    )
    ingest_health_host: str = Field(
        default="127.0.0.1", description="Address of the health endpoint (0.0.0.0 in a container)"
    )
    ingest_health_port: int = Field(
        default=18030, ge=0, le=65535, description="Port of GET /healthz (0: any free port)"
    )
    ingest_worker_id: str = Field(
        default_factory=_default_worker_id, description="Name of this instance in its events"
    )
    ingest_allowed_buckets: NameList = Field(
        default_factory=lambda: ["dicompress-data"],
        description="The only buckets uploads are read from and instances written to; keep it "
        "the same as API_ALLOWED_BUCKETS",
    )
    ingest_store_threads: int = Field(
        default=4, ge=1, le=64, description="Instances written to S3 at once"
    )
    ingest_max_members: int = Field(
        default=100_000, ge=1, description="Files one archive may hold (folders excluded)"
    )
    ingest_max_total_bytes: int = Field(
        default=20 * 2**30, ge=1, description="Bytes one archive may expand to"
    )
    ingest_max_member_bytes: int = Field(
        default=4 * 2**30, ge=1, description="Bytes one member may expand to"
    )
    ingest_max_ratio: float = Field(
        default=100.0,
        gt=1,
        description="Expanded / archive bytes past which an archive is taken for a zip bomb "
        "(checked once it has expanded past 16 MiB; DICOM deflates about 2-10x)",
    )
