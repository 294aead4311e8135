"""Encode one DICOM slice as a job asks: the pure core, run inside pool worker processes.

Read -> (de-identify) -> decode the stored pixels one frame at a time (compressed input too,
through the plugin `decoding` names for its transfer syntax) -> encode one codestream per frame
(`codecs`) -> measure what a lossy codec lost (`quality`) -> encapsulate the frames with a Basic
Offset Table under the codec's transfer syntax -> mark a lossy result as a derived image
(`lossy_attributes`) -> write a Part 10 file. Every other element, private tags included, is
kept (anonymization removes private tags: see `anonymize`). A multi-frame object (Enhanced CT,
a CBCT export) stays one object whose every frame is encoded alone, as DICOM requires.
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate
from pydicom.errors import InvalidDicomError
from pydicom.filewriter import dcmwrite

from dicompress_compressor import quality
from dicompress_compressor.anonymize import anonymize
from dicompress_compressor.codecs import (
    SPECS,
    ImageFormat,
    Pixels,
    codestream_precision,
    encode_frame,
    missing_plugins,
    openjpeg_ratio,
)
from dicompress_compressor.decoding import check_decoders_available, decode_frame, frame_count
from dicompress_compressor.errors import (
    EncoderUnavailable,
    MalformedDicom,
    NoPixelData,
    NotDicom,
    SliceRejected,
    UnsupportedInput,
)
from dicompress_compressor.lossy_attributes import derived_instance_uid, mark_lossy
from dicompress_schemas import Codec

__all__ = [
    "ANONYMIZE_SUPPORTED",
    "SUPPORTED_CODECS",
    "EncodeOptions",
    "EncodedSlice",
    "check_encoder_available",
    "encode_slice",
    "openjpeg_ratio",
]

SUPPORTED_CODECS = frozenset(SPECS)
ANONYMIZE_SUPPORTED = True


@dataclass(frozen=True)
class EncodeOptions:
    """How to encode every slice of a job; picklable, it travels to the pool processes."""

    codec: Codec = Codec.J2K_LOSSY
    rate: float | None = 100.0  # gdcmconv's meaning; None for lossless codecs
    min_psnr_db: float | None = None  # floor of Quality.psnr_db: below it the slice is rejected
    anonymize_seed: str | None = None  # set to de-identify, the same for every slice of a job


@dataclass(frozen=True)
class EncodedSlice:
    """The encoded DICOM file and what it cost; picklable, it travels back from the pool.

    `source_sop_instance_uid` is the input's UID, after de-identification when the job asked
    for it (the original must not leak into events or the manifest).
    """

    data: bytes
    pixel_bytes: int
    codestream_bytes: int
    ratio: float
    encode_ms: float
    sop_instance_uid: str = ""
    source_sop_instance_uid: str | None = None
    psnr_db: float | None = None  # over the slice's own value range; None when lossless
    max_abs_error: int | None = None  # stored units
    max_error_hu: float | None = None  # modality units (HU for CT): quality.Quality


def check_encoder_available() -> None:
    """Fail at start-up, not on the first job, when an encoding plugin, or the decoding plugin
    of any input transfer syntax (`decoding`), is missing."""
    if missing := missing_plugins():
        raise EncoderUnavailable(
            f"missing: {'; '.join(missing)}: install pylibjpeg, pylibjpeg-openjpeg and imagecodecs"
        )
    check_decoders_available()


def encode_slice(data: bytes, options: EncodeOptions) -> EncodedSlice:
    """Encode one DICOM Part 10 file as `options` say; raise SliceRejected for what we refuse.

    A lossy result gets a new SOP Instance UID (derived from the source's, so a retry names it
    the same), Lossy Image Compression "01" and the rest of `lossy_attributes`; a lossless one
    keeps its UID and its lossy history as it was.
    """
    if options.codec not in SUPPORTED_CODECS:
        raise UnsupportedInput(f"codec {options.codec.value} is not supported")
    spec = SPECS[options.codec]
    started = time.process_time()
    ds, image, frames = _prepare(data, options)
    source_uid = str(ds.get("SOPInstanceUID", "")) or None
    codestreams = []
    meter = quality.QualityMeter(*quality.rescale_of(ds))
    for index in range(frames):  # one decoded frame held at a time
        pixels = _frame(ds, image, index, frames)
        codestreams.append(encode_frame(pixels, image, options.codec, options.rate))
        if not spec.lossless:
            meter.add(pixels, codestreams[-1])
    measured = quality.LOSSLESS if spec.lossless else meter.result()
    measured.check_floor(options.min_psnr_db)
    pixel_bytes = image.pixel_bytes * frames
    codestream_bytes = sum(len(c) for c in codestreams)
    ratio = pixel_bytes / codestream_bytes
    store_codestreams(ds, codestreams, options.codec, image)
    with unwritable_values_refused():
        if not spec.lossless:
            what = f"{options.codec.value}/{options.rate:g}"
            uid = derived_instance_uid(source_uid, what)
            mark_lossy(ds, ratio=ratio, method=spec.method, new_uid=uid)
    return EncodedSlice(
        data=write_dicom(ds),
        pixel_bytes=pixel_bytes,
        codestream_bytes=codestream_bytes,
        ratio=ratio,
        encode_ms=(time.process_time() - started) * 1000.0,
        sop_instance_uid=str(ds.SOPInstanceUID),
        source_sop_instance_uid=source_uid,
        psnr_db=measured.psnr_db,
        max_abs_error=measured.max_abs_error,
        max_error_hu=measured.max_error_hu,
    )


def _prepare(data: bytes, options: EncodeOptions) -> tuple[Dataset, ImageFormat, int]:
    """Parse, check and de-identify the input; return it, its format and its frame count. Any
    failure here is the file's fault."""
    try:
        ds = _read(data)
        _parse_every_element(ds)
        _check_supported(ds)
        if options.anonymize_seed is not None:
            anonymize(ds, options.anonymize_seed)
        return ds, _image_format(ds), frame_count(ds)
    except SliceRejected:
        raise
    except Exception as exc:  # pydicom parses lazily: a broken tag, VR or length raises
        # anything (AttributeError, NotImplementedError, struct.error...) at first access
        raise malformed(exc) from exc


