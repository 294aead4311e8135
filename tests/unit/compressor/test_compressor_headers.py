"""What a source object is, from the first bytes of it: image (with series and geometry),
DICOM without pixels, or unreadable; and how many bytes are fetched to know it."""

from __future__ import annotations

import io

import pytest
from compressor_fakes import MemoryStore
from compressor_study import dicomdir, restyled, series, structured_report, with_private_block
from compressor_transcode import transcode
from pydicom import dcmread
from pydicom.uid import DeflatedExplicitVRLittleEndian, JPEGLosslessSV1

from dicompress_compressor.headers import (
    HEADER_RANGES,
    Kind,
    parse_header,
    read_header,
    read_headers,
)
from dicompress_compressor.storage import SourceObject

SOURCE = SourceObject("bucket", "src/x.dcm", 0)


@pytest.fixture(scope="module")
def slice_1() -> bytes:
    return series(3, seed=4, number=7, description="Axial")[1]


def test_an_image_header_gives_its_series_and_geometry(slice_1: bytes) -> None:
    header = parse_header(SOURCE, slice_1[:4096], whole=False)

    assert header is not None
    original = dcmread(io.BytesIO(slice_1))
    assert header.kind is Kind.IMAGE
    assert header.series_instance_uid == original.SeriesInstanceUID
    assert (header.series_number, header.series_description) == (7, "Axial")
    assert header.sop_instance_uid == original.SOPInstanceUID
    assert header.position == tuple(float(v) for v in original.ImagePositionPatient)
    assert header.position[2] == -1.25  # type: ignore[index]
    assert header.orientation == (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
    assert header.frames == 1
    assert header.data is None  # pixels are never kept


def test_a_prefix_that_ends_before_the_pixels_asks_for_more(slice_1: bytes) -> None:
    assert parse_header(SOURCE, slice_1[:600], whole=False) is None
    assert parse_header(SOURCE, slice_1[:100], whole=False) is None  # not even the preamble


@pytest.mark.parametrize("make", [structured_report, dicomdir])
def test_dicom_without_pixels_is_non_image_and_kept_for_the_copy(make: object) -> None:
    data = make()  # type: ignore[operator]
    assert parse_header(SOURCE, data[:200], whole=False) is None  # might still have pixels
    header = parse_header(SOURCE, data, whole=True)
    assert header is not None
    assert header.kind is Kind.NON_IMAGE
    assert header.data == data


def test_an_image_cut_before_its_pixels_is_still_an_image(slice_1: bytes) -> None:
    header = parse_header(SOURCE, restyled(slice_1, PixelData=None), whole=True)
    assert header is not None
    assert header.kind is Kind.IMAGE  # Rows and Columns: a broken image, a slice that fails


def test_what_is_not_dicom_is_unreadable() -> None:
    text = b"the radiologist's notes " * 20
    assert parse_header(SOURCE, text[:300], whole=False).kind is Kind.UNREADABLE  # type: ignore[union-attr]
    assert parse_header(SOURCE, b"short", whole=True).kind is Kind.UNREADABLE  # type: ignore[union-attr]
    assert parse_header(SOURCE, b"short", whole=False) is None


def test_compressed_and_deflated_inputs_are_images(slice_1: bytes) -> None:
    jpeg = transcode(slice_1, JPEGLosslessSV1)
    assert parse_header(SOURCE, jpeg[:4096], whole=False).kind is Kind.IMAGE  # type: ignore[union-attr]
    deflated = transcode(slice_1, DeflatedExplicitVRLittleEndian)
    assert parse_header(SOURCE, deflated[:4096], whole=False) is None  # inflates only whole
    header = parse_header(SOURCE, deflated, whole=True)
    assert header is not None
    assert header.kind is Kind.IMAGE
    assert header.position is not None
    report = transcode(structured_report(), DeflatedExplicitVRLittleEndian)
    assert parse_header(SOURCE, report, whole=True).kind is Kind.NON_IMAGE  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "values", [None, ["1", "0", "0", "1", "0", "0"], ["1", "0", "0", "0", "1"]]
)
def test_an_orientation_without_a_plane_gives_no_geometry(
    slice_1: bytes, values: list[str] | None
) -> None:
    header = parse_header(SOURCE, restyled(slice_1, ImageOrientationPatient=values), whole=True)
    assert header is not None
    assert header.kind is Kind.IMAGE
    assert header.orientation is None


def test_values_that_do_not_parse_cost_the_geometry_not_the_slice(slice_1: bytes) -> None:
    iop, broken_iop = b"1\\0\\0\\0\\1\\0 ", b"a\\0\\0\\0\\1\\0 "
    number = b"\x20\x00\x11\x00IS\x02\x007 "  # (0020,0011) SeriesNumber "7"
    assert slice_1.count(iop) == 1
    assert slice_1.count(number) == 1
    broken = slice_1.replace(iop, broken_iop).replace(number, number[:-2] + b"x ")

    header = parse_header(SOURCE, broken, whole=True)

    assert header is not None
    assert header.kind is Kind.IMAGE
    assert header.orientation is None
    assert header.series_number is None
    assert header.position is not None


@pytest.mark.parametrize(
    ("private", "gets"),
    [
        (0, [HEADER_RANGES[0]]),  # one ranged GET of 64 KiB
        (200_000, [HEADER_RANGES[0], HEADER_RANGES[1]]),  # then 1 MiB
        (1_500_000, [HEADER_RANGES[0], HEADER_RANGES[1], None]),  # then the whole object
    ],
)
async def test_a_long_header_is_read_with_bigger_ranges(
    slice_1: bytes, private: int, gets: list[int | None]
) -> None:
    big = restyled(slice_1, PixelData=bytes(2 * 1024 * 1024), Rows=1024, Columns=1024)
    data = with_private_block(big, private) if private else big
    store = MemoryStore({"src/x.dcm": data})

    header = await read_header(store, SourceObject("bucket", "src/x.dcm", len(data)))

    assert header.kind is Kind.IMAGE
    assert header.position is not None
    assert [length for _, length in store.gets] == gets


async def test_small_objects_are_fetched_whole_once() -> None:
    report = structured_report()
    store = MemoryStore({"src/sr.dcm": report})
    header = await read_header(store, SourceObject("bucket", "src/sr.dcm", len(report)))
    assert header.kind is Kind.NON_IMAGE
    assert header.data == report
    assert store.gets == [("src/sr.dcm", None)]


async def test_headers_come_back_in_the_order_given_and_a_get_failure_raises(
    slice_1: bytes,
) -> None:
    store = MemoryStore({f"src/{i}.dcm": slice_1 for i in range(40)})
    sources = [SourceObject("bucket", f"src/{i}.dcm", len(slice_1)) for i in range(40)]
    headers = await read_headers(store, sources, concurrency=4)
    assert [h.source for h in headers] == sources

    store.fail_gets["src/7.dcm"] = ConnectionError("S3 went away")
    with pytest.raises(ConnectionError):
        await read_headers(store, sources, concurrency=4)
