"""Make one preview (or Mini CT) slice from its Z-group's source files: in a pool process.

Read each source -> check the group is one image format on one grid -> decode the stored values
(`decoding`: JPEG Lossless, JPEG-LS, JPEG 2000, RLE inputs too) -> crop to the Mini CT's box,
if any -> bin (`binning`) -> derive the dataset (`dataset`, `geometry`) -> encode with the
compressor's codec (`codecs.encode_frame`) -> measure what a lossy codec lost against the
BINNED pixels (`quality`) -> encapsulate, mark lossy (`lossy_attributes`; a lossless slice gets
its new UID only) -> Part 10 bytes. A refusal raises a SliceRejected saying why, in words.
"""

from __future__ import annotations

import dataclasses
import io
import time
from collections.abc import Sequence
from dataclasses import dataclass

from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.uid import UID

from dicompress_compressor import quality
from dicompress_compressor.codecs import SPECS, ImageFormat, encode_frame
from dicompress_compressor.decoding import decode_frame, frame_count
from dicompress_compressor.encoder import EncodedSlice, malformed, store_codestreams, write_dicom
from dicompress_compressor.errors import (
    NoPixelData,
    NotDicom,
    SliceRejected,
    UnsupportedInput,
)
from dicompress_compressor.lossy_attributes import mark_lossy
from dicompress_compressor.preview.binning import (
    Padding,
    Rescale,
    Stored,
    StoredRange,
    bin_stored,
    binned_shape,
)
from dicompress_compressor.preview.dataset import (
    Crop,
    PreviewSliceSpec,
    derive,
    source_references,
)
from dicompress_compressor.preview.geometry import Plane, along_normal, binned_plane
from dicompress_compressor.preview.plan import ORIENTATION_TOLERANCE
from dicompress_schemas.geometry import Vector


@dataclass(frozen=True)
class PreviewSlice:
    """The encoded preview slice and where it lies; picklable, it travels back from the pool."""

    encoded: EncodedSlice
    position: Vector
    position_along_normal: float


def make_preview_slice(sources: Sequence[bytes], spec: PreviewSliceSpec) -> PreviewSlice:
    """Bin the group's `sources` (DICOM Part 10 files, in anatomical order) and encode the
    result as `spec` says."""
    started = time.process_time()
    datasets = [_read(data) for data in sources]
    image = _group_format(datasets)
    frames = [_decode(ds, image) for ds in datasets]
    k = spec.bin_xy
    crop = spec.crop or Crop(0, 0, image.rows, image.columns)
    if spec.crop is not None:
        frames = [_crop(frame, crop, image) for frame in frames]
    rows, columns = binned_shape(crop.rows, crop.columns, k)
    if rows == 0 or columns == 0:
        raise UnsupportedInput(
            f"a {crop.rows}x{crop.columns} image is smaller than one {k}x{k} block"
        )
    template = datasets[0]  # becomes the output: what it says of its source is read first
    references = source_references(datasets)
    source_uid = str(template.get("SOPInstanceUID", "")) or None
    pixels = bin_stored(
        frames,
        k,
        rescales=[_rescale(ds) for ds in datasets],
        padding=_padding(template, image.signed),
        stored_range=StoredRange.of(image.bits_stored, image.signed),
    )
    plane = binned_plane([_plane(ds) for ds in datasets], k, (crop.row, crop.column))
    derive(template, datasets, plane, spec, (rows, columns))
    out = dataclasses.replace(image, rows=rows, columns=columns)
    codestream = encode_frame(pixels, out, spec.codec, spec.rate)
    ratio = out.pixel_bytes / len(codestream)
    store_codestreams(template, [codestream], spec.codec, out)
    if SPECS[spec.codec].lossless:  # exact by construction (`quality`): nothing to mark
        measured = quality.LOSSLESS
        template.SOPInstanceUID = template.file_meta.MediaStorageSOPInstanceUID = UID(spec.sop_uid)
    else:
        slope, unit = quality.rescale_of(template)  # the binned slice's rescale (`bin_stored`)
        measured = quality.measure(pixels, codestream, slope, unit)
        method = SPECS[spec.codec].method
        mark_lossy(template, ratio=ratio, method=method, new_uid=UID(spec.sop_uid))
    template.SourceImageSequence = references
    data = write_dicom(template)
    encoded = EncodedSlice(
        data=data,
        pixel_bytes=out.pixel_bytes,
        codestream_bytes=len(codestream),
        ratio=ratio,
        encode_ms=(time.process_time() - started) * 1000.0,
        sop_instance_uid=spec.sop_uid,
        source_sop_instance_uid=source_uid,
        psnr_db=measured.psnr_db,
        max_abs_error=measured.max_abs_error,
        max_error_hu=measured.max_error_hu,
    )
    return PreviewSlice(encoded, plane.position, along_normal(plane))


def _crop(frame: Stored, crop: Crop, image: ImageFormat) -> Stored:
    """The box of `frame`; UnsupportedInput when the slice is smaller than the box reaches."""
    if crop.row + crop.rows > image.rows or crop.column + crop.columns > image.columns:
        raise UnsupportedInput(
            f"the region (rows {crop.row}-{crop.row + crop.rows - 1}, columns "
            f"{crop.column}-{crop.column + crop.columns - 1}) does not fit in this "
            f"{image.rows}x{image.columns} slice: ask for a box inside rows 0-{image.rows - 1} "
            f"and columns 0-{image.columns - 1}"
        )
    box: Stored = frame[crop.row : crop.row + crop.rows, crop.column : crop.column + crop.columns]
    return box