def malformed(exc: Exception) -> MalformedDicom:
    """The file's fault, in words: pydicom could not parse it."""
    return MalformedDicom(
        f"the DICOM file is malformed ({type(exc).__name__}: {exc}); it is probably "
        "truncated or corrupt: export it again from the source"
    )


@contextmanager
def unwritable_values_refused() -> Iterator[None]:
    """MalformedDicom for what pydicom read leniently but refuses to write back (found by
    bench_fuzz: a corrupt LossyImageCompressionRatio made ValueError or OSError escape, a lost
    (0002,0002) AttributeError). The output is written to memory, so an OSError here is
    pydicom's wrapper of a bad element, never a disk."""
    try:
        yield
    except (ValueError, TypeError, OverflowError, AttributeError, OSError) as exc:
        raise MalformedDicom(
            f"an element of the file holds an invalid value that cannot be written back "
            f"({type(exc).__name__}: {exc}); the file is corrupt: export it again from the source"
        ) from exc


def write_dicom(ds: Dataset) -> bytes:
    """The dataset as a DICOM Part 10 file (see `unwritable_values_refused`)."""
    out = io.BytesIO()
    with unwritable_values_refused():
        dcmwrite(out, ds, enforce_file_format=True)
    return out.getvalue()


def _read(data: bytes) -> Dataset:
    try:
        return dcmread(io.BytesIO(data))
    except InvalidDicomError as exc:
        raise NotDicom(
            f"not a DICOM Part 10 file ({exc}); upload only the series' .dcm files"
        ) from exc


def _parse_every_element(ds: Dataset) -> None:
    """pydicom decodes each element on first access: touch them all now, so that a broken one
    fails here, as the file's fault, rather than in the middle of writing the output."""
    for _ in ds.file_meta.iterall():
        pass
    for element in ds.iterall():
        if element.tag.group == 0x0002:
            raise MalformedDicom(
                f"file meta element {element.tag} inside the dataset: the file is corrupt; "
                "export it again from the source"
            )


def _check_supported(ds: Dataset) -> None:
    if "PixelData" not in ds:
        raise NoPixelData("no Pixel Data (7FE0,0010): not an image, nothing to compress")
    if int(ds.get("SamplesPerPixel", 1)) != 1:
        raise UnsupportedInput(
            f"{ds.SamplesPerPixel} samples per pixel ({ds.get('PhotometricInterpretation', '?')}):"
            " only greyscale images are supported; leave colour images uncompressed"
        )
    if frame_count(ds) < 1:
        raise UnsupportedInput(
            f"NumberOfFrames {ds.NumberOfFrames}: the file declares no image; fix it at the source"
        )
    if ds.get("BitsAllocated") not in (8, 16):
        raise UnsupportedInput(
            f"BitsAllocated {ds.get('BitsAllocated')}: only 8- and 16-bit images are supported"
        )
    stored = ds.get("BitsStored")
    if not isinstance(stored, int) or not 1 <= stored <= ds.BitsAllocated:
        raise UnsupportedInput(
            f"BitsStored {stored} with BitsAllocated {ds.BitsAllocated}: the file's Image Pixel "
            "module is inconsistent; fix it at the source"
        )


def _image_format(ds: Dataset) -> ImageFormat:
    return ImageFormat(
        rows=int(ds.Rows),
        columns=int(ds.Columns),
        bits_allocated=int(ds.BitsAllocated),
        bits_stored=int(ds.BitsStored),
        signed=int(ds.get("PixelRepresentation", 0)) == 1,
        photometric_interpretation=str(ds.get("PhotometricInterpretation", "MONOCHROME2")),
    )


def _frame(ds: Dataset, image: ImageFormat, index: int, frames: int) -> Pixels:
    """The stored values of frame `index`, decoded first when the input is compressed."""
    try:
        pixels = decode_frame(ds, index)
    except SliceRejected:
        raise
    except Exception as exc:  # a codec's error on corrupt pixel data, or a short buffer
        raise malformed(exc) from exc
    if pixels.shape != (image.rows, image.columns):
        where = f"frame {index + 1} of {frames}" if frames > 1 else "the pixel data"
        raise UnsupportedInput(
            f"{where} decodes to {pixels.shape}, not {image.rows}x{image.columns}"
        )
    return pixels


def store_codestreams(
    ds: Dataset, codestreams: list[bytes], codec: Codec, image: ImageFormat
) -> None:
    """Put the codestreams, one per frame, in `ds` as encapsulated Pixel Data with a Basic
    Offset Table."""
    ds.file_meta.TransferSyntaxUID = SPECS[codec].transfer_syntax
    ds.PixelData = encapsulate(codestreams, has_bot=True)
    element = ds["PixelData"]
    element.VR = "OB"
    element.is_undefined_length = True
    for keyword in ("ExtendedOffsetTable", "ExtendedOffsetTableLengths"):
        if keyword in ds:
            delattr(ds, keyword)
    precision = codestream_precision(codec, image)
    if precision != image.bits_stored:  # see codecs.codestream_precision
        ds.BitsStored = precision
        ds.HighBit = precision - 1
