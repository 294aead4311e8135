"""Settings of the API service (env names without prefix, e.g. API_PORT, API_ALLOWED_BUCKETS)."""

from __future__ import annotations

from pydantic import Field

from dicompress_infra.settings import CommonSettings, NameList


class ApiSettings(CommonSettings):
    """Where the API listens, which buckets it lets callers touch, and how long it waits."""

    api_host: str = Field(default="127.0.0.1", description="Interface uvicorn binds to")
    api_port: int = Field(default=18000, ge=1, le=65535, description="TCP port uvicorn binds to")
    api_allowed_buckets: NameList = Field(
        default_factory=lambda: ["dicompress-data"],
        description="The only buckets a job may read from or write to (comma-separated or JSON)",
    )
    api_default_rate: float = Field(
        default=100, gt=1, le=1000, description="compressionRate when a request gives none"
    )
    api_publish_timeout_s: float = Field(
        default=10,
        gt=0,
        description="How long POST /jobs waits for the broker's ack before answering 503",
    )
    api_presign_expiry_s: int = Field(
        default=300,
        ge=1,
        le=7 * 24 * 3600,
        description="How long the presigned URLs of slices and ZIPs stay valid, in seconds",
    )
    api_viewer_notifier_url: str = Field(
        default="ws://127.0.0.1:18765/ws",
        description="The notifier's WebSocket URL as a browser reaches it; the viewer page served "
        "at /viewer/ connects there",
    )
