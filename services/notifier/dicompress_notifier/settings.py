"""Settings of the notifier: where it listens, how much it remembers, and its limits."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from dicompress_infra.settings import CommonSettings, NameList


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
        ge=2,
        description="Frames a connection may hold unsent (after coalescing) before it is closed "
        "with code 1013 (the client resubscribes with since_seq)",
    )
    notifier_coalesce_after: int = Field(
        default=100,
        ge=1,
        description="Unsent frames from which a connection counts as lagging: its pending "
        "SliceEncoded frames of a job are then folded into one 'progress' frame (latest wins); "
        "must be below notifier_max_queue",
    )
    notifier_ping_interval_s: float | None = Field(
        default=20,
        gt=0,
        description="Seconds between the server's WebSocket pings (None: no pings)",
    )
    notifier_ping_timeout_s: float | None = Field(
        default=20,
        gt=0,
        description="Seconds to wait for a pong before closing the connection with 1011",
    )
    notifier_idle_timeout_s: float = Field(
        default=60,
        gt=0,
        description="A connection with no subscription that sends no frame for this long is "
        "closed with 1000",
    )
    notifier_max_frame_bytes: int = Field(
        default=64 * 1024,
        ge=256,
        description="Largest client frame accepted; a bigger one closes the connection with 1009",
    )
    notifier_allowed_origins: NameList = Field(
        default_factory=list,
        description="Origin headers accepted at the handshake (e.g. http://127.0.0.1:18080); "
        "empty: any. Requests without an Origin (non-browser clients) are always accepted",
    )
    notifier_command_timeout_s: float = Field(
        default=10,
        gt=0,
        description="How long a client's cancel waits for the broker's ack before an error frame",
    )
    notifier_send_buffer_bytes: int | None = Field(
        default=None,
        ge=4096,
        description="SO_SNDBUF of client sockets (None: the OS default); smaller bounds the "
        "kernel memory per connection and makes a stalled client's lag visible sooner",
    )

    notifier_end_after_projection: bool = Field(
        default=True,
        description="Send a job's terminal event only once the projection has applied it, so "
        "that GET /jobs/{id} answers the end (and the artifact is listed) from the moment a "
        "client hears it; the live stream is usually a few ms ahead of the projection. Off "
        "only to test the relay without a projection",
    )

    notifier_compression: Literal["none", "deflate"] = Field(
        default="none",
        description="permessage-deflate on client connections: 'deflate' accepts it when the "
        "client offers it, 'none' never. Off by default: our frames are small JSON, and in the "
        "fan-out benchmark deflate cost more CPU per frame and memory per connection than the "
        "bytes it saved on loopback or a LAN (see docs/notifier-protocol.md)",
    )

    notifier_gc_young_threshold: int = Field(
        default=50_000,
        ge=700,
        description="CPython's young-generation GC threshold (its default is 700): higher "
        "keeps full collections, which stop the event loop for up to a second with 10,000 "
        "connections, rare (see dicompress_notifier.gctune)",
    )

    @model_validator(mode="after")
    def _coalesce_below_limit(self) -> NotifierSettings:
        if self.notifier_coalesce_after >= self.notifier_max_queue:
            raise ValueError(
                f"NOTIFIER_COALESCE_AFTER ({self.notifier_coalesce_after}) must be below "
                f"NOTIFIER_MAX_QUEUE ({self.notifier_max_queue})"
            )
        return self
