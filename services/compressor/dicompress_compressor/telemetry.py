"""Prometheus metrics of the compressor, read off the events it emits.

Every fact worth counting (a job started, a slice encoded or failed, a job's outcome) is
already an event, so the metrics wrap the `emit` function instead of reaching into the job
runner: nothing in the domain code knows about Prometheus. A re-run after a crash re-emits
its events, and counts them again: these are rates of work done, not an audit (the log is).
"""

from __future__ import annotations

import uuid

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from dicompress_compressor.lifecycle import Emit
from dicompress_infra.metrics import ConsumerLag, Highwater
from dicompress_schemas import (
    EventBase,
    JobCancelled,
    JobCompleted,
    JobFailed,
    JobStarted,
    SliceEncoded,
    SliceFailed,
)

# Per-slice encode time: a 512x512 CT slice takes tens of ms, a large one seconds.
ENCODE_MS_BUCKETS = (5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000)

_OUTCOMES: dict[type[EventBase], str] = {
    JobCompleted: "completed",
    JobFailed: "failed",
    JobCancelled: "cancelled",
}


class CompressorMetrics:
    """Jobs by outcome, slices encoded/failed, encode time, jobs in flight in this process, and
    the lag of the requests this process consumes (fed by the worker as it commits)."""

    def __init__(self, registry: CollectorRegistry, highwater: Highwater) -> None:
        self.jobs_started = Counter(
            "dicompress_compressor_jobs_started", "Jobs this process started.", registry=registry
        )
        self.jobs_finished = Counter(
            "dicompress_compressor_jobs_finished",
            "Jobs this process finished, by outcome (completed, failed, cancelled).",
            ["outcome"],
            registry=registry,
        )
        self.slices_encoded = Counter(
            "dicompress_compressor_slices_encoded", "Slices encoded and stored.", registry=registry
        )
        self.slices_failed = Counter(
            "dicompress_compressor_slices_failed",
            "Slices that could not be encoded, by error code.",
            ["error_code"],
            registry=registry,
        )
        self.encode_ms = Histogram(
            "dicompress_compressor_encode_ms",
            "Time to encode one slice, in milliseconds.",
            buckets=ENCODE_MS_BUCKETS,
            registry=registry,
        )
        self._in_flight: set[uuid.UUID] = set()
        in_flight = Gauge(
            "dicompress_compressor_jobs_in_flight",
            "Jobs started and not yet finished in this process.",
            registry=registry,
        )
        in_flight.set_function(lambda: len(self._in_flight))
        self.lag = ConsumerLag(
            "dicompress_compressor_consumer_lag",
            "Requests not yet done (the running one included), per partition this process "
            "has committed on.",
            highwater,
        )
        registry.register(self.lag)

    def observe(self, event: EventBase) -> None:
        """Count one emitted event."""
        if isinstance(event, JobStarted):
            self.jobs_started.inc()
            self._in_flight.add(event.job_id)
        elif isinstance(event, SliceEncoded):
            self.slices_encoded.inc()
            self.encode_ms.observe(event.encode_ms)
        elif isinstance(event, SliceFailed):
            self.slices_failed.labels(event.error_code).inc()
        elif (outcome := _OUTCOMES.get(type(event))) is not None:
            self.jobs_finished.labels(outcome).inc()
            self._in_flight.discard(event.job_id)

    def counting(self, emit: Emit) -> Emit:
        """`emit`, counting each event once the broker has acknowledged it."""

        async def emit_and_count(event: EventBase) -> None:
            await emit(event)
            self.observe(event)

        return emit_and_count
