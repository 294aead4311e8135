"""The three backends of the embedded stack, started side by side, plus their topics,
database and bucket."""

from __future__ import annotations

import contextlib
import logging
import signal
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

import psutil

from dicompress_schemas import Topics
from dicompress_stack import kafka, postgres, s3
from dicompress_stack.config import S3_ACCESS_KEY, S3_SECRET_KEY, StackConfig
from dicompress_stack.errors import StackError
from dicompress_stack.net import port_open
from dicompress_stack.processes import Supervised
from dicompress_stack.state import ProcessRecord

log = logging.getLogger(__name__)
Stops = list[Callable[[], object]]


@dataclass
class Backends:
    """Kafka, Postgres and S3, started; `stop()` stops them all. The fault tests restart one
    while the services run: `restart_kafka`, `crash_kafka`, `stop_postgres`/`start_postgres`,
    `crash_postgres`, `pause_s3`/`resume_s3`, `restart_s3`."""

    config: StackConfig
    kafka: Supervised
    postgres: postgres.PostgresServer
    s3: Supervised
    durable: bool = True

    def stop(self) -> None:
        stop_all([self.s3.stop, self.postgres.stop, self.kafka.stop])

    def restart_kafka(self) -> None:
        """Stop the broker (SIGTERM: a controlled shutdown) and start it again on the same ports
        and log dir, so every topic, record and committed offset is still there."""
        self.kafka.stop()
        self._start_kafka_again()

    def crash_kafka(self) -> None:
        """SIGKILL the broker (no controlled shutdown: unflushed segments, no clean-shutdown
        marker) and start it again on the same log dir: it recovers from its log as after a
        power cut, and every acknowledged record must still be there (acks=all, one replica:
        what the broker acknowledged, it had written to its log)."""
        _kill9(self.kafka.popen.pid)
        self.kafka.popen.wait(timeout=30)
        self._start_kafka_again()

    def _start_kafka_again(self) -> None:
        """The broker started on its ports and log dir, after it stopped or was killed."""
        classpath = kafka.resolve_classpath(self.config.kafka_classpath_cache)
        self.kafka = kafka.start_kafka(
            self.config.data_dir / "kafka",
            classpath,
            self.config.kafka_port,
            self.config.kafka_controller_port,
        )

    def crash_postgres(self) -> None:
        """SIGKILL the postmaster and every backend (no shutdown checkpoint) and start the same
        cluster: it replays its WAL (crash recovery) before it answers again."""
        pid = self.postgres.pid()
        if pid is not None:
            _kill9(pid, with_children=True)
            _wait_gone(pid)
        self.start_postgres()

    def stop_postgres(self) -> None:
        """Fast shutdown: open sessions are ended; `start_postgres` brings the cluster back."""
        self.postgres.stop()

    def start_postgres(self) -> None:
        """Start the same cluster on the same port again."""
        self.postgres = postgres.start_postgres(
            self.postgres.pg_dir, self.postgres.port, self.durable
        )

    def pause_s3(self) -> None:
        """Freeze the S3 server (SIGSTOP stops every thread of the JVM): requests hang, as to
        an unreachable endpoint, until `resume_s3`."""
        self.s3.popen.send_signal(signal.SIGSTOP)

    def resume_s3(self) -> None:
        self.s3.popen.send_signal(signal.SIGCONT)

    def restart_s3(self) -> None:
        """Stop the S3 server and start it again on the same port and data dir: every bucket
        and object (and pending multipart upload) is still there."""
        self.s3.stop()
        self.s3 = _start_s3(self.config)

    def records(self) -> list[ProcessRecord]:
        records = [
            ProcessRecord(
                name="kafka", pid=self.kafka.pid, marker="kafka.Kafka", log=self.kafka.log_path
            ),
            ProcessRecord(name="s3", pid=self.s3.pid, marker=s3.MARKER, log=self.s3.log_path),
        ]
        pg_pid = self.postgres.pid()
        if pg_pid is not None:
            records.append(
                ProcessRecord(
                    name="postgres", pid=pg_pid, marker="postgres", log=self.postgres.log_path
                )
            )
        return records


