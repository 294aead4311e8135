"""Join a Mini CT's encoded frames into one Legacy Converted Enhanced image: in a pool process.

highdicom (`highdicom.legacy`) does the conversion from the single-frame slices that `preview.
encode` made, without re-encoding them: each frame's codestream is copied as it is (the frames
and the object share their transfer syntax), so a lossless frame is still the source's pixels
and nothing is encoded twice. highdicom 0.28 can encode JPEG 2000 only for unsigned pixels, and
most CT is signed: encoding first, then joining, is what works for every series.

Before the conversion each frame takes back its source slice's identity (SOP Instance and
Series UIDs): highdicom lists the frames it converts as the "conversion source" of each frame and
in the Common Instance Reference module, and those must be objects that exist. After it, what
highdicom writes is made true of a derived volume: ImageType and FrameType
DERIVED\\PRIMARY\\VOLUME\\NONE (in the enhanced IODs value 2 may only be PRIMARY, and value 3
is the Image Flavor, of whose terms the legacy AXIAL is not one), the Source Image Evidence
Sequence naming every source slice, and the lossy marks at the top level.
"""

from __future__ import annotations

import io
import time
from collections.abc import Sequence
from dataclasses import dataclass

from highdicom.legacy import (
    LegacyConvertedEnhancedCTImage,
    LegacyConvertedEnhancedMRImage,
    LegacyConvertedEnhancedPETImage,
)
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.uid import CTImageStorage, MRImageStorage, PositronEmissionTomographyImageStorage

from dicompress_compressor.errors import UnsupportedInput

CONVERTERS = {
    CTImageStorage: LegacyConvertedEnhancedCTImage,
    MRImageStorage: LegacyConvertedEnhancedMRImage,
    PositronEmissionTomographyImageStorage: LegacyConvertedEnhancedPETImage,
}
_FRAME_TYPES = ("CTImageFrameTypeSequence", "MRImageFrameTypeSequence", "PETFrameTypeSequence")


@dataclass(frozen=True)
class MultiframeSpec:
    """The object's identity; picklable, it travels to the pool with the frames."""

    series_uid: str
    sop_uid: str
    source_series_uid: str


@dataclass(frozen=True)
class MultiframeObject:
    data: bytes
    frames: int
    build_ms: float  # CPU time of the conversion and the write


def build_multiframe(frames: Sequence[bytes], spec: MultiframeSpec) -> MultiframeObject:
    """One Legacy Converted Enhanced object of `frames` (Part 10 single-frame slices of one
    series, in anatomical order: frame i + 1 is slice i)."""
    started = time.process_time()
    datasets = [dcmread(io.BytesIO(data)) for data in frames]
    first = datasets[0]
    converter = CONVERTERS.get(first.SOPClassUID)
    if converter is None:
        raise UnsupportedInput(
            f"a multi-frame Mini CT can be made of CT, MR or PET images, not of SOP class "
            f"{first.SOPClassUID}: ask for the series format"
        )
    sources = [_as_source(ds, spec) for ds in datasets]
    number = first.get("SeriesNumber")
    image = converter(
        datasets,
        series_instance_uid=spec.series_uid,
        series_number=int(number) if number not in (None, "") else 1,
        sop_instance_uid=spec.sop_uid,
        instance_number=1,
        # the frames stay in the order given, frame i + 1 being slice i as the events say:
        # asked for a dimension index, highdicom re-sorts a regular stack its own way (an
        # oblique one came out top first). The Multi-frame Dimension module is optional in
        # this IOD, and readers place frames by their Plane Position.
        include_dimension_index=False,
    )
    _derived(image, first, sources, spec)
    out = io.BytesIO()
    image.save_as(out, enforce_file_format=True)
    return MultiframeObject(out.getvalue(), len(frames), (time.process_time() - started) * 1e3)


def _as_source(ds: Dataset, spec: MultiframeSpec) -> Dataset:
    """Give frame `ds` its source slice's identity; return its source reference item."""
    references = ds.get("SourceImageSequence") or []
    if len(references) != 1:
        raise UnsupportedInput("a Mini CT frame must come from exactly one source slice")
    reference: Dataset = references[0]
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = reference.ReferencedSOPInstanceUID
    ds.SeriesInstanceUID = spec.source_series_uid
    return reference


def _derived(
    image: Dataset, first: Dataset, sources: Sequence[Dataset], spec: MultiframeSpec
) -> None:
    kind = ["DERIVED", "PRIMARY", "VOLUME", "NONE"]
    image.ImageType = kind
    groups = [*image.SharedFunctionalGroupsSequence, *image.PerFrameFunctionalGroupsSequence]
    for group in groups:
        for keyword in _FRAME_TYPES:
            for item in group.get(keyword, []):
                item.FrameType = kind
    series = Dataset()
    series.SeriesInstanceUID = spec.source_series_uid
    series.ReferencedSOPSequence = [_sop(s) for s in sources]
    study = Dataset()
    study.StudyInstanceUID = first.StudyInstanceUID
    study.ReferencedSeriesSequence = [series]
    image.SourceImageEvidenceSequence = [study]
    if first.get("LossyImageCompression") == "01":
        image.LossyImageCompression = "01"
        for group in image.SharedFunctionalGroupsSequence:
            for item in group.get("UnassignedSharedConvertedAttributesSequence", []):
                if "LossyImageCompression" in item:
                    del item.LossyImageCompression


def _sop(reference: Dataset) -> Dataset:
    item = Dataset()
    item.ReferencedSOPClassUID = reference.ReferencedSOPClassUID
    item.ReferencedSOPInstanceUID = reference.ReferencedSOPInstanceUID
    return item
