"""The preview product end to end on real Kafka and S3: a ProductRequested on the compressor's
requests topic, the compressor (in-process, with its real process pool) bins and encodes the
series, its events come in order and its slices are readable where they say, with the binned
geometry. A thumbnails request on the same topic is dead-lettered, and the loop goes on."""

from __future__ import annotations

import asyncio
import io

import numpy as np
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from compressor_support import TIMEOUT_S, job_events, put
from pydicom import dcmread
from tests.unit.compressor.preview.preview_series import SeriesSpec, series_files

from dicompress_compressor.settings import CompressorSettings
from dicompress_infra.kafka import publish
from dicompress_infra.s3 import make_s3_client
from dicompress_schemas import JobCompleted, JobStarted, SliceEncoded, new_event_id
from dicompress_schemas.products import (
    PreviewParams,
    ProductKind,
    ThumbnailParams,
    preview_slice_key,
    product_request,
    request_topic,
)

pytestmark = pytest.mark.integration

TENANT = "acme"


async def test_a_preview_series_is_made_with_its_events_in_order(
    compressor: CompressorSettings, producer: AIOKafkaProducer, test_env: dict[str, str]
) -> None:
    bucket = test_env["S3_BUCKET"]
    spec = SeriesSpec(n=24, size=128, padding=-2048)  # 12-bit signed
    files = series_files(spec)
    first = dcmread(io.BytesIO(files[0][1]))
    request = product_request(
        tenant=TENANT,
        bucket=bucket,
        study_uid=first.StudyInstanceUID,
        series_uid=first.SeriesInstanceUID,
        source_version="a" * 64,
        params=PreviewParams(bin_xy=2, bin_z=2, rate=10),
        trigger="upload",
    )
    source = request.source_uri.removeprefix(f"s3://{bucket}/")
    for name, data in files:
        await asyncio.to_thread(put, compressor, bucket, source + name, data)

    topic = request_topic(ProductKind.PREVIEW, compressor.topics)
    assert topic == compressor.topics.interactive
    await publish(producer, topic, request)
    events = await job_events(compressor, request.job_id)

    assert [e.seq for e in events] == list(range(1, 15))
    assert [e.type for e in events] == ["JobStarted"] + ["SliceEncoded"] * 12 + ["JobCompleted"]
    assert all(e.event_id == new_event_id(request.job_id, e.seq) for e in events)
    started, completed = events[0], events[-1]
    assert isinstance(started, JobStarted)
    assert started.total_slices == 12
    assert started.worker == "test-worker"
    assert isinstance(completed, JobCompleted)
    assert (completed.slices_encoded, completed.slices_failed) == (12, 0)
    assert completed.artifact_uri == request.target_uri
    assert completed.ratio == pytest.approx(10, rel=0.3)
    assert completed.cpu_s is not None
    assert completed.cpu_s > 0

    prefix = request.target_uri.removeprefix(f"s3://{bucket}/")
    s3 = make_s3_client(compressor)
    slices = [e for e in events if isinstance(e, SliceEncoded)]
    originals = sorted(
        (dcmread(io.BytesIO(data)) for _, data in files),
        key=lambda ds: float(ds.ImagePositionPatient[2]),  # axial: +z is up the normal
    )
    for i, event in enumerate(slices):
        assert event.slice_index == i
        assert event.slice_key == preview_slice_key(prefix, i)
        body = s3.get_object(Bucket=bucket, Key=event.slice_key)["Body"].read()
        assert len(body) == event.bytes_out
        ds = dcmread(io.BytesIO(body))
        assert ds.SOPInstanceUID == event.sop_instance_uid
        assert ds.SeriesInstanceUID == event.series_instance_uid != first.SeriesInstanceUID
        assert (ds.Rows, ds.Columns) == (64, 64)
        assert ds.pixel_array.dtype == np.int16  # decodes, still signed
        group = originals[2 * i : 2 * i + 2]
        # padding kept outside the circle: PixelPaddingValue, and pixels near it where every
        # source pixel of the block was padding (a lossy codec rings at the circle's edge;
        # HTJ2K, which declares 16 bits, rings past -2048 where JPEG 2000 clamps at 12)
        assert ds.PixelPaddingValue == -2048
        padded = np.all([_blocks(g.pixel_array) == -2048 for g in group], axis=(0, 2, 4))
        assert padded.any()
        assert np.abs(ds.pixel_array[padded].astype(np.int32) + 2048).max() < 300
        assert [r.ReferencedSOPInstanceUID for r in ds.SourceImageSequence] == [
            g.SOPInstanceUID for g in group
        ]
        centre = np.mean([[float(v) for v in g.ImagePositionPatient] for g in group], axis=0)
        expected = centre + np.array([0.8 / 2, 0.7 / 2, 0.0])  # half a source pixel each way
        np.testing.assert_allclose([float(v) for v in ds.ImagePositionPatient], expected)
        assert event.position == pytest.approx(tuple(expected))
        assert [float(v) for v in ds.PixelSpacing] == pytest.approx([1.4, 1.6])
        assert float(ds.SliceThickness) == pytest.approx(2.5)
    assert completed.bytes_out == sum(e.bytes_out for e in slices)


async def test_a_thumbnails_request_on_the_compressors_topic_is_dead_lettered(
    compressor: CompressorSettings, producer: AIOKafkaProducer, test_env: dict[str, str]
) -> None:
    bucket = test_env["S3_BUCKET"]
    request = product_request(
        tenant=TENANT,
        bucket=bucket,
        study_uid="1.2.3",
        series_uid="1.2.3.4",
        source_version="b" * 64,
        params=ThumbnailParams(),
        trigger="request",
    )
    await publish(producer, compressor.topics.interactive, request)
    dead = AIOKafkaConsumer(
        compressor.topics.dead_letter,
        bootstrap_servers=compressor.kafka_bootstrap_servers,
        auto_offset_reset="earliest",
    )
    await dead.start()
    try:
        record = await asyncio.wait_for(dead.getone(), TIMEOUT_S)
    finally:
        await dead.stop()
    assert (
        b"thumbnails ProductRequested belongs on the render requests topic"
        in dict(record.headers)["reason"]
    )


def _blocks(pixels: np.ndarray) -> np.ndarray:
    """(rows/2, 2, columns/2, 2): each 2x2 block of a slice on its own axes."""
    rows, columns = pixels.shape
    return pixels.reshape(rows // 2, 2, columns // 2, 2)