def start_backends(config: StackConfig, durable: bool = True) -> Backends:
    """Start the three backends at once (Kafka is the slowest, ~5 s), then create the topics,
    the database and the bucket. On any failure, whatever started is stopped again."""
    require_free_ports(config.backend_ports())
    config.data_dir.mkdir(parents=True, exist_ok=True)
    data = config.data_dir

    def start_kafka() -> Supervised:
        classpath = kafka.resolve_classpath(config.kafka_classpath_cache)
        return kafka.start_kafka(
            data / "kafka", classpath, config.kafka_port, config.kafka_controller_port
        )

    started = time.monotonic()
    pool = ThreadPoolExecutor(max_workers=3, thread_name_prefix="stack-start")
    kafka_f = pool.submit(start_kafka)
    pg_f = pool.submit(postgres.start_postgres, data / "postgres", config.postgres_port, durable)
    s3_f = pool.submit(_start_s3, config)
    pool.shutdown(wait=False)
    starts: list[Future[Any]] = [kafka_f, pg_f, s3_f]
    try:
        wait(starts)
    except BaseException:  # Ctrl-C: let the starts finish (a second one gives up), undo them
        wait(starts)
        stop_all(_started_stops(kafka_f, s3_f) + _started_stops(pg_f))
        raise
    errors = [e for e in (kafka_f.exception(), pg_f.exception(), s3_f.exception()) if e]
    if errors:
        stop_all(_started_stops(kafka_f, s3_f) + _started_stops(pg_f))
        raise StackError("\n\n".join(str(e) for e in errors)) from errors[0]
    backends = Backends(config, kafka_f.result(), pg_f.result(), s3_f.result(), durable)
    try:
        kafka.create_topics(config.kafka_bootstrap, Topics(prefix=config.topic_prefix))
        postgres.create_database(config.postgres_admin_url, config.database)
        s3.create_bucket(config.s3_endpoint_url, S3_ACCESS_KEY, S3_SECRET_KEY, config.bucket)
    except BaseException:
        backends.stop()
        raise
    log.info("backends ready in %.1f s (data in %s)", time.monotonic() - started, data)
    return backends


def _start_s3(config: StackConfig) -> Supervised:
    classpath = s3.resolve_classpath(config.s3_classpath_cache)
    return s3.start_s3(
        config.data_dir / "s3", classpath, config.s3_port, S3_ACCESS_KEY, S3_SECRET_KEY
    )


def require_free_ports(ports: Mapping[str, int]) -> None:
    taken = [f"{port} ({name})" for name, port in ports.items() if port_open(port)]
    if taken:
        raise StackError(
            f"port(s) already in use: {', '.join(taken)}. Is another stack running? Stop it, or "
            "pick other ports with DICOMPRESS_<NAME>_PORT (e.g. DICOMPRESS_KAFKA_PORT=19192)."
        )


def _started_stops(*futures: Future[Supervised] | Future[postgres.PostgresServer]) -> Stops:
    """The stop() of every backend whose start succeeded."""
    return [f.result().stop for f in futures if f.exception() is None]


def stop_all(stops: Stops) -> None:
    """Call every stop even if one fails; then raise the first failure."""
    first: BaseException | None = None
    for stop in stops:
        try:
            stop()
        except Exception as exc:  # keep stopping the rest; report the first failure
            log.error("stopping failed: %s", exc)
            first = first or exc
    if first is not None:
        raise first


def _kill9(pid: int, *, with_children: bool = False) -> None:
    """SIGKILL `pid` (and, first, every process it started): nothing gets to clean up."""
    try:
        process = psutil.Process(pid)
    except psutil.NoSuchProcess:
        return
    victims = process.children(recursive=True) if with_children else []
    for victim in [process, *victims]:
        with contextlib.suppress(psutil.NoSuchProcess):
            victim.send_signal(signal.SIGKILL)


def _wait_gone(pid: int, timeout_s: float = 30.0) -> None:
    """Until `pid` has exited (a killed postmaster is not our child: poll, do not wait())."""
    with contextlib.suppress(psutil.NoSuchProcess):
        psutil.Process(pid).wait(timeout=timeout_s)
