"""An anonymizing job end to end on real Kafka and S3: a series carrying PHI in the attributes
of the PS3.15 Basic Application Level Confidentiality Profile that pydicom sets easily (and in a
sequence, and in a private element) leaves none of those values, nor its original UIDs, in any
file of the ZIP, its manifest, its entry names, the job's S3 keys and slice objects, any of the
job's events or the worker's log lines; the new UIDs are the same across the slices of a job
and differ for the same input in another tenant's job."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from compressor_support import job_events, put, request_for
from pydicom import dcmread
from pydicom.dataset import Dataset
from zip_checks import assert_manifest_matches_zip, read_zip

from dicompress_compressor.layout import sanitise
from dicompress_compressor.settings import CompressorSettings
from dicompress_infra.kafka import publish
from dicompress_infra.s3 import make_s3_client
from dicompress_schemas import Codec, JobCompleted
from dicompress_stack.synthetic_ct import generate_series

pytestmark = pytest.mark.integration

SLICES = 4
UID_KEYWORDS = ("StudyInstanceUID", "SeriesInstanceUID", "FrameOfReferenceUID")
# Values unlikely to appear by chance in a UID or a number (times have a fraction for that).
PHI = {
    # names
    "PatientName": "Phiname^Alice",
    "OtherPatientNames": "Phiother^Bob",
    "PatientMotherBirthName": "Phimother^Carol",
    "ReferringPhysicianName": "Phirefer^Dave",
    "PerformingPhysicianName": "Phiperform^Eve",
    "NameOfPhysiciansReadingStudy": "Phireader^Fay",
    "PhysiciansOfRecord": "Phirecord^Gus",
    "OperatorsName": "Phioperator^Hal",
    "RequestingPhysician": "Phirequest^Ida",
    "ResponsiblePerson": "Phiresponsible^Jo",
    # identifiers
    "PatientID": "PHIPID4711",
    "OtherPatientIDs": "PHIOPID4712",
    "IssuerOfPatientID": "PHIISSUER",
    "MedicalRecordLocator": "PHIMRL123",
    "AccessionNumber": "PHIACC998",
    "StudyID": "PHISTUDY7",
    "PerformedProcedureStepID": "PHIPPSID",
    "StationName": "PHISTATION",
    "DeviceSerialNumber": "PHISERIAL",
    # dates and times
    "PatientBirthDate": "19450317",
    "PatientBirthTime": "071423.654321",
    "StudyDate": "20190811",
    "SeriesDate": "20190812",
    "AcquisitionDate": "20190813",
    "ContentDate": "20190814",
    "InstanceCreationDate": "20190815",
    "PerformedProcedureStepStartDate": "20190816",
    "StudyTime": "131415.987601",
    "SeriesTime": "131416.987602",
    "AcquisitionTime": "131417.987603",
    "ContentTime": "131418.987604",
    "InstanceCreationTime": "131419.987605",
    "PerformedProcedureStepStartTime": "131420.987606",
    "AcquisitionDateTime": "20190813131417.987607",
    # institution
    "InstitutionName": "PHI General Hospital",
    "InstitutionAddress": "PHI Hospital Road 1",
    "InstitutionalDepartmentName": "PHI Radiology Dept",
    # the patient
    "PatientAddress": "Phistreet 9 Phitown",
    "PatientTelephoneNumbers": "555-0147-PHI",
    "MilitaryRank": "PHIRANK",
    "Occupation": "PHIOCCUPATION",
    "EthnicGroup": "PHIETHNIC",
    "PatientAge": "077Y",
    # free text
    "PatientComments": "PHI patient comment",
    "AdditionalPatientHistory": "PHI history of Alice",
    "AdmittingDiagnosesDescription": "PHI diagnosis of Alice",
    "StudyDescription": "PHI study of Alice",
    "SeriesDescription": "PHI series of Alice",
    "ProtocolName": "PHI protocol Alice",
    "ImageComments": "PHI image comment",
    "DerivationDescription": "PHI derivation of Alice",
    "PerformedProcedureStepDescription": "PHI pps description",
    "RequestedProcedureDescription": "PHI requested procedure",
}
IN_SEQUENCE = {"AccessionNumber": "PHISEQACC5", "RequestedProcedureDescription": "PHI in seq"}
PRIVATE = "PHI private Alice"


def _with_phi(data: bytes) -> tuple[bytes, Dataset]:
    ds = dcmread(io.BytesIO(data))
    for keyword, value in PHI.items():
        setattr(ds, keyword, value)
    item = Dataset()
    for keyword, value in IN_SEQUENCE.items():
        setattr(item, keyword, value)
    ds.RequestAttributesSequence = [item]
    ds.private_block(0x0029, "PHI VENDOR", create=True).add_new(0x10, "LO", PRIVATE)
    ds.BurnedInAnnotation = "NO"
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue(), ds


def _leaks(text: bytes, originals: list[str]) -> list[str]:
    return [value for value in originals if value.encode() in text]


async def test_an_anonymized_job_leaves_no_original_identifier_anywhere(
    compressor: CompressorSettings,
    producer: AIOKafkaProducer,
    test_env: dict[str, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="dicompress_compressor")
    bucket = test_env["S3_BUCKET"]
    sources = []
    for name, data in generate_series(n_slices=SLICES, size=64, seed=31):
        carrying, ds = _with_phi(data)
        sources.append(ds)
        await asyncio.to_thread(put, compressor, bucket, f"in/{name}", carrying)
    uids = sorted(
        {str(s[k].value) for s in sources for k in UID_KEYWORDS}
        | {str(s.SOPInstanceUID) for s in sources}
    )
    originals = [*PHI.values(), *IN_SEQUENCE.values(), PRIVATE, *uids]
    as_names = originals + [sanitise(value) for value in originals]  # as a file name makes them
    options: dict[str, Any] = {"anonymize": True, "codec": Codec.J2K_LOSSY}
    acme = request_for(bucket, "in/", **options, compression_rate=10.0)
    globex = request_for(bucket, "in/", **options, compression_rate=10.0, tenant="globex")

    await publish(producer, compressor.topics.requests, acme)
    await publish(producer, compressor.topics.requests, globex)
    results = {}
    for request in (acme, globex):
        events = await job_events(compressor, request.job_id)
        for event in events:  # every event of the job, as it travels
            assert _leaks(event.model_dump_json().encode(), originals) == [], event.type
        completed = events[-1]
        assert isinstance(completed, JobCompleted), completed
        assert completed.slices_encoded == SLICES
        results[request.tenant] = (request, completed)

    # the worker's log lines, with their structured fields (the pool processes log nothing)
    mine = [r for r in caplog.records if r.name.startswith("dicompress_compressor")]
    assert any(str(acme.job_id) in repr(vars(r)) for r in mine)  # the job did log
    for record in mine:
        assert _leaks(f"{record.getMessage()} {vars(record)!r}".encode(), originals) == []

    s3 = make_s3_client(compressor)
    request, completed = results["acme"]
    assert completed.artifact_uri is not None
    artifact_key = completed.artifact_uri.removeprefix(f"s3://{bucket}/")
    job_keys = [
        o["Key"]
        for o in s3.list_objects_v2(
            Bucket=bucket, Prefix=f"{request.tenant}/jobs/{request.job_id}/"
        )["Contents"]
    ]
    assert _leaks("\n".join([artifact_key, *job_keys]).encode(), as_names) == []
    for key in job_keys:  # the slices stored one by one, and their metadata
        stored = s3.get_object(Bucket=bucket, Key=key)
        assert _leaks(stored["Body"].read(), originals) == [], key
        assert _leaks(repr(stored["Metadata"]).encode(), originals) == [], key

    body = s3.get_object(Bucket=bucket, Key=artifact_key)["Body"].read()
    assert_manifest_matches_zip(body)
    entries, manifest = read_zip(body)
    assert len(entries) == SLICES
    assert _leaks("\n".join(entries).encode(), as_names) == []  # entry names
    assert _leaks(json.dumps(manifest).encode(), originals) == []
    outputs = [dcmread(io.BytesIO(data)) for data in entries.values()]
    for name, data in entries.items():
        assert _leaks(data, originals) == [], name  # anywhere in the file's bytes
    for ds in outputs:
        for keyword, value in PHI.items():  # and as values (a date shifted, not kept)
            assert str(ds.get(keyword, "")) != value, keyword
        assert not any(element.tag.is_private for element in ds)
        assert ds.PatientIdentityRemoved == "YES"
    for keyword in UID_KEYWORDS:  # remapped the same way across the slices of the job
        assert len({str(ds[keyword].value) for ds in outputs}) == 1, keyword
    assert len({str(ds.SOPInstanceUID) for ds in outputs}) == SLICES

    _, other = results["globex"]
    assert other.artifact_uri is not None
    other_body = s3.get_object(
        Bucket=bucket, Key=other.artifact_uri.removeprefix(f"s3://{bucket}/")
    )["Body"].read()
    other_outputs = [dcmread(io.BytesIO(data)) for data in read_zip(other_body)[0].values()]
    for keyword in (*UID_KEYWORDS, "SOPInstanceUID"):  # unlinkable across jobs and tenants
        ours = {str(ds[keyword].value) for ds in outputs}
        theirs = {str(ds[keyword].value) for ds in other_outputs}
        assert ours.isdisjoint(theirs), keyword
