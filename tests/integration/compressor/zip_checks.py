"""Reading a job's ZIP back: its DICOM files, and its manifest checked against them."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.encaps import generate_fragments

from dicompress_compressor.manifest import MANIFEST_NAME


def read_zip(body: bytes) -> tuple[dict[str, bytes], dict[str, Any]]:
    """The ZIP's entries (name -> bytes, in archive order) and its parsed manifest."""
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        entries = {name: archive.read(name) for name in archive.namelist()}
    return entries, json.loads(entries.pop(MANIFEST_NAME))


def fetched_artifact(s3: Any, bucket: str, artifact_uri: str) -> tuple[bytes, list[str]]:
    """The job's ZIP as S3 holds it, and its entry names in archive order, every entry's CRC
    checked."""
    key = artifact_uri.removeprefix(f"s3://{bucket}/")
    body: bytes = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        assert archive.testzip() is None
        return body, archive.namelist()


def codestream_bytes(ds: Dataset) -> int:
    """Bytes of the encapsulated codestreams: every item but the first, the Basic Offset Table
    (a fragment may carry one byte of padding)."""
    _offsets, *fragments = generate_fragments(ds.PixelData)
    return sum(len(fragment) for fragment in fragments)


def assert_manifest_matches_zip(body: bytes) -> dict[str, Any]:
    """Every encoded slice of the manifest is a file of the ZIP with the size, ratio, SOP
    Instance UID, series and position the manifest gives, and every DICOM file of the ZIP is in
    the manifest (a slice or another object); returns the manifest."""
    entries, manifest = read_zip(body)
    encoded = [m for m in manifest["slices"] if m["entry_name"] is not None]
    others = [o["entry_name"] for o in manifest["other"] if o["entry_name"] is not None]
    assert sorted(entries) == sorted([m["entry_name"] for m in encoded] + others)
    assert len({m["entry_name"] for m in encoded}) == len(encoded)  # each file once
    for m in encoded:
        data = entries[m["entry_name"]]
        ds = dcmread(io.BytesIO(data))
        assert m["bytes_out"] == len(data), m["entry_name"]
        assert m["sop_instance_uid"] == ds.SOPInstanceUID == ds.file_meta.MediaStorageSOPInstanceUID
        assert m["series_instance_uid"] == ds.SeriesInstanceUID
        assert m["position"] == pytest.approx([float(v) for v in ds.ImagePositionPatient])
        frames = int(ds.get("NumberOfFrames", 1) or 1)
        pixel_bytes = ds.Rows * ds.Columns * ds.SamplesPerPixel * ds.BitsAllocated // 8 * frames
        ratio = pixel_bytes / codestream_bytes(ds)
        assert m["ratio"] == pytest.approx(ratio, rel=2e-3), m["entry_name"]
    return manifest
