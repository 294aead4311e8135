"""Bad input sweep of the DICOM reading path: mutated and truncated slices through encode_slice.

A slice of a job is whatever a client uploaded, so encode_slice must turn any bytes into either
an encoded slice or a SliceRejected, whose message says what to do and whose error code lands in
SliceFailed; any other exception would reach the pipeline as an anonymous failure. The sweep
starts from a small synthetic CT slice (64x64; OpenJPEG needs >= 32 px), uncompressed or already
JPEG 2000, cut short or with bytes overwritten: in the elements before the pixel data a flip
changes a tag, a VR or a length; in the codestream it feeds OpenJPEG's decoder garbage.

History: the first sweep (2026-11-22) found ValueError (pixel data shorter than Rows x Columns),
AttributeError ('Missing required element'), NotImplementedError ('Unknown Value
Representation') and pydicom.errors.BytesLengthException escaping; the encoder now maps them to
MalformedDicom. 3,000 random mutations of the plain slice and 1,500 of the compressed one
found nothing else.
"""

from __future__ import annotations

import io
from functools import cache
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydicom import dcmread

from dicompress_compressor.encoder import EncodedSlice, EncodeOptions, encode_slice
from dicompress_compressor.errors import MalformedDicom, SliceRejected
from dicompress_stack.synthetic_ct import slice_bytes

SIZE = 64
PIXEL_BYTES = SIZE * SIZE * 2  # 16-bit stored values, the last element of the plain file
CODESTREAM_TAIL = 200  # bytes at the end of the compressed file that are surely codestream
OPTIONS = EncodeOptions()

# pydicom warns about every invalid value a flip creates; the warnings are expected here
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

FUZZ = settings(
    deadline=None,
    derandomize=True,  # the same cases on every run: a failure here is reproducible
    database=None,  # so nothing is saved between runs either
    suppress_health_check=[HealthCheck.too_slow],
)


@cache
def _plain() -> bytes:
    return slice_bytes(3, n_slices=8, size=SIZE)


@cache
def _compressed() -> bytes:
    return encode_slice(_plain(), OPTIONS).data


def _overwrite(draw: st.DrawFn, data: bytearray, start: int, end: int) -> bytes:
    for _ in range(draw(st.integers(min_value=1, max_value=8))):
        data[draw(st.integers(min_value=start, max_value=end - 1))] = draw(st.integers(0, 255))
    return bytes(data)


@st.composite
def mutated_plain(draw: st.DrawFn) -> bytes:
    """The plain slice truncated, or with 1-8 bytes overwritten (in the header, or anywhere)."""
    data = bytearray(_plain())
    kind = draw(st.sampled_from(["truncate", "flip-header", "flip-anywhere"]))
    if kind == "truncate":
        return bytes(data[: draw(st.integers(min_value=0, max_value=len(data) - 1))])
    end = len(data) - PIXEL_BYTES if kind == "flip-header" else len(data)
    return _overwrite(draw, data, 0, end)


@st.composite
def mutated_compressed(draw: st.DrawFn) -> bytes:
    """The JPEG 2000 slice cut inside its codestream, or with codestream bytes overwritten."""
    data = bytearray(_compressed())
    if draw(st.booleans()):
        return bytes(data[: draw(st.integers(len(data) // 2, len(data) - 1))])
    return _overwrite(draw, data, len(data) - CODESTREAM_TAIL, len(data))


def _check(data: bytes) -> None:
    try:
        outcome: EncodedSlice | SliceRejected = encode_slice(data, OPTIONS)
    except SliceRejected as exc:  # anything else escapes and fails the test
        outcome = exc
    if isinstance(outcome, SliceRejected):
        assert str(outcome), f"{type(outcome).__name__} without a message: a blank SliceFailed"
    else:
        assert outcome.codestream_bytes > 0


def test_fuzz_dicom_the_unmutated_slices_encode() -> None:
    """The sweep starts from slices that encode: the mutations, not the fixtures, fail."""
    assert isinstance(encode_slice(_plain(), OPTIONS), EncodedSlice)
    assert isinstance(encode_slice(_compressed(), OPTIONS), EncodedSlice)


@settings(FUZZ, max_examples=80)
@given(mutated_plain())
def test_fuzz_dicom_mutated_slice_is_encoded_or_rejected_clearly(data: bytes) -> None:
    _check(data)


@settings(FUZZ, max_examples=30)
@given(mutated_compressed())
def test_fuzz_dicom_mutated_jpeg2000_is_encoded_or_rejected_clearly(data: bytes) -> None:
    _check(data)


def test_fuzz_dicom_a_corrupt_value_refused_on_writing_is_rejected_clearly() -> None:
    """Found by bench/bench_fuzz.py: pydicom reads an invalid DS leniently, then refuses to
    write it back; a corrupt earlier LossyImageCompressionRatio made ValueError escape."""
    data = _compressed()
    assert dcmread(io.BytesIO(data)).LossyImageCompressionRatio  # what the flip corrupts
    # (0028,2112) DS in explicit VR little endian: tag, "DS", a 2-byte length, then the value
    at = data.index(b"\x28\x00\x12\x21DS") + 8
    corrupt = data[:at] + b"\x9a" + data[at + 1 :]
    with pytest.raises(MalformedDicom, match="invalid value that cannot be written back"):
        encode_slice(corrupt, OPTIONS)


@pytest.mark.parametrize(
    "case",
    [
        "flipped-file-meta.dcm",  # (0002,0002) lost: AttributeError on writing
        "unwritable-ratio.dcm",  # (0028,2112) unwritable: OSError on writing
    ],
)
def test_fuzz_dicom_files_found_by_the_long_sweep_are_rejected_clearly(case: str) -> None:
    """Kept as bench/bench_fuzz.py found them (the JPEG 2000 slice with up to 8 bytes
    flipped): each passes reading, then pydicom refuses to write it."""
    data = (Path(__file__).parent / "cases" / case).read_bytes()
    with pytest.raises(MalformedDicom, match="invalid value that cannot be written back"):
        encode_slice(data, OPTIONS)
