"""The Mini CT end to end on real Kafka and S3: a ProductRequested on the compressor's requests
topic, the compressor (in-process, its real process pool) crops and encodes the region, its
events come in order, the stored ZIP or multi-frame object decodes to the source's own pixels
where the source had them; the same request again re-emits the same events and overwrites the
same key."""

from __future__ import annotations

import asyncio
import io
import zipfile

import highdicom as hd
import numpy as np
import pytest
from aiokafka import AIOKafkaProducer
from compressor_support import job_events, put
from pydicom import dcmread
from tests.unit.compressor.preview.preview_series import SeriesSpec, oblique, series_files

from dicompress_compressor.settings import CompressorSettings
from dicompress_infra.kafka import publish
from dicompress_infra.s3 import make_s3_client
from dicompress_schemas import Event, JobCompleted, JobStarted, SliceEncoded, new_event_id
from dicompress_schemas.products import (
    MiniCtFormat,
    MiniCtParams,
    ProductKind,
    ProductRequested,
    RoiBox,
    product_request,
    request_topic,
)

pytestmark = pytest.mark.integration

TENANT = "acme"
SPEC = SeriesSpec(n=12, size=96, orientation=oblique(), spacing=1.5, padding=-2048)
BOX = RoiBox(row=8, column=16, rows=64, columns=48)


async def _request(
    compressor: CompressorSettings, bucket: str, fmt: MiniCtFormat
) -> tuple[ProductRequested, list[tuple[str, bytes]]]:
    files = series_files(SPEC)
    first = dcmread(io.BytesIO(files[0][1]))
    request = product_request(
        tenant=TENANT,
        bucket=bucket,
        study_uid=first.StudyInstanceUID,
        series_uid=first.SeriesInstanceUID,
        source_version="c" * 64,
        params=MiniCtParams(z_start=2, z_end=9, roi=BOX, format=fmt),
        trigger="request",
    )
    source = request.source_uri.removeprefix(f"s3://{bucket}/")
    for name, data in files:
        await asyncio.to_thread(put, compressor, bucket, source + name, data)
    return request, files


def _ordered(files: list[tuple[str, bytes]]) -> list[np.ndarray]:
    """The source slices' stored values in anatomical order."""
    datasets = [dcmread(io.BytesIO(d)) for _, d in files]
    normal = np.cross(SPEC.orientation[:3], SPEC.orientation[3:])
    datasets.sort(key=lambda ds: float(np.dot([float(v) for v in ds.ImagePositionPatient], normal)))
    return [ds.pixel_array for ds in datasets]


def _completed(events: list[Event], runs: int) -> bool:
    return sum(isinstance(e, JobCompleted) for e in events) >= runs


async def test_a_series_mini_ct_is_a_zip_and_a_repeat_re_emits_the_same_events(
    compressor: CompressorSettings, producer: AIOKafkaProducer, test_env: dict[str, str]
) -> None:
    bucket = test_env["S3_BUCKET"]
    request, files = await _request(compressor, bucket, MiniCtFormat.SERIES)
    topic = request_topic(ProductKind.MINI_CT, compressor.topics)
    assert topic == compressor.topics.interactive
    await publish(producer, topic, request)
    events = await job_events(compressor, request.job_id)

    assert [e.type for e in events] == ["JobStarted"] + ["SliceEncoded"] * 8 + ["JobCompleted"]
    assert [e.seq for e in events] == list(range(1, 11))
    assert all(e.event_id == new_event_id(request.job_id, e.seq) for e in events)
    started, completed = events[0], events[-1]
    assert isinstance(started, JobStarted)
    assert started.total_slices == 8
    assert isinstance(completed, JobCompleted)
    prefix = request.target_uri.removeprefix(f"s3://{bucket}/")
    key = f"{prefix}mini-ct.zip"
    assert completed.artifact_uri == f"s3://{bucket}/{key}"

    s3 = make_s3_client(compressor)
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    assert len(body) == completed.artifact_bytes
    archive = zipfile.ZipFile(io.BytesIO(body))
    sources = _ordered(files)[2:10]
    slices = [e for e in events if isinstance(e, SliceEncoded)]
    row, column = np.array(SPEC.orientation[:3]), np.array(SPEC.orientation[3:])
    for i, event in enumerate(slices):
        ds = dcmread(io.BytesIO(archive.read(event.entry_name)))
        assert ds.SOPInstanceUID == event.sop_instance_uid
        expected = sources[i][BOX.row : BOX.row + BOX.rows, BOX.column : BOX.column + BOX.columns]
        np.testing.assert_array_equal(ds.pixel_array, expected)  # lossless: the same values
        source = next(
            dcmread(io.BytesIO(d)) for _, d in files
            if dcmread(io.BytesIO(d)).SOPInstanceUID == event.source_sop_instance_uid
        )  # fmt: skip
        shift = BOX.column * 0.8 * row + BOX.row * 0.7 * column
        np.testing.assert_allclose(
            [float(v) for v in ds.ImagePositionPatient],
            np.array([float(v) for v in source.ImagePositionPatient]) + shift,
            atol=1e-4,
        )

    await publish(producer, topic, request)  # the same request again: a redelivery
    both = await job_events(compressor, request.job_id, lambda found: _completed(found, 2))
    again = both[len(events) :]
    assert [e.event_id for e in again] == [e.event_id for e in events]
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=prefix)["Contents"]
    assert [o["Key"] for o in listed] == [key]  # overwritten, not duplicated


async def test_a_multiframe_mini_ct_is_one_object_with_the_region_s_geometry(
    compressor: CompressorSettings, producer: AIOKafkaProducer, test_env: dict[str, str]
) -> None:
    bucket = test_env["S3_BUCKET"]
    request, files = await _request(compressor, bucket, MiniCtFormat.MULTIFRAME)
    await publish(producer, compressor.topics.interactive, request)
    events = await job_events(compressor, request.job_id)

    assert [e.type for e in events] == ["JobStarted"] + ["SliceEncoded"] * 8 + ["JobCompleted"]
    completed = events[-1]
    assert isinstance(completed, JobCompleted)
    key = completed.artifact_uri.removeprefix(f"s3://{bucket}/")
    assert key.endswith("/mini-ct.dcm")
    body = make_s3_client(compressor).get_object(Bucket=bucket, Key=key)["Body"].read()
    image = hd.imread(io.BytesIO(body))
    assert image.NumberOfFrames == 8
    mini = image.get_volume()
    whole = hd.get_volume_from_series([dcmread(io.BytesIO(d)) for _, d in files])
    # slices 2 to 9 of 12 are 2 to 9 from either end: whichever end highdicom starts from
    box = (
        slice(2, 10),
        slice(BOX.row, BOX.row + BOX.rows),
        slice(BOX.column, BOX.column + BOX.columns),
    )
    expected = whole[box]
    np.testing.assert_allclose(mini.affine, expected.affine, atol=1e-4)
    np.testing.assert_array_equal(mini.array, expected.array)