def _read(data: bytes) -> Dataset:
    try:
        ds = dcmread(io.BytesIO(data))
    except InvalidDicomError as exc:
        raise NotDicom(f"not a DICOM Part 10 file ({exc})") from exc
    except Exception as exc:  # pydicom raises anything on a broken tag, VR or length
        raise malformed(exc) from exc
    if "PixelData" not in ds:
        raise NoPixelData("no Pixel Data (7FE0,0010): not an image")
    return ds


def _group_format(datasets: Sequence[Dataset]) -> ImageFormat:
    """The group's one image format; UnsupportedInput when its slices cannot be averaged."""
    try:
        formats = [_format(ds) for ds in datasets]
        grids = [(_spacing(ds), _orientation(ds)) for ds in datasets]
    except SliceRejected:
        raise
    except Exception as exc:  # a value pydicom cannot convert
        raise malformed(exc) from exc
    first = formats[0]
    if any(f != first for f in formats[1:]):
        raise UnsupportedInput(
            "the slices to be averaged differ in size or pixel format "
            f"({sorted({f'{f.rows}x{f.columns} {f.bits_stored}-bit' for f in formats})}): "
            "ask for bin_z 1"
        )
    spacing, orientation = grids[0]
    for other_spacing, other_orientation in grids[1:]:
        same = all(abs(a - b) <= 1e-4 for a, b in zip(spacing, other_spacing, strict=True))
        same &= all(
            abs(a - b) <= ORIENTATION_TOLERANCE
            for a, b in zip(orientation, other_orientation, strict=True)
        )
        if not same:
            raise UnsupportedInput(
                "the slices to be averaged differ in pixel spacing or orientation: ask for bin_z 1"
            )
    return first


def _format(ds: Dataset) -> ImageFormat:
    if int(ds.get("SamplesPerPixel", 1)) != 1:
        raise UnsupportedInput(
            f"{ds.SamplesPerPixel} samples per pixel: only greyscale images can be previewed"
        )
    if frame_count(ds) != 1:
        raise UnsupportedInput("a multi-frame object: previews are made of single frames only")
    allocated, stored = ds.get("BitsAllocated"), ds.get("BitsStored")
    if allocated not in (8, 16) or not isinstance(stored, int) or not 1 <= stored <= allocated:
        raise UnsupportedInput(
            f"BitsAllocated {allocated} / BitsStored {stored}: only 8- and 16-bit images with "
            "a consistent Image Pixel module can be previewed"
        )
    return ImageFormat(
        rows=int(ds.Rows),
        columns=int(ds.Columns),
        bits_allocated=int(allocated),
        bits_stored=int(stored),
        signed=int(ds.get("PixelRepresentation", 0)) == 1,
        photometric_interpretation=str(ds.get("PhotometricInterpretation", "MONOCHROME2")),
    )


def _spacing(ds: Dataset) -> tuple[float, float]:
    value = ds.get("PixelSpacing")
    if value is None or len(value) != 2:
        raise UnsupportedInput("no PixelSpacing: the binned pixels could not be placed")
    return float(value[0]), float(value[1])


def _orientation(ds: Dataset) -> tuple[float, float, float, float, float, float]:
    value = ds.get("ImageOrientationPatient")
    if value is None or len(value) != 6:
        raise UnsupportedInput("no ImageOrientationPatient: the binned slice could not be placed")
    n = [float(v) for v in value]
    return n[0], n[1], n[2], n[3], n[4], n[5]


def _plane(ds: Dataset) -> Plane:
    value = ds.get("ImagePositionPatient")
    if value is None or len(value) != 3:
        raise UnsupportedInput("no ImagePositionPatient: the binned slice could not be placed")
    position = (float(value[0]), float(value[1]), float(value[2]))
    return Plane(position, _orientation(ds), _spacing(ds))


def _decode(ds: Dataset, image: ImageFormat) -> Stored:
    try:
        pixels = decode_frame(ds, 0)
    except SliceRejected:
        raise
    except Exception as exc:  # a codec's error on corrupt pixel data, or a short buffer
        raise malformed(exc) from exc
    if pixels.shape != (image.rows, image.columns):
        raise UnsupportedInput(
            f"the pixel data decodes to {pixels.shape}, not {image.rows}x{image.columns}"
        )
    return pixels


def _rescale(ds: Dataset) -> Rescale:
    try:
        slope, intercept = ds.get("RescaleSlope", 1.0), ds.get("RescaleIntercept", 0.0)
        return Rescale(float(slope or 1.0), float(intercept or 0.0))
    except (TypeError, ValueError) as exc:
        raise malformed(exc) from exc


def _padding(ds: Dataset, signed: bool) -> Padding | None:
    """PixelPaddingValue (and its range limit) in stored values, as PS3.3 C.7.5.1.1.2 says."""
    value = _stored_int(ds.get("PixelPaddingValue"), signed)
    if value is None:
        return None
    return Padding(value, _stored_int(ds.get("PixelPaddingRangeLimit"), signed))


def _stored_int(value: object, signed: bool) -> int | None:
    """An US-or-SS value: pydicom leaves it as raw bytes when the file's VR was ambiguous."""
    if value is None or value == "":
        return None
    if isinstance(value, bytes):
        return int.from_bytes(value[:2], "little", signed=signed) if len(value) >= 2 else None
    try:
        return int(str(value))
    except ValueError:
        return None
