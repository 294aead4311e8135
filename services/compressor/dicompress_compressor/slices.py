"""Where each encoded slice lives in S3, and what its object's metadata says about it.

Slice `i` of job `j` of tenant `t` is stored at `t/jobs/{j}/slices/{i:05d}.dcm` in the target
bucket (under the tenant's own prefix, like everything of the tenant's) as soon as it is
encoded, so a viewer can fetch it while the job runs and a re-run after a crash can reuse it
instead of encoding it again. The object's user metadata keeps what the slice's SliceEncoded
event and the manifest need, so a reused slice is reported exactly as before.
"""

from __future__ import annotations

import contextlib
import uuid

from dicompress_compressor.encoder import EncodedSlice
from dicompress_compressor.storage import ObjectStore
from dicompress_infra.s3 import S3Uri
from dicompress_schemas.naming import job_folder


def job_prefix(bucket: str, tenant: str, job_id: uuid.UUID) -> S3Uri:
    """The job's own folder: its slices and its runs' markers (the contract's `job_folder`;
    the markers: `attempts`)."""
    return S3Uri(bucket, job_folder(tenant, job_id))


def slice_uri(own: S3Uri, index: int) -> S3Uri:
    """Slice `index` in the job's folder `own` (`job_prefix`)."""
    return own.child(f"slices/{index:05d}.dcm")


def slice_metadata(encoded: EncodedSlice, source_key: str, bytes_in: int) -> dict[str, str]:
    """S3 user metadata (ASCII strings, < 2 KB) describing an encoded slice."""
    metadata = {
        "source-key": source_key.encode("ascii", "backslashreplace").decode(),
        "bytes-in": str(bytes_in),
        "pixel-bytes": str(encoded.pixel_bytes),
        "codestream-bytes": str(encoded.codestream_bytes),
        "ratio": repr(encoded.ratio),
        "encode-ms": repr(encoded.encode_ms),
        "sop-instance-uid": encoded.sop_instance_uid,
    }
    if encoded.source_sop_instance_uid is not None:
        metadata["source-sop-instance-uid"] = encoded.source_sop_instance_uid
    # "psnr-db", not version 1's "psnr" (against the BitsStored peak): a slice stored before
    # SliceEncoded v2 is re-emitted without a range PSNR rather than with the old figure
    if encoded.psnr_db is not None:
        metadata["psnr-db"] = repr(encoded.psnr_db)
    if encoded.max_error_hu is not None:
        metadata["max-error-hu"] = repr(encoded.max_error_hu)
    if encoded.max_abs_error is not None:
        metadata["max-abs-error"] = str(encoded.max_abs_error)
    return metadata


def restore_slice(
    data: bytes, metadata: dict[str, str], source_key: str
) -> tuple[EncodedSlice, int] | None:
    """The stored slice and its source's size, or None when the object is not one we wrote
    for this source (another listing, or metadata lost): then the slice is encoded again."""
    try:
        if metadata["source-key"] != source_key.encode("ascii", "backslashreplace").decode():
            return None
        psnr, max_error = metadata.get("psnr-db"), metadata.get("max-abs-error")
        max_error_hu = metadata.get("max-error-hu")
        encoded = EncodedSlice(
            data=data,
            pixel_bytes=int(metadata["pixel-bytes"]),
            codestream_bytes=int(metadata["codestream-bytes"]),
            ratio=float(metadata["ratio"]),
            encode_ms=float(metadata["encode-ms"]),
            sop_instance_uid=metadata["sop-instance-uid"],
            source_sop_instance_uid=metadata.get("source-sop-instance-uid"),
            psnr_db=None if psnr is None else float(psnr),
            max_abs_error=None if max_error is None else int(max_error),
            max_error_hu=None if max_error_hu is None else float(max_error_hu),
        )
        return encoded, int(metadata["bytes-in"])
    except (KeyError, ValueError):
        return None


async def stored_slices(store: ObjectStore, own: S3Uri) -> frozenset[int]:
    """Indices of the slices an earlier run of this job already stored."""
    prefix = own.child("slices/")
    indices = set()
    for obj in await store.list_ours(prefix):
        with contextlib.suppress(ValueError):  # not one of ours: ignore it
            indices.add(int(obj.key.removeprefix(prefix.prefix).removesuffix(".dcm")))
    return frozenset(indices)
