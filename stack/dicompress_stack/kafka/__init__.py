"""The embedded Kafka broker: a single KRaft node of Apache Kafka run from Maven jars.

`pom.xml` and `log4j2.yaml` ship beside this module and are read through importlib.resources.
"""

from dicompress_stack.kafka.broker import (
    create_topics,
    format_storage,
    kafka_ready,
    server_properties,
    start_kafka,
)
from dicompress_stack.kafka.classpath import resolve_classpath

__all__ = [
    "create_topics",
    "format_storage",
    "kafka_ready",
    "resolve_classpath",
    "server_properties",
    "start_kafka",
]
