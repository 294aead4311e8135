"""S3 event notifications as uploads: an object put straight into `{tenant}/incoming/` is
announced like any other upload (`ArchiveUploaded`, channel bucket-notification).

The records are the AWS format that Ceph RGW and other stores publish to Kafka:
`{"Records": [{"eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": ...}, "object":
{"key": ..., "size": ..., "eTag": ..., "sequencer": ...}}}]}`, keys URL-encoded. The ingest id
derives from (bucket, key, ETag or sequencer): the same object announced twice (a redelivery,
a second notification of one put) is one ingest, while a new version of the key is another.
"""

from __future__ import annotations

import re
import urllib.parse
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import orjson

from dicompress_schemas import ArchiveUploaded, UploadChannel, new_ingest_event_id

_INGEST_OF_OBJECT = uuid.UUID("c3b1a0d2-6e4f-4a8b-9c1d-2e3f4a5b6c7d")
_INCOMING = re.compile(r"^(?P<tenant>[A-Za-z0-9][A-Za-z0-9_.\-]{0,63})/incoming/(?P<rest>.+)$")


class BucketEventError(ValueError):
    """A message that is not an S3 event notification we can read."""


@dataclass(frozen=True)
class IncomingObject:
    """An object created under a tenant's `incoming/` folder."""

    tenant: str
    bucket: str
    key: str
    size: int
    etag: str
    sequencer: str

    @property
    def ingest_id(self) -> uuid.UUID:
        version = self.etag.strip('"') or self.sequencer
        return uuid.uuid5(_INGEST_OF_OBJECT, f"{self.bucket}\0{self.key}\0{version}")

    @property
    def file_name(self) -> str:
        return self.key.rsplit("/", 1)[-1][:255]

    @property
    def content_type(self) -> str:
        """A .zip is a study; anything else is taken as one DICOM file (the ingest says if not)."""
        return "application/zip" if self.key.lower().endswith(".zip") else "application/dicom"


def incoming_objects(payload: bytes, buckets: Collection[str]) -> list[IncomingObject]:
    """The created objects under `{tenant}/incoming/` in allowed buckets; every other record
    (removals, other folders, other buckets, folder markers, empty objects) is left out.
    BucketEventError if the payload is not event records at all."""
    try:
        message = orjson.loads(payload)
        records = message["Records"]
        if not isinstance(records, list):
            raise TypeError("Records is not a list")
        return [o for o in (_incoming(r, buckets) for r in records) if o is not None]
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
        raise BucketEventError(f"not an S3 event notification: {exc}") from exc


def archive_uploaded(found: IncomingObject) -> ArchiveUploaded:
    ingest_id = found.ingest_id
    return ArchiveUploaded(
        event_id=new_ingest_event_id(ingest_id, 0),
        ingest_id=ingest_id,
        tenant=found.tenant,
        seq=0,
        bucket=found.bucket,
        key=found.key,
        size=found.size,
        etag=found.etag,
        file_name=found.file_name,
        content_type=found.content_type,
        channel=UploadChannel.BUCKET,
    )


def _incoming(record: dict[str, Any], buckets: Collection[str]) -> IncomingObject | None:
    if not str(record.get("eventName", "")).startswith("ObjectCreated:"):
        return None
    s3 = record["s3"]
    bucket = str(s3["bucket"]["name"])
    obj = s3["object"]
    key = urllib.parse.unquote_plus(str(obj["key"]))
    size = int(obj.get("size", 0))
    match = _INCOMING.match(key)
    if bucket not in buckets or match is None or key.endswith("/") or size <= 0:
        return None
    segments = match["rest"].split("/")
    if any(s in ("", ".", "..") for s in segments) or any(ord(c) < 32 for c in key):
        return None
    etag = str(obj.get("eTag") or "")
    return IncomingObject(
        tenant=match["tenant"],
        bucket=bucket,
        key=key,
        size=size,
        etag=f'"{etag.strip(chr(34))}"' if etag else "",
        sequencer=str(obj.get("sequencer") or ""),
    )
