"""The faust app (composition root): one thin agent over the requests, events and control topics
of jobs and the requests and events topics of ingests (the study index).

Messages are projected in batches (`batching.py`): one Postgres transaction per batch. The
agent acknowledges a message only after the projector is done with it (recorded, found to
be a duplicate, or dead-lettered). faust acks an auto-acked event even when the agent body
raises or is cancelled, which would commit the offset of an event never applied; with
`noack()` and an explicit ack after success, a stop or rebalance in the middle of a retry
leaves the offset uncommitted and the event is delivered again (harmless: tracking record).
faust commits the acknowledged offsets every few seconds (`broker_commit_interval`), so a crash
replays at most those seconds of events, each then found already recorded.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping
from typing import Any, cast

import faust
from faust.exceptions import ConsumerNotStarted
from faust.sensors import Monitor
from faust.types import TP, EventT
from faust.web import Request, Response, View

from dicompress_infra.metrics import CONTENT_TYPE, exposition, new_registry
from dicompress_progress.batching import run_batches
from dicompress_progress.handler import Message
from dicompress_progress.resources import Resources
from dicompress_progress.settings import ProgressSettings
from dicompress_progress.telemetry import ProgressMetrics


def create_app(settings: ProgressSettings) -> faust.App:
    """Build the worker: consumer group `progress_group_id`, /healthz and /metrics on
    `progress_web_port`.

    Keeps the root logger's current handlers (main() installs the JSON one) instead of faust's
    coloured console handler; `-l LEVEL` on the command line still sets the level.
    """
    # faust creates its data dir without parents; a fresh checkout has no `.dicompress/` yet.
    settings.progress_data_dir.mkdir(parents=True, exist_ok=True)
    app = faust.App(
        settings.progress_group_id,
        broker=[
            f"kafka://{server.strip()}" for server in settings.kafka_bootstrap_servers.split(",")
        ],
        autodiscover=False,
        origin="dicompress_progress",
        datadir=str(settings.progress_data_dir),
        web_bind=settings.progress_web_bind,
        web_host=settings.progress_web_bind,
        web_port=settings.progress_web_port,
        # No tables and one agent: the leader topic and its assignor are dead weight.
        topic_disable_leader=True,
        key_serializer="raw",
        value_serializer="raw",
        consumer_auto_offset_reset="earliest",
        broker_session_timeout=settings.progress_session_timeout_s,
        broker_heartbeat_interval=settings.progress_session_timeout_s / 10,
        # On a rebalance, do not wait for the in-flight event to be acked: it may be retrying
        # until Postgres is back, and waiting would stall the whole group. Its offset is not
        # committed, so the new owner gets it again; the tracking record makes that harmless.
        stream_wait_empty=False,
        logging_config=_keep_root_handler(),
        Monitor=_NoEventStats,
    )
    resources = Resources(settings)
    registry = new_registry()
    metrics = ProgressMetrics(registry, functools.partial(_highwater, app))
    # Added before faust's own services, so it starts before the consumer and agents and
    # stops after them.
    app.add_dependency(resources)
    source = app.topic(
        *settings.projected_topics,
        key_type=bytes,
        value_type=bytes,
    )

    @app.agent(source, name="dicompress-progress.project", concurrency=1)
    async def project(stream: faust.StreamT[bytes]) -> None:
        # StreamT (what faust passes, as typed) omits noack(); the Stream it really is has it.
        manual_acks = cast("faust.Stream[bytes]", stream).noack()

        async def handle(events: list[EventT[bytes]]) -> None:
            messages = [_message(event) for event in events]
            results = await resources.projector.handle_batch(messages)
            for event in events:
                await stream.ack(event)
            metrics.observe_batch(messages, [_type(event) for event in events], results)

        await run_batches(manual_acks.events(), handle, settings.progress_batch_max)

    @app.page("/healthz")
    async def healthz(view: View, request: Request) -> Response:
        if not resources.ready:
            return view.json({"status": "starting"}, status=503)
        return view.json({"status": "ok"})

    @app.page("/metrics")
    async def metrics_page(view: View, request: Request) -> Response:
        return view.bytes(exposition(registry), headers={"Content-Type": CONTENT_TYPE})

    return app


class _NoEventStats(Monitor):
    """faust's default Monitor times every message and stream event for statistics we never
    read (our /metrics has its own); its per-message hooks cost a few percent of the worker."""

    def on_message_in(self, tp: TP, offset: int, message: faust.types.Message) -> None:
        return None

    def on_stream_event_in(
        self, tp: TP, offset: int, stream: faust.types.StreamT[Any], event: EventT[Any]
    ) -> dict[str, Any] | None:
        return None

    def on_stream_event_out(
        self,
        tp: TP,
        offset: int,
        stream: faust.types.StreamT[Any],
        event: EventT[Any],
        state: dict[str, Any] | None = None,
    ) -> None:
        return None

    def on_message_out(self, tp: TP, offset: int, message: faust.types.Message) -> None:
        return None


def _message(event: EventT[bytes]) -> Message:
    raw = event.message
    return Message(raw.topic, raw.partition, raw.offset, raw.key, raw.value)


def _type(event: EventT[bytes]) -> str:
    # the producers' "type" header: decoding the value again only to label a counter is waste
    headers = event.message.headers or ()
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    for name, value in pairs:
        if name == "type" and isinstance(value, bytes):
            return value.decode("ascii", "replace")
    return "unknown"


def _highwater(app: faust.App, topic: str, partition: int) -> int | None:
    try:
        end: int | None = app.consumer.highwater(TP(topic, partition))
    except (ConsumerNotStarted, AssertionError):  # not started yet, or partition now elsewhere
        return None
    return end


def _keep_root_handler() -> dict[str, Any] | None:
    # faust's worker rebuilds the root logger from a dictConfig whose "default" handler is a
    # coloured console one; merging ours in as "default" keeps the JSON handler main()
    # installed. It must be that handler (the root's first) because at -l warn and above the
    # worker lowers the root logger to DEBUG for its spinner and filters on handlers[0] only.
    handlers = logging.getLogger().handlers
    if not handlers:
        return None  # nothing installed (e.g. an in-process test): faust's default is fine
    handler = handlers[0]
    return {
        "version": 1,
        "merge": True,
        "handlers": {"default": {"()": lambda: handler}},
    }
