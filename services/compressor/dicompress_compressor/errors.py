"""The compressor's exceptions: one base, so callers can tell our refusals from surprises."""

from __future__ import annotations


class CompressorError(Exception):
    """Base of every error the compressor raises on purpose."""


class UnsupportedInput(CompressorError, ValueError):
    """The object is not a DICOM image we can encode (not DICOM, no pixels, RGB, multi-frame)."""


class EncoderUnavailable(CompressorError, RuntimeError):
    """The JPEG 2000 encoding plugin is not installed; the service cannot start."""


class EncoderCrashed(CompressorError, RuntimeError):
    """A pool process died while encoding (twice for the same slice); the pool was replaced."""
