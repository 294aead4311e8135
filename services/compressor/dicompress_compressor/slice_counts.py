"""What every compressor job adds up from its slices (a compression's `Tally`, a preview's or
a Mini CT's `PreviewCounts`), and the JobCompleted counters they all report from it."""

from __future__ import annotations

from typing import Any

from dicompress_compressor.encoder import EncodedSlice


class SliceCounts:
    """Slices encoded and failed (with why), bytes and milliseconds, added up as they come."""

    def __init__(self) -> None:
        self.encoded = self.failed = 0
        self.bytes_in = self.bytes_out = self.pixel_bytes = self.codestream_bytes = 0
        self.download_ms = self.encode_ms = self.upload_ms = 0.0
        self.reasons: list[str] = []

    def count_failed(self, source_key: str, reason: str) -> None:
        self.failed += 1
        self.reasons.append(f"{source_key}: {reason}")

    def count_encoded(self, encoded: EncodedSlice, encode_ms: float) -> None:
        """One slice encoded (`encode_ms` 0 when its encoding was reused from a past run)."""
        self.encoded += 1
        self.bytes_out += len(encoded.data)
        self.pixel_bytes += encoded.pixel_bytes
        self.codestream_bytes += encoded.codestream_bytes
        self.encode_ms += encode_ms

    def totals(self) -> dict[str, Any]:
        """JobCompleted's slice counters; the ratio is the contract's, pixel bytes over
        codestream bytes (0 when nothing was encoded)."""
        return {
            "slices_encoded": self.encoded,
            "slices_failed": self.failed,
            "bytes_in": self.bytes_in,
            "bytes_out": self.bytes_out,
            "ratio": self.pixel_bytes / self.codestream_bytes if self.codestream_bytes else 0.0,
            "download_ms": self.download_ms,
            "encode_ms": self.encode_ms,
        }
