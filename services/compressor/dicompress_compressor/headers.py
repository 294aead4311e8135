"""What each object under the source prefix is, from its header alone: an image slice (with its
series and geometry), a DICOM object without pixels (DICOMDIR, SR, presentation state), or not
a readable DICOM file at all.

A job needs this before its first slice: slice indexes follow anatomical order (`layout`), and
JobStarted counts image slices only. Reading every header costs one ranged GET of the object's
first 64 KiB per slice (a CT header is 2-20 KB; the pixels that follow are not read), parsed by
pydicom with `stop_before_pixels`. A header longer than that (a big private block, an Enhanced
CT's per-frame sequences) is read again with 1 MiB, then whole. GETs run concurrently, bounded;
parsing runs in threads so the event loop keeps serving Kafka.
"""

from __future__ import annotations

import asyncio
import io
import math
from dataclasses import dataclass
from enum import StrEnum

from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.uid import DeflatedExplicitVRLittleEndian

from dicompress_compressor.storage import ObjectStore, SourceObject
from dicompress_schemas.envelope import key_problem
from dicompress_schemas.geometry import GeometryError, Orientation, Vector, slice_normal

HEADER_RANGES = (64 * 1024, 1024 * 1024)  # bytes read for a header, then the whole object
HEADER_CONCURRENCY = 16
_KEEP_MAX = HEADER_RANGES[-1]
# (7FE0,0010) Pixel Data and the float variants (7FE0,0008/0009), little and big endian: the tag
# pydicom stopped before, when it stopped because of pixels rather than the end of the bytes.
_PIXEL_TAGS = frozenset(
    tag
    for element in (0x0008, 0x0009, 0x0010)
    for tag in (
        (0x7FE0).to_bytes(2, "little") + element.to_bytes(2, "little"),
        (0x7FE0).to_bytes(2, "big") + element.to_bytes(2, "big"),
    )
)


class Kind(StrEnum):
    IMAGE = "image"  # has pixel data: a slice of the job
    NON_IMAGE = "non-image"  # DICOM without pixel data, or a colour capture: copied as it is
    # (or left out), never a slice
    UNREADABLE = "unreadable"  # not DICOM Part 10, or a header that does not parse: a slice
    # that will fail (the encoder says why), as before headers were read


@dataclass(frozen=True)
class SourceHeader:
    """One source object and what its header says. `data` is the whole object when the header
    read fetched all of it (small objects), so a non-image object is not fetched twice."""

    source: SourceObject
    kind: Kind
    series_instance_uid: str = ""
    series_number: int | None = None
    series_description: str = ""
    sop_instance_uid: str = ""
    sop_class_uid: str = ""
    position: Vector | None = None  # ImagePositionPatient, when the slice has a usable one
    orientation: Orientation | None = None  # ImageOrientationPatient, when it defines a plane
    frames: int = 1
    data: bytes | None = None


async def read_headers(
    store: ObjectStore, sources: list[SourceObject], concurrency: int = HEADER_CONCURRENCY
) -> list[SourceHeader]:
    """Every source's header, in the order given; raises what the store raised when an object
    cannot be read at all (the job then fails: an order built without it would not be the
    order a re-run builds)."""
    limit = asyncio.Semaphore(concurrency)

    async def one(source: SourceObject) -> SourceHeader:
        async with limit:
            return await read_header(store, source)

    return list(await asyncio.gather(*(one(s) for s in sources)))


async def read_header(store: ObjectStore, source: SourceObject) -> SourceHeader:
    """One object's header: a ranged GET, then a bigger one or the whole object if needed. An
    object under a key S3 clients cannot sign is not read: a slice that fails with the reason
    (`pipeline` says it, again without reading)."""
    if key_problem(source.key) is not None:
        return SourceHeader(source, Kind.UNREADABLE)
    for length in HEADER_RANGES:
        whole = source.size <= length
        data = await (store.get_bytes(source) if whole else store.get_range(source, length))
        header = await asyncio.to_thread(parse_header, source, data, whole)
        if header is not None:
            return header
    data = await store.get_bytes(source)
    header = await asyncio.to_thread(parse_header, source, data, True)
    assert header is not None  # whole objects always parse to something
    return header


