"""Settings of the notifier: where it listens and how much it remembers."""

from __future__ import annotations

from pydantic import Field

from dicompress_infra.settings import CommonSettings


class NotifierSettings(CommonSettings):
    """Environment: the common names plus NOTIFIER_* (e.g. NOTIFIER_PORT)."""

    notifier_host: str = Field(default="127.0.0.1", description="Interface the server binds to")
    notifier_port: int = Field(
        default=18765, ge=0, le=65535, description="Port of ws://host:port/ws and /healthz"
    )
    notifier_history_window_s: float = Field(
        default=900,
        gt=0,
        description="How far back the in-memory cache is warmed from Kafka at start, and how long "
        "a finished job stays cached; older history is read from Postgres",
    )
    notifier_max_jobs_cached: int = Field(
        default=1000,
        ge=1,
        description="Cap on jobs held in memory (the least recently active go first)",
    )
    notifier_max_queue: int = Field(
        default=1000,
        ge=1,
        description="Live events a subscription may hold undelivered before its connection is "
        "closed with code 1013 (the client resubscribes with since_seq)",
    )
