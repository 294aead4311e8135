"""The composition root: build the adapters from settings, wire them, run until told to stop."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from contextlib import AsyncExitStack

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from dicompress_compressor.cancellation import CancelRegistry, ControlListener
from dicompress_compressor.job import JobRunner
from dicompress_compressor.lanes import in_lane
from dicompress_compressor.lifecycle import Emit
from dicompress_compressor.minict.runner import MiniCtRunner, PoolMiniCts
from dicompress_compressor.pool import EncoderPool
from dicompress_compressor.preview.runner import PoolPreviews, PreviewRunner
from dicompress_compressor.settings import CompressorSettings
from dicompress_compressor.split import Splitter, always_shared
from dicompress_compressor.storage import FastS3ObjectStore
from dicompress_compressor.task_runner import TaskRunner
from dicompress_compressor.telemetry import CompressorMetrics
from dicompress_compressor.worker import JoinTracker, Runners, compression_requests, slice_tasks
from dicompress_infra.kafka import publish, publish_task
from dicompress_infra.metrics import new_registry
from dicompress_infra.running import join_group, run_until_signalled, start_health, start_producer
from dicompress_infra.s3 import make_s3_client
from dicompress_schemas import Lane, Topics
from dicompress_schemas.tasks import SliceRangeRequested

log = logging.getLogger(__name__)

# A long series on a busy machine can take minutes; past this the group gives the job away.
MAX_POLL_INTERVAL_MS = 30 * 60 * 1000


async def run(settings: CompressorSettings) -> None:
    """Serve until SIGTERM/SIGINT, then shut down cleanly."""
    await run_until_signalled(functools.partial(serve, settings))


async def serve(settings: CompressorSettings, stop: asyncio.Event) -> None:
    """Consume requests until `stop` is set. Tests call this directly with their own settings."""
    topics = settings.topics
    trackers = {topic: JoinTracker() for topic in settings.groups()}
    registry = CancelRegistry()
    control = ControlListener(
        settings.kafka_bootstrap_servers,
        topics.control,
        registry,
        settings.compressor_cancel_lookback_s,
    )
    metrics_registry = new_registry()
    async with AsyncExitStack() as stack:
        await start_health(
            stack,
            settings.compressor_health_port,
            settings.compressor_health_host,
            lambda: _ready(trackers, control, stop),
            metrics_registry,
        )
        pool = EncoderPool(settings.compressor_processes)
        stack.callback(pool.shutdown)
        await pool.warm_up()
        producer = await start_producer(stack, settings.kafka_bootstrap_servers)
        await control.start()
        stack.push_async_callback(control.stop)
        listening = asyncio.create_task(control.run())
        stack.push_async_callback(_cancel, listening)
        consumers = {
            topic: await join_group(
                stack,
                settings.kafka_bootstrap_servers,
                group,
                topic,
                trackers[topic],
                MAX_POLL_INTERVAL_MS,
            )
            for topic, group in settings.groups().items()
        }
        metrics = CompressorMetrics(metrics_registry, functools.partial(_highwater, consumers))
        store = FastS3ObjectStore(make_s3_client(settings), settings)
        emit = metrics.counting(functools.partial(publish, producer, topics.events))
        splitter = Splitter(
            functools.partial(_publish_task, producer, topics),
            settings.compressor_split_slices,
            settings.compressor_task_slices,
            settings.compressor_task_stall_s,
            shared=(
                always_shared
                if settings.compressor_split_alone
                else functools.partial(_tasks_shared, consumers, topics)
            ),
        )
        runners = _runners(settings, store, pool, emit, registry, splitter)
        tasks = TaskRunner(
            store=store,
            encoder=pool,
            worker=settings.compressor_worker_id,
            max_in_flight=settings.max_in_flight,
            cancellations=registry,
            allowed_buckets=frozenset(settings.compressor_allowed_buckets),
        )
        extra = {"worker": settings.compressor_worker_id, "topics": sorted(consumers)}
        log.info("compressor consuming", extra=extra)
        # Per lane, a loop of requests and a loop of tasks (the ranges of spread jobs), all
        # over the one pool (`lanes`): a batch job runs while an interactive one does, and the
        # interactive one's slices go first.
        loops = []
        for lane in Lane:
            requests = consumers[topics.lane(lane)]
            ranges = consumers[topics.task_topic(lane)]
            loops += [
                in_lane(
                    lane,
                    compression_requests(requests, producer, runners, topics, metrics.lag).serve(
                        stop
                    ),
                ),
                in_lane(
                    lane, slice_tasks(ranges, producer, tasks, topics, metrics.lag).serve(stop)
                ),
            ]
        await asyncio.gather(*loops)
        log.info("compressor stopping", extra=extra)


def _ready(trackers: dict[str, JoinTracker], control: ControlListener, stop: asyncio.Event) -> bool:
    """Healthy: in every group (`CompressorSettings.groups`), reading the control topic, not
    stopping."""
    joined = all(tracker.joined for tracker in trackers.values())
    return joined and control.ready.is_set() and not stop.is_set()


def _tasks_shared(consumers: dict[str, AIOKafkaConsumer], topics: Topics, lane: Lane) -> bool:
    """Another compressor is in the lane's tasks group: this one does not hold every partition
    of the topic (unknown, while the group rebalances: assume it is, as spreading is safe)."""
    topic = topics.task_topic(lane)
    consumer = consumers[topic]
    partitions = consumer.partitions_for_topic(topic)
    held = {tp.partition for tp in consumer.assignment() if tp.topic == topic}
    return not partitions or held != set(partitions)


async def _publish_task(
    producer: AIOKafkaProducer, topics: Topics, task: SliceRangeRequested, ordinal: int
) -> None:
    await publish_task(producer, topics.task_topic(task.lane), task, ordinal)


def _runners(
    settings: CompressorSettings,
    store: FastS3ObjectStore,
    pool: EncoderPool,
    emit: Emit,
    registry: CancelRegistry,
    splitter: Splitter,
) -> Runners:
    allowed = frozenset(settings.compressor_allowed_buckets)
    return Runners(
        compression=JobRunner(
            store=store,
            encoder=pool,
            emit=emit,
            worker=settings.compressor_worker_id,
            max_in_flight=settings.max_in_flight,
            allowed_buckets=allowed,
            part_size=settings.compressor_part_size,
            cancellations=registry,
            splitter=splitter,
        ),
        preview=PreviewRunner(
            store=store,
            maker=PoolPreviews(pool),
            emit=emit,
            worker=settings.compressor_worker_id,
            max_in_flight=settings.max_in_flight,
            allowed_buckets=allowed,
            cancellations=registry,
        ),
        mini_ct=MiniCtRunner(
            store=store,
            maker=PoolMiniCts(pool),
            emit=emit,
            worker=settings.compressor_worker_id,
            max_in_flight=settings.max_in_flight,
            allowed_buckets=allowed,
            cancellations=registry,
            part_size=settings.compressor_part_size,
        ),
    )


def _highwater(consumers: dict[str, AIOKafkaConsumer], topic: str, partition: int) -> int | None:
    consumer = consumers[topic]
    where = TopicPartition(topic, partition)
    if where not in consumer.assignment():
        return None  # the partition now belongs to another member
    end: int | None = consumer.highwater(where)
    return end


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
