"""Each option of a CompressionRequested takes effect in a real job (real Kafka, S3 and
encoder processes): the codec is the transfer syntax of the files in the ZIP, the rate their
measured ratio, the PSNR floor fails slices it cannot reach, anonymize removes the identity,
the output name and the overwrite flag decide where the ZIP lands. A request that loses one of
them on its way to the encoder fails here."""

from __future__ import annotations

import asyncio
import io
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
from aiokafka import AIOKafkaProducer
from compressor_support import job_events, put, request_for
from pydicom import dcmread
from zip_checks import assert_manifest_matches_zip, read_zip

from dicompress_compressor.settings import CompressorSettings
from dicompress_infra.kafka import publish
from dicompress_infra.s3 import make_s3_client
from dicompress_schemas import Codec, JobCompleted, JobFailed, SliceEncoded, SliceFailed
from dicompress_stack.synthetic_ct import generate_series

pytestmark = pytest.mark.integration

SLICES, SIZE, SEED = 4, 128, 21
IDENTITY = ("PatientName", "PatientID", "PatientBirthDate", "AccessionNumber", "StudyDate")


@dataclass(frozen=True)
class Case:
    options: dict[str, Any]
    syntax: str | None  # the files' transfer syntax; None when every slice must fail
    lossless: bool = False
    anonymized: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


CASES = {
    "j2k-lossy": Case(
        {"codec": Codec.J2K_LOSSY, "compression_rate": 10.0}, "1.2.840.10008.1.2.4.91"
    ),
    "j2k-lossless": Case(
        {"codec": Codec.J2K_LOSSLESS, "compression_rate": None}, "1.2.840.10008.1.2.4.90", True
    ),
    "htj2k-lossy": Case(
        {"codec": Codec.HTJ2K_LOSSY, "compression_rate": 10.0}, "1.2.840.10008.1.2.4.203"
    ),
    "htj2k-lossless": Case(
        {"codec": Codec.HTJ2K_LOSSLESS, "compression_rate": None}, "1.2.840.10008.1.2.4.201", True
    ),
    "rate-40": Case({"codec": Codec.J2K_LOSSY, "compression_rate": 40.0}, "1.2.840.10008.1.2.4.91"),
    "floor-reachable": Case(
        {"compression_rate": 10.0, "min_psnr_db": 30.0}, "1.2.840.10008.1.2.4.91"
    ),
    "floor-above-the-rate": Case({"compression_rate": 10.0, "min_psnr_db": 150.0}, None),
    "anonymize": Case(
        {"codec": Codec.J2K_LOSSLESS, "compression_rate": None, "anonymize": True},
        "1.2.840.10008.1.2.4.90",
        lossless=True,
        anonymized=True,
    ),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
async def test_each_request_option_takes_effect_in_the_job(
    case: Case,
    compressor: CompressorSettings,
    producer: AIOKafkaProducer,
    test_env: dict[str, str],
) -> None:
    bucket = test_env["S3_BUCKET"]
    originals = {}
    for name, data in generate_series(n_slices=SLICES, size=SIZE, seed=SEED):
        await asyncio.to_thread(put, compressor, bucket, f"in/{name}", data)
        originals[dcmread(io.BytesIO(data)).SOPInstanceUID] = dcmread(io.BytesIO(data))
    request = request_for(bucket, "in/", **case.options)

    await publish(producer, compressor.topics.requests, request)
    events = await job_events(compressor, request.job_id)

    if case.syntax is None:  # the floor is above what the rate reaches: nothing ships
        failed = [e for e in events if isinstance(e, SliceFailed)]
        assert [e.error_code for e in failed] == ["below-quality-floor"] * SLICES
        assert all("image quality too low to ship" in e.reason for e in failed)
        assert isinstance(events[-1], JobFailed)
        assert events[-1].error_code == "no-slice-encoded"
        return
    completed = events[-1]
    assert isinstance(completed, JobCompleted), events[-1]
    assert (completed.slices_encoded, completed.slices_failed) == (SLICES, 0)
    encoded = [e for e in events if isinstance(e, SliceEncoded)]
    rate = case.options["compression_rate"]
    if rate is not None:  # the measured ratio is the one asked for, as gdcmconv counts it
        assert all(e.ratio == pytest.approx(rate, rel=0.2) for e in encoded), [
            e.ratio for e in encoded
        ]
    if floor := case.options.get("min_psnr_db"):
        assert all(e.psnr_db is not None and e.psnr_db >= floor for e in encoded)

    assert completed.artifact_uri is not None
    key = completed.artifact_uri.removeprefix(f"s3://{bucket}/")
    s3 = make_s3_client(compressor)
    body = (await asyncio.to_thread(s3.get_object, Bucket=bucket, Key=key))["Body"].read()
    manifest = assert_manifest_matches_zip(body)
    entries, _ = read_zip(body)
    assert len(entries) == SLICES
    by_source = {m["entry_name"]: m["source_sop_instance_uid"] for m in manifest["slices"]}
    sources = list(originals.values())
    for name, data in entries.items():
        ds = dcmread(io.BytesIO(data))
        assert ds.file_meta.TransferSyntaxUID == case.syntax, name
        if case.anonymized:
            for keyword in IDENTITY:
                assert all(ds.get(keyword) != s.get(keyword) for s in sources), keyword
            assert ds.PatientIdentityRemoved == "YES"
            assert by_source[name] not in originals  # the remapped UID, not the input's
            continue
        original = originals[by_source[name]]
        for keyword in IDENTITY:  # kept when not asked to anonymize
            assert ds.get(keyword) == original.get(keyword), keyword
        if case.lossless:
            assert np.array_equal(ds.pixel_array, original.pixel_array), name


async def test_the_output_name_is_used_and_overwrite_decides_on_a_second_job(
    compressor: CompressorSettings, producer: AIOKafkaProducer, test_env: dict[str, str]
) -> None:
    bucket = test_env["S3_BUCKET"]
    for name, data in generate_series(n_slices=2, size=64, seed=SEED):
        await asyncio.to_thread(put, compressor, bucket, f"in/{name}", data)
    s3 = make_s3_client(compressor)

    async def run(**options: Any) -> tuple[str, str]:
        request = request_for(bucket, "in/", output_filename="chest.zip", **options)
        await publish(producer, compressor.topics.requests, request)
        completed = (await job_events(compressor, request.job_id))[-1]
        assert isinstance(completed, JobCompleted), completed
        assert completed.artifact_uri is not None
        return str(request.job_id), completed.artifact_uri

    first_id, first = await run()
    second_id, second = await run()  # same name, no overwrite: a numbered variant
    third_id, third = await run(overwrite_existing=True)  # same name, overwrite: the same key

    assert (first, second, third) == (
        f"s3://{bucket}/out/chest.zip",
        f"s3://{bucket}/out/chest-1.zip",
        f"s3://{bucket}/out/chest.zip",
    )
    owners = {
        key: s3.head_object(Bucket=bucket, Key=key)["Metadata"]["job-id"]
        for key in ("out/chest.zip", "out/chest-1.zip")
    }
    assert owners == {"out/chest.zip": third_id, "out/chest-1.zip": second_id}
    assert first_id not in owners.values()  # the first ZIP was replaced by the third
