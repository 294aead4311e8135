"""Our two contenders: the encode path alone (bench_encode's `encode_series`, in-process pool)
and the full pipeline (series in S3 -> compressor service -> ZIP in S3, every event on Kafka)."""

from __future__ import annotations

import asyncio
import io
import os
import time
import uuid
import zipfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from bench.bench_encode import encode_series
from bench.compare.procwatch import LONG_LIVED_RESCAN, PeakRss, spawned_workers

from dicompress_compressor.encoder import EncodedSlice
from dicompress_infra.kafka import make_producer, publish
from dicompress_infra.s3 import S3Uri
from dicompress_schemas import (
    Codec,
    JobCancelled,
    JobCompleted,
    JobFailed,
    Topics,
    decode_event,
)
from dicompress_schemas.codec import DecodeError
from dicompress_schemas.envelope import utc_now
from dicompress_schemas.histories import JobHistory
from dicompress_stack.config import StackConfig
from dicompress_stack.net import free_port
from dicompress_stack.processes import Supervised
from dicompress_stack.services import SERVICE_BY_NAME, start_service
from dicompress_stack.testing import embedded_backends, provision_test_env, s3_client

SOURCE_PREFIX = "bench/series/"
TARGET_PREFIX = "bench/out/"


def run_encode_path(
    files: Sequence[Path], rate: float, workers: int, codec: Codec
) -> tuple[float, int, list[EncodedSlice]]:
    """Seconds, peak RSS of the pool processes and the encoded slices (series read first)."""
    series = {path.name: path.read_bytes() for path in files}
    with PeakRss(spawned_workers, rescan_every=LONG_LIVED_RESCAN) as peak:
        seconds, encoded = asyncio.run(encode_series(series, workers, rate, codec))
    return seconds, peak.peak_bytes, encoded


@dataclass(frozen=True)
class JobRun:
    """A job through the pipeline: request-to-terminal-event seconds and what it ended with."""

    seconds: float
    peak_rss_bytes: int
    outcome: JobCompleted | JobFailed | JobCancelled
    slices_encoded_events: int


@dataclass
class PipelineStack:
    """Embedded Kafka, Postgres and S3 with the series uploaded; compressors started on it."""

    env: dict[str, str]
    workdir: Path
    started: int = 0

    @property
    def bucket(self) -> str:
        return self.env["S3_BUCKET"]

    @property
    def topics(self) -> Topics:
        return Topics(prefix=self.env["TOPIC_PREFIX"])

    def s3(self) -> Any:
        return s3_client(self.env)

    @contextmanager
    def compressor(self, workers: int) -> Iterator[Supervised]:
        """The compressor service as a subprocess with `workers` encoder processes, healthy
        (in its consumer group) when this yields."""
        self.started += 1
        env = {
            **self.env,
            "COMPRESSOR_PROCESSES": str(workers),
            "COMPRESSOR_HEALTH_PORT": str(free_port()),
            "COMPRESSOR_ALLOWED_BUCKETS": f'["{self.bucket}"]',
        }
        process = start_service(
            SERVICE_BY_NAME["compressor"],
            {**_inherited_env(), **env},
            self.workdir / f"compressor-{self.started}",
        )
        try:
            yield process
        finally:
            process.stop()

    def run_job(self, process: Supervised, codec: Codec, rate: float, timeout_s: float) -> JobRun:
        return asyncio.run(self._run_job(process, codec, rate, timeout_s))

    async def _run_job(
        self, process: Supervised, codec: Codec, rate: float, timeout_s: float
    ) -> JobRun:
        job_id = uuid.uuid4()
        topics = self.topics
        bootstrap = self.env["KAFKA_BOOTSTRAP_SERVERS"]
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
        producer = make_producer(bootstrap)
        await consumer.start()
        await producer.start()
        try:
            partitions = [
                TopicPartition(topics.events, p)
                for p in sorted(consumer.partitions_for_topic(topics.events) or ())
            ] or [TopicPartition(topics.events, p) for p in range(4)]
            consumer.assign(partitions)
            await consumer.seek_to_end(*partitions)
            for partition in partitions:  # resolve the end offsets before the job starts
                await consumer.position(partition)
            request = JobHistory(job_id, "bench").requested(
                rate,
                at=utc_now(),
                bare=True,  # the model's defaults, as the API publishes it
                source_uri=f"s3://{self.bucket}/{SOURCE_PREFIX}",
                target_uri=f"s3://{self.bucket}/{TARGET_PREFIX}",
                codec=codec,
                output_filename=f"{job_id}.zip",
            )
            slices = 0
            outcome: JobCompleted | JobFailed | JobCancelled | None = None
            with PeakRss(lambda: [process.pid], rescan_every=LONG_LIVED_RESCAN) as peak:
                started = time.perf_counter()
                await publish(producer, topics.requests, request)
                async with asyncio.timeout(timeout_s):
                    async for message in consumer:
                        try:
                            event = decode_event(message.value)
                        except DecodeError:
                            continue
                        if event.job_id != job_id:
                            continue
                        if event.type == "SliceEncoded":
                            slices += 1
                        if isinstance(event, JobCompleted | JobFailed | JobCancelled):
                            outcome = event
                            break
                seconds = time.perf_counter() - started
            if outcome is None:
                raise RuntimeError("the events topic ended before the job did")
            return JobRun(seconds, peak.peak_bytes, outcome, slices)
        finally:
            await producer.stop()
            await consumer.stop()

    def artifact_slices(self, artifact_uri: str) -> Iterator[bytes]:
        """The DICOM entries of a job's ZIP (its manifest and other files left out)."""
        uri = S3Uri.parse(artifact_uri)
        body = self.s3().get_object(Bucket=uri.bucket, Key=uri.key)["Body"].read()
        with zipfile.ZipFile(io.BytesIO(body)) as archive:
            for name in archive.namelist():
                if name.lower().endswith(".dcm"):
                    yield archive.read(name)


@dataclass(frozen=True)
class ExternalS3:
    """An S3 endpoint already running (another server, say) to use instead of the embedded one."""

    endpoint_url: str
    access_key: str
    secret_key: str


@contextmanager
def pipeline_stack(
    files: Sequence[Path], workdir: Path, external_s3: ExternalS3 | None = None
) -> Iterator[PipelineStack]:
    """Start the embedded backends on free ports, provision topics, a database and a bucket
    (in `external_s3` when given), and upload the series; stop everything afterwards."""
    classpath_cache = StackConfig.from_env({}).kafka_classpath_cache
    with embedded_backends(classpath_cache) as embedded:
        backends = embedded
        if external_s3 is not None:  # the embedded S3 stays up, idle
            backends = replace(
                embedded,
                s3_endpoint_url=external_s3.endpoint_url,
                s3_access_key=external_s3.access_key,
                s3_secret_key=external_s3.secret_key,
            )
        env = provision_test_env(backends)
        stack = PipelineStack(env=env, workdir=workdir)
        s3 = stack.s3()
        for path in files:
            s3.put_object(
                Bucket=stack.bucket, Key=SOURCE_PREFIX + path.name, Body=path.read_bytes()
            )
        yield stack


def _inherited_env() -> dict[str, str]:
    """Our environment minus anything that would point the service at another stack."""
    return {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("KAFKA_", "TOPIC_", "S3_", "AWS_", "DATABASE_", "COMPRESSOR_"))
    }
