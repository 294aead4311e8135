"""One KRaft node (broker and controller in one JVM): configure, format once, start, probe."""

from __future__ import annotations

import base64
import logging
import os
import subprocess
import uuid
from importlib import resources
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from dicompress_infra.kafka import ensure_topics
from dicompress_schemas import Topics
from dicompress_stack.aio import run_async
from dicompress_stack.errors import StackError
from dicompress_stack.kafka.classpath import require_java
from dicompress_stack.net import port_open
from dicompress_stack.processes import Supervised, start_process

log = logging.getLogger(__name__)

READY_TIMEOUT_S = 90.0
# requests and events are keyed by job id: 4 partitions let 4 compressors share the work


def server_properties(port: int, controller_port: int, log_dir: Path) -> str:
    """The broker's configuration: single node, nothing replicated, and no retention limit,
    because the event log is the audit trail."""
    settings = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.voters": f"1@127.0.0.1:{controller_port}",
        "listeners": f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port}",
        "controller.listener.names": "CONTROLLER",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "log.dirs": str(log_dir),
        "offsets.topic.replication.factor": "1",
        # fewer internal partitions: the first consumer group joins in well under a second
        "offsets.topic.num.partitions": "8",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "transaction.state.log.num.partitions": "8",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0",
        "log.retention.ms": "-1",
        "auto.create.topics.enable": "false",
    }
    return "".join(f"{key}={value}\n" for key, value in settings.items())


def cluster_id() -> str:
    """A new cluster id as `StorageTool random-uuid` makes it (url-safe base64 of a UUID, never
    starting with '-'), without paying for a JVM start."""
    while True:
        value = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not value.startswith("-"):
            return value


def java_env(classpath: str) -> dict[str, str]:
    """Our environment plus CLASSPATH: 45 jars in `-cp` would bury the command line in ps/logs."""
    return {**os.environ, "CLASSPATH": classpath}


def format_storage(classpath: str, properties: Path, log_dir: Path) -> None:
    """Format the log directory once; a formatted one keeps its cluster id and topics."""
    if (log_dir / "meta.properties").exists():
        return
    done = subprocess.run(
        ["java", "kafka.tools.StorageTool", "format", "-t", cluster_id(), "-c", str(properties)],
        env=java_env(classpath),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise StackError(f"formatting the Kafka log dir failed:\n{done.stdout}{done.stderr}")


def start_kafka(kafka_dir: Path, classpath: str, port: int, controller_port: int) -> Supervised:
    """Start the broker with its files under `kafka_dir`, and wait until it serves metadata."""
    require_java()
    log_dir = kafka_dir / "data"
    kafka_dir.mkdir(parents=True, exist_ok=True)
    properties = kafka_dir / "server.properties"
    properties.write_text(server_properties(port, controller_port, log_dir))
    log4j = kafka_dir / "log4j2.yaml"
    log4j.write_bytes(
        resources.files("dicompress_stack.kafka").joinpath("log4j2.yaml").read_bytes()
    )
    format_storage(classpath, properties, log_dir)
    broker = start_process(
        "kafka",
        [
            "java",
            "-Xmx512m",
            "-Xms256m",
            # A small broker for one machine: the serial collector and the C1 compiler only.
            # Under a 399-slice job, C2's compiles and G1's threads cost about a core-second
            # of the two cores the encoders need; a broker this busy gains nothing from either.
            "-XX:+UseSerialGC",
            "-XX:TieredStopAtLevel=1",
            f"-Dlog4j2.configurationFile={log4j}",
            "kafka.Kafka",
            str(properties),
        ],
        kafka_dir / "kafka.log",
        env=java_env(classpath),
        cwd=kafka_dir,
    )
    return broker.started(
        lambda: kafka_ready(f"127.0.0.1:{port}"),
        f"an admin client could list topics on 127.0.0.1:{port}",
        READY_TIMEOUT_S,
    )


def kafka_ready(bootstrap: str) -> bool:
    """Whether the broker answers an admin client's topic listing."""
    host, _, port = bootstrap.rpartition(":")
    return port_open(int(port), host) and run_async(_lists_topics(bootstrap))


async def _lists_topics(bootstrap: str) -> bool:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3000)
    try:
        await admin.start()
        await admin.list_topics()
    except (KafkaError, OSError, TimeoutError):
        return False
    finally:
        await admin.close()
    return True


def create_topics(bootstrap: str, topics: Topics) -> None:
    """Create every topic of the deployment (`Topics.layout`) that is missing."""
    run_async(ensure_topics(bootstrap, topics.layout()))
