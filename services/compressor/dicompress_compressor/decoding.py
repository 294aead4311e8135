"""What the compressor decodes: every transfer syntax of the shared plugin table
(`dicompress_infra.dicom_decoding`, where each plugin is named and why), checked at start-up,
except 12-bit JPEG Extended, refused in words."""

from __future__ import annotations

from pydicom.dataset import Dataset
from pydicom.uid import JPEGExtended12Bit

from dicompress_compressor.errors import DecoderUnavailable, UnsupportedInput
from dicompress_infra import dicom_decoding
from dicompress_infra.dicom_decoding import DECODING_PLUGINS, Pixels, missing_decoders


def check_decoders_available() -> None:
    """Refuse to start, saying what to install, when any input syntax cannot be decoded."""
    if missing := missing_decoders():
        raise DecoderUnavailable(
            "cannot decode every input transfer syntax: " + " | ".join(missing)
        )


def frame_count(ds: Dataset) -> int:
    """NumberOfFrames, 1 when absent or empty."""
    return int(ds.get("NumberOfFrames", 1) or 1)


def decode_frame(ds: Dataset, index: int) -> Pixels:
    """The stored values of frame `index` (0-based), decoded by the plugin named for the
    file's transfer syntax. Raises UnsupportedInput for a syntax we do not decode."""
    syntax = dicom_decoding.transfer_syntax(ds)
    if syntax not in DECODING_PLUGINS:
        name = syntax.name if syntax.is_valid else "an unknown one"
        raise UnsupportedInput(
            f"the pixel data is in transfer syntax {syntax or '(none)'} ({name}), which this "
            "compressor does not decode: export the series uncompressed, JPEG Lossless, "
            "JPEG-LS, JPEG 2000 or RLE"
        )
    if syntax == JPEGExtended12Bit and int(ds.get("BitsStored", 8)) > 8:
        # pydicom refuses 12-bit JPEG Extended through GDCM, and GDCM's own 12-bit lossy
        # decoder wraps dark pixels to white (measured: 0 decoded as 4095); no BSD/MIT decoder
        # does it right, so we refuse rather than ship a wrong image.
        raise UnsupportedInput(
            "12-bit JPEG Extended (1.2.840.10008.1.2.4.51) pixel data cannot be decoded "
            "reliably here: export the series uncompressed or JPEG Lossless and send it again"
        )
    return dicom_decoding.decode_frame(ds, index)
