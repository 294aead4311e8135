"""S3 event notifications as uploads: which records become an ArchiveUploaded, and the ingest
id that makes a redelivered record the same ingest."""

from typing import Any

import orjson
import pytest

from dicompress_api.uploads.bucket_events import (
    BucketEventError,
    archive_uploaded,
    incoming_objects,
)

BUCKETS = {"dicompress-data"}


def record(
    key: str,
    *,
    event: str = "ObjectCreated:Put",
    bucket: str = "dicompress-data",
    size: int = 1234,
    etag: str = "9b2cf535f27731c974343645a3985328",
    sequencer: str = "0055AED6DCD90281E5",
) -> dict[str, Any]:
    return {
        "eventVersion": "2.2",
        "eventSource": "ceph:s3",
        "eventName": event,
        "s3": {
            "bucket": {"name": bucket},
            "object": {"key": key, "size": size, "eTag": etag, "sequencer": sequencer},
        },
    }


def payload(*records: dict[str, Any]) -> bytes:
    return orjson.dumps({"Records": list(records)})


def test_an_archive_put_into_incoming_is_an_upload() -> None:
    [found] = incoming_objects(payload(record("clinic-a/incoming/CT+head%282%29.zip")), BUCKETS)
    assert (found.tenant, found.key, found.file_name) == (
        "clinic-a",
        "clinic-a/incoming/CT head(2).zip",
        "CT head(2).zip",
    )
    event = archive_uploaded(found)
    assert (event.channel, event.content_type, event.size, event.seq) == (
        "bucket-notification",
        "application/zip",
        1234,
        0,
    )
    assert event.etag == '"9b2cf535f27731c974343645a3985328"'
    assert (event.upload_id, event.tenant, event.bucket) == (None, "clinic-a", "dicompress-data")


def test_the_same_object_twice_is_one_ingest_and_a_new_version_another() -> None:
    key = "acme/incoming/s.zip"
    first, again = incoming_objects(payload(record(key), record(key)), BUCKETS)
    one, two = archive_uploaded(first), archive_uploaded(again)
    assert (one.ingest_id, one.event_id) == (two.ingest_id, two.event_id)
    [newer] = incoming_objects(payload(record(key, etag="0" * 32)), BUCKETS)
    assert newer.ingest_id != first.ingest_id
    [no_etag] = incoming_objects(payload(record(key, etag="")), BUCKETS)
    [other_put] = incoming_objects(payload(record(key, etag="", sequencer="0055B")), BUCKETS)
    assert no_etag.ingest_id != other_put.ingest_id  # the sequencer tells puts apart
    assert incoming_objects(payload(record("acme/incoming/one")), BUCKETS)[0].content_type == (
        "application/dicom"
    )


@pytest.mark.parametrize(
    "ignored",
    [
        record("acme/incoming/s.zip", event="ObjectRemoved:Delete"),
        record("acme/incoming/s.zip", bucket="elsewhere"),
        record("acme/uploads/s.zip"),
        record("acme/incoming/"),
        record("acme/incoming/sub/"),
        record("acme/incoming/s.zip", size=0),
        record("acme/incoming/../globex/s.zip"),
        record("acme/incoming//s.zip"),
        record("incoming/s.zip"),
        record("-acme/incoming/s.zip"),
        record("acme/incoming/a%0Ab.zip"),
    ],
)
def test_other_records_are_left_out(ignored: dict[str, Any]) -> None:
    assert incoming_objects(payload(ignored), BUCKETS) == []


@pytest.mark.parametrize(
    "garbage",
    [b"not json", b"[]", b'{"Records": {}}', b'{"Records": [{"eventName": "ObjectCreated:Put"}]}'],
)
def test_what_is_not_an_event_record_is_an_error(garbage: bytes) -> None:
    with pytest.raises(BucketEventError):
        incoming_objects(garbage, BUCKETS)
