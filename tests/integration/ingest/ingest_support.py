"""What the ingest service's integration tests share: an archive put into the test bucket, its
ArchiveUploaded published, and a reader of the ingest's events on the real topic."""

from __future__ import annotations

import io
import time
import uuid
import zipfile
from collections.abc import Mapping

from aiokafka import AIOKafkaConsumer

from dicompress_infra.kafka import make_producer, publish
from dicompress_schemas import (
    ArchiveUploaded,
    IngestEvent,
    IngestTerminal,
    Topics,
    UploadChannel,
    decode_ingest_event,
)
from dicompress_schemas.envelope import utc_now
from dicompress_schemas.histories import IngestHistory
from dicompress_stack.testing import s3_client

TIMEOUT_S = 90.0
TENANT = "acme"


def zip_of(members: list[tuple[str, bytes]]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members:
            archive.writestr(name, data)
    return out.getvalue()


async def upload(
    env: Mapping[str, str], data: bytes, name: str = "study.zip", claimed_tenant: str = TENANT
) -> ArchiveUploaded:
    """Put `data` under the tenant's uploads and announce it, as the API does (in the name of
    `claimed_tenant`, which a forged message makes another tenant)."""
    ingest_id = uuid.uuid4()
    key = f"{TENANT}/uploads/{ingest_id}/{name}"
    s3_client(env).put_object(Bucket=env["S3_BUCKET"], Key=key, Body=data)
    request = IngestHistory(claimed_tenant, ingest_id, bucket=env["S3_BUCKET"]).uploaded(
        bare=True,
        at=utc_now(),
        key=key,
        size=len(data),
        file_name=name,
        channel=UploadChannel.STREAMED,
    )
    producer = make_producer(env["KAFKA_BOOTSTRAP_SERVERS"])
    await producer.start()
    try:
        await publish(producer, Topics(env["TOPIC_PREFIX"]).ingest_requests, request)
    finally:
        await producer.stop()
    return request


async def ingest_events(
    env: Mapping[str, str], ingest_id: uuid.UUID, until_seq: int | None = None
) -> list[IngestEvent]:
    """The ingest's events as on the topic (duplicates included), until its terminal event
    (or until one with `until_seq` or more)."""
    consumer = AIOKafkaConsumer(
        Topics(env["TOPIC_PREFIX"]).ingest_events,
        bootstrap_servers=env["KAFKA_BOOTSTRAP_SERVERS"],
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    found: list[IngestEvent] = []
    deadline = time.monotonic() + TIMEOUT_S
    try:
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            for messages in batch.values():
                for message in messages:
                    event = decode_ingest_event(message.value or b"")
                    if event.ingest_id != ingest_id:
                        continue
                    found.append(event)
                    if isinstance(event, IngestTerminal):
                        return found
                    if until_seq is not None and event.seq >= until_seq:
                        return found
    finally:
        await consumer.stop()
    raise AssertionError(f"ingest {ingest_id}: no terminal event in {TIMEOUT_S} s: {found[-3:]}")
