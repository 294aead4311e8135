"""What every slice of one Mini CT is made with, and the new identities: all derived from the
job id, so a re-run of the same product names every series, slice and object the same."""

from __future__ import annotations

from pydicom.uid import UID, generate_uid

from dicompress_compressor.preview.dataset import Crop, PreviewSliceSpec
from dicompress_compressor.preview.plan import Group
from dicompress_schemas.products import MiniCtParams

PRODUCT = "Mini CT"
_ENTROPY = "dicompress-mini-ct"


def mini_ct_series_uid(job_id: str, source_series_uid: str) -> UID:
    return generate_uid(entropy_srcs=[_ENTROPY, job_id, "series", source_series_uid])


def mini_ct_sop_uid(job_id: str, index: int) -> UID:
    """Slice `index`'s SOP Instance UID (format `series`)."""
    return generate_uid(entropy_srcs=[_ENTROPY, job_id, "instance", str(index)])


def mini_ct_object_uid(job_id: str) -> UID:
    """The multi-frame object's SOP Instance UID (format `multiframe`)."""
    return generate_uid(entropy_srcs=[_ENTROPY, job_id, "multiframe"])


def slice_spec(
    params: MiniCtParams,
    crop: Crop,
    group: Group,
    *,
    job_id: str,
    series_uid: str,
    spacing_mm: float | None,
) -> PreviewSliceSpec:
    """Output slice `group.index`: the source slice cropped, downsampled and encoded."""
    return PreviewSliceSpec(
        index=group.index,
        bin_xy=params.downsample,
        bin_z=1,
        codec=params.codec,
        rate=params.rate,
        series_uid=series_uid,
        sop_uid=mini_ct_sop_uid(job_id, group.index),
        spacing_mm=spacing_mm,
        crop=crop,
        product=PRODUCT,
    )
