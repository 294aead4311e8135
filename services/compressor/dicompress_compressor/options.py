"""A compression request's encoder options: one reading, for the job and for its tasks."""

from __future__ import annotations

from dicompress_compressor.encoder import ANONYMIZE_SUPPORTED, SUPPORTED_CODECS, EncodeOptions
from dicompress_compressor.lifecycle import JobAborted
from dicompress_schemas import CompressionRequested


def encode_options(request: CompressionRequested) -> EncodeOptions:
    """The encoder's options, refusing up front what the encoder cannot honour."""
    if request.codec not in SUPPORTED_CODECS:
        raise JobAborted(
            "unsupported-codec",
            f"codec {request.codec.value} is not supported by this compressor yet; "
            f"ask for one of {sorted(c.value for c in SUPPORTED_CODECS)}",
        )
    if request.anonymize and not ANONYMIZE_SUPPORTED:
        # Never ship identifiable data to someone who asked for it de-identified.
        raise JobAborted(
            "unsupported-option",
            "anonymize is not supported by this compressor yet; nothing was written",
        )
    return EncodeOptions(
        codec=request.codec,
        rate=request.compression_rate,
        min_psnr_db=request.min_psnr_db,
        anonymize_seed=str(request.job_id) if request.anonymize else None,
    )