def parse_header(source: SourceObject, data: bytes, whole: bool) -> SourceHeader | None:
    """What `data` (the object's first bytes, or all of it when `whole`) says; None when the
    header goes on past `data` and more must be read."""
    fp = io.BytesIO(data)
    try:
        ds = dcmread(fp, stop_before_pixels=True)
        deflated = ds.file_meta.get("TransferSyntaxUID") == DeflatedExplicitVRLittleEndian
        if deflated and not whole:
            return None  # a deflated dataset inflates only as a whole
        stopped_at = data[fp.tell() :][:4]
        has_pixels = _has_pixels_deflated(data) if deflated else stopped_at in _PIXEL_TAGS
        if not has_pixels and not whole:
            return None  # stopped at the end of `data`, not at the pixels
        return _described(source, ds, has_pixels, data if whole else None)
    except InvalidDicomError:  # no 'DICM' at byte 128: the first 132 bytes decide
        return SourceHeader(source, Kind.UNREADABLE) if whole or len(data) >= 132 else None
    except Exception:  # pydicom raises anything on a broken tag, VR or length
        return SourceHeader(source, Kind.UNREADABLE) if whole else None


def _has_pixels_deflated(data: bytes) -> bool:
    return "PixelData" in dcmread(io.BytesIO(data), defer_size=1024)


def _described(
    source: SourceObject, ds: Dataset, has_pixels: bool, data: bytes | None
) -> SourceHeader:
    # An object that describes an image (Rows, Columns) but carries no pixels is a broken
    # image, a file cut short before its pixels most often: a slice that fails, not a document.
    image = has_pixels or ("Rows" in ds and "Columns" in ds)
    # A colour image (a dose screen, a photo, a report capture) is not a slice either: our
    # codecs take greyscale, and lossy coding would blur the burned-in text such a capture
    # exists for. It is copied as it is, like a document.
    colour = has_pixels and (_int_or_none(_value(ds, "SamplesPerPixel")) or 1) > 1
    return SourceHeader(
        source,
        Kind.IMAGE if image and not colour else Kind.NON_IMAGE,
        series_instance_uid=_text(ds, "SeriesInstanceUID"),
        series_number=_int_or_none(_value(ds, "SeriesNumber")),
        series_description=_text(ds, "SeriesDescription"),
        sop_instance_uid=_text(ds, "SOPInstanceUID"),
        sop_class_uid=_text(ds, "SOPClassUID"),
        position=_position(_value(ds, "ImagePositionPatient")),
        orientation=_orientation(_value(ds, "ImageOrientationPatient")),
        frames=_int_or_none(_value(ds, "NumberOfFrames")) or 1,
        # kept for the copy of a small document; a big one is fetched again when copied
        data=data
        if (colour or not image) and data is not None and len(data) <= _KEEP_MAX
        else None,
    )


def _value(ds: Dataset, keyword: str) -> object:
    """The element's value, or None when absent or when its value does not parse (a broken
    DS or IS): one bad attribute costs the slice its geometry, not its place in the job."""
    try:
        return ds.get(keyword)
    except Exception:  # pydicom converts on access and raises whatever the value provokes
        return None


def _text(ds: Dataset, keyword: str) -> str:
    value = _value(ds, keyword)
    return "" if value is None else str(value).strip()


def _int_or_none(value: object) -> int | None:
    try:
        return None if value is None or value == "" else int(str(value))
    except ValueError:
        return None


def _floats(value: object, count: int) -> list[float] | None:
    """`count` finite numbers from a DS value, or None (absent, short, or not numbers)."""
    try:
        numbers = [float(v) for v in value]  # type: ignore[attr-defined]
    except (TypeError, ValueError):
        return None
    if len(numbers) != count or not all(math.isfinite(n) for n in numbers):
        return None
    return numbers


def _position(value: object) -> Vector | None:
    n = _floats(value, 3)
    return None if n is None else (n[0], n[1], n[2])


def _orientation(value: object) -> Orientation | None:
    n = _floats(value, 6)
    if n is None:
        return None
    orientation: Orientation = (n[0], n[1], n[2], n[3], n[4], n[5])
    try:
        slice_normal(orientation)
    except GeometryError:  # zero or parallel directions: no plane, so no order
        return None
    return orientation
