"""The compressor's exceptions: one base, so callers can tell our refusals from surprises."""

from __future__ import annotations


class CompressorError(Exception):
    """Base of every error the compressor raises on purpose."""


class SliceRejected(CompressorError, ValueError):
    """One slice cannot be encoded; `code` becomes its SliceFailed's error_code."""

    code = "slice-failed"


class UnsupportedInput(SliceRejected):
    """A DICOM image we do not encode (RGB, multi-frame, odd bit depth, unknown codec)."""

    code = "unsupported"


class NotDicom(SliceRejected):
    """The object is not a DICOM Part 10 file."""

    code = "not-dicom"


class MalformedDicom(SliceRejected):
    """The file starts like DICOM but cannot be parsed: truncated, or a tag, VR or length broken."""

    code = "malformed-dicom"


class NoPixelData(SliceRejected):
    """The DICOM object has no pixel data: not an image."""

    code = "no-pixel-data"


class BelowQualityFloor(SliceRejected):
    """The encoded slice's PSNR (over its own value range) is below the job's `min_psnr_db`."""

    code = "below-quality-floor"


class EncoderUnavailable(CompressorError, RuntimeError):
    """The JPEG 2000 encoding plugin is not installed; the service cannot start."""


class DecoderUnavailable(CompressorError, RuntimeError):
    """A decoder plugin of an input transfer syntax is not installed; the service cannot start."""


class EncoderCrashed(SliceRejected, RuntimeError):
    """A pool process died while encoding (twice for the same slice); the pool was replaced."""

    code = "encoder-crashed"
