"""The renderer service's settings: the common ones plus its own, all from the environment."""

from __future__ import annotations

import os
import socket

from pydantic import Field

from dicompress_infra.settings import CommonSettings, NameList


def _default_worker_id() -> str:
    return f"renderer-{socket.gethostname()}-{os.getpid()}"


class RendererSettings(CommonSettings):
    """Environment names are the field names in upper case (RENDERER_HEALTH_PORT, ...)."""

    renderer_group_id: str = Field(
        default="dicompress-renderer",
        description="Kafka consumer group of every renderer instance: each request goes to one",
    )
    renderer_health_host: str = Field(
        default="127.0.0.1", description="Address of the health endpoint (0.0.0.0 in a container)"
    )
    renderer_health_port: int = Field(
        default=18050, ge=0, le=65535, description="Port of GET /healthz (0: any free port)"
    )
    renderer_worker_id: str = Field(
        default_factory=_default_worker_id, description="Name of this instance in its events"
    )
    renderer_allowed_buckets: NameList = Field(
        default_factory=lambda: ["dicompress-data"],
        description="The only buckets series are read from and images written to; keep it the "
        "same as API_ALLOWED_BUCKETS",
    )
    renderer_read_threads: int = Field(
        default=8, ge=1, le=64, description="Instances read from S3 and decoded at once"
    )
    renderer_volume_cache: int = Field(
        default=1,
        ge=0,
        le=8,
        description="Series volumes kept in memory between products, the one being read "
        "included, so the snapshot after a series' thumbnails does not read the series again. "
        "Each is a series at full resolution, 2 bytes a voxel for CT (4 for a rescale in "
        "fractions of a unit): about 210 MB for 399 slices of 512x512, held while the renderer "
        "is idle too; size the container's memory for it. 0 keeps none",
    )
    renderer_vtk_process: bool = Field(
        default=True,
        description="Render 3D snapshots in a child process (a vtk or OpenGL crash then costs a "
        "fallback image, not the service); false renders in a thread of the service",
    )
