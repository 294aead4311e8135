"""Bad input with the real encoder (in this process): a truncated file, one without pixel
data and a non-DICOM object each fail alone, and the job goes on with the rest."""

from __future__ import annotations

import io

from compressor_fakes import MemoryStore, request, runner
from pydicom import dcmread
from pydicom.filewriter import dcmwrite

from dicompress_compressor.encoder import EncodedSlice, EncodeOptions, encode_slice
from dicompress_schemas import EventBase, JobCompleted, SliceEncoded, SliceFailed
from dicompress_stack.synthetic_ct import generate_series


class InlineEncoder:
    """The real encoder, called directly: the pool only moves it to other processes."""

    async def encode(self, data: bytes, options: EncodeOptions) -> EncodedSlice:
        return encode_slice(data, options)


def _without_pixels(data: bytes) -> bytes:
    ds = dcmread(io.BytesIO(data))
    del ds.PixelData
    out = io.BytesIO()
    dcmwrite(out, ds, enforce_file_format=True)
    return out.getvalue()


async def test_each_bad_slice_fails_alone_with_its_reason() -> None:
    (_, good), (_, other) = generate_series(n_slices=2, size=128, seed=9)
    store = MemoryStore(
        {
            "src/1.dcm": good,
            "src/2.dcm": good[: len(good) // 2],  # truncated mid pixel data
            "src/3.dcm": _without_pixels(other),  # an image (Rows, Columns) cut before its pixels
            "src/4.txt": b"hello, not an image",
            "src/5.dcm": other,
        }
    )
    sink: list[EventBase] = []
    terminal = await runner(store, InlineEncoder(), sink).run(request())  # type: ignore[arg-type]

    # anatomical order: slice 2 of the series (z -1.25: keys 3, 5), then slice 1 (z 0: keys 1,
    # 2), ties by key; the object that is not DICOM last
    slices = sink[1:-1]
    assert [(type(e).__name__, e.source_key) for e in slices] == [  # type: ignore[attr-defined]
        ("SliceFailed", "src/3.dcm"),
        ("SliceEncoded", "src/5.dcm"),
        ("SliceEncoded", "src/1.dcm"),
        ("SliceFailed", "src/2.dcm"),
        ("SliceFailed", "src/4.txt"),
    ]
    failures = {e.source_key: e for e in sink if isinstance(e, SliceFailed)}
    truncated = failures["src/2.dcm"]
    assert "truncated" in truncated.reason  # says what is wrong and what to do
    assert truncated.error_code == "malformed-dicom"
    assert failures["src/3.dcm"].error_code == "no-pixel-data"
    assert failures["src/4.txt"].error_code == "not-dicom"
    assert isinstance(terminal, JobCompleted)
    assert (terminal.slices_encoded, terminal.slices_failed) == (2, 3)
    assert all(e.sop_instance_uid for e in sink if isinstance(e, SliceEncoded))
