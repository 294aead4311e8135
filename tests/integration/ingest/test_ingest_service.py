"""The ingest service as a process, on real Kafka and S3: an uploaded study becomes stored
instances with one event per member; killed with SIGKILL mid-archive, a restart finishes it
with every member stored exactly once."""

from __future__ import annotations

import os
import signal
from typing import Any

import pytest
from ingest_support import TENANT, ingest_events, upload, zip_of

from dicompress_schemas import (
    IngestCompleted,
    IngestStarted,
    InstanceStored,
    MemberRejected,
)
from dicompress_stack.synthetic_ct import slice_bytes
from dicompress_stack.testing import ServiceRunner, s3_client

pytestmark = pytest.mark.integration


def stored_keys(env: dict[str, str]) -> list[str]:
    client = s3_client(env)
    keys: list[str] = []
    for page in client.get_paginator("list_objects_v2").paginate(
        Bucket=env["S3_BUCKET"], Prefix=f"{TENANT}/studies/"
    ):
        keys.extend(item["Key"] for item in page.get("Contents", []))
    return keys


def ingest_env(test_env: dict[str, str], **extra: str) -> dict[str, str]:
    return {"INGEST_ALLOWED_BUCKETS": test_env["S3_BUCKET"], **extra}


async def test_an_uploaded_study_is_stored_and_reported_member_by_member(
    test_env: dict[str, str], service_runner: ServiceRunner
) -> None:
    service_runner.start("ingest", ingest_env(test_env))
    slices = [slice_bytes(i, n_slices=6, size=64) for i in range(6)]
    members = [(f"export/{i:08x}", data) for i, data in enumerate(reversed(slices))]
    members.insert(2, ("export/notes.txt", b"not an image"))
    request = await upload(test_env, zip_of(members))
    events = await ingest_events(test_env, request.ingest_id)
    assert isinstance(events[0], IngestStarted)
    assert [e.seq for e in events] == list(range(1, 10))
    rejected = [e for e in events if isinstance(e, MemberRejected)]
    assert [(e.member, e.error_code) for e in rejected] == [("export/notes.txt", "not-dicom")]
    stored = [e for e in events if isinstance(e, InstanceStored)]
    assert sorted(stored_keys(test_env)) == sorted(e.key for e in stored)
    done = events[-1]
    assert isinstance(done, IngestCompleted)
    assert (done.images, done.rejected, done.instances_stored) == (6, 1, 6)


async def test_a_request_naming_another_tenants_object_is_refused(
    test_env: dict[str, str], service_runner: ServiceRunner
) -> None:
    service_runner.start("ingest", ingest_env(test_env))
    data = slice_bytes(0, n_slices=1, size=32)
    forged = await upload(test_env, data, "x.dcm", claimed_tenant="intruder")
    events = await ingest_events(test_env, forged.ingest_id)
    assert [type(e).__name__ for e in events] == ["IngestFailed"]
    assert events[0].error_code == "archive-not-allowed"
    assert "this clinic's storage" in events[0].reason
    assert stored_keys(test_env) == []


async def test_killed_mid_archive_a_restart_stores_every_member_exactly_once(
    test_env: dict[str, str], service_runner: ServiceRunner
) -> None:
    env = ingest_env(test_env, INGEST_STORE_THREADS="1")
    doomed = service_runner.start("ingest", env)
    count = 240
    slices = [slice_bytes(i, n_slices=count, size=128) for i in range(count)]
    request = await upload(test_env, zip_of([(f"IM{i:04d}", s) for i, s in enumerate(slices)]))
    before = await ingest_events(test_env, request.ingest_id, until_seq=20)
    os.kill(doomed.process.pid, signal.SIGKILL)
    doomed.process.popen.wait(timeout=30)
    assert not any(isinstance(e, IngestCompleted) for e in before), "killed too late"

    service_runner.start("ingest", env)
    events = await ingest_events(test_env, request.ingest_id)
    unique: dict[Any, Any] = {e.event_id: e for e in events}
    seqs = sorted(e.seq for e in unique.values())
    assert seqs == list(range(1, count + 3)), "every seq once, no gap"
    done = events[-1]
    assert isinstance(done, IngestCompleted)
    assert done.images == count
    assert done.attempt >= 2
    keys = stored_keys(test_env)
    assert len(keys) == len(set(keys)) == count
