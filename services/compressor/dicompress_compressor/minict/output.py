"""What a Mini CT stores under its product prefix, and the ZIP's manifest.

One object per product, at a fixed name under the prefix (the prefix is the product's
identity already): `mini-ct.zip` for a series (its slices `00000.dcm`... in anatomical order and
`manifest.json`), `mini-ct.dcm` for a multi-frame object. JobCompleted's `artifact_uri` is that
object's s3:// URI, which the API presigns.
"""

from __future__ import annotations

from typing import Any

from dicompress_compressor.manifest import ManifestEntry, render_manifest
from dicompress_compressor.preview.stream import GroupOutcome
from dicompress_schemas import ProductRequested
from dicompress_schemas.products import MiniCtFormat, MiniCtParams

ARTIFACT_NAMES = {MiniCtFormat.SERIES: "mini-ct.zip", MiniCtFormat.MULTIFRAME: "mini-ct.dcm"}


def mini_ct_key(prefix: str, fmt: MiniCtFormat) -> str:
    """The key of the Mini CT's one downloadable object under its product `prefix`."""
    return f"{prefix}{ARTIFACT_NAMES[fmt]}"


def manifest_entry(outcome: GroupOutcome, series_uid: str) -> ManifestEntry:
    """One encoded slice as the ZIP's manifest lists it."""
    made = outcome.made
    assert made is not None  # only encoded slices reach the ZIP
    encoded = made.encoded
    return ManifestEntry(
        index=outcome.group.index,
        source_key=outcome.group.first.header.source.key,
        bytes_in=outcome.bytes_in,
        entry_name=outcome.entry_name,
        sop_instance_uid=encoded.sop_instance_uid,
        source_sop_instance_uid=encoded.source_sop_instance_uid,
        bytes_out=len(encoded.data),
        ratio=encoded.ratio,
        psnr_db=encoded.psnr_db,
        max_error_hu=encoded.max_error_hu,
        max_abs_error=encoded.max_abs_error,
        series_instance_uid=series_uid,
        position=made.position,
        position_along_normal=made.position_along_normal,
    )


def render(
    request: ProductRequested, params: MiniCtParams, series_uid: str, entries: list[ManifestEntry]
) -> bytes:
    """manifest.json: what the region is (parameters, source, new series) and every slice.
    Nothing measured in time goes in, so a re-run writes the same manifest."""
    header: dict[str, Any] = {
        "product": "mini-ct",
        "job_id": str(request.job_id),
        "product_key": request.product_key,
        "study_instance_uid": request.study_instance_uid,
        "source_series_instance_uid": request.series_instance_uid,
        "source_version": request.source_version,
        "params": params.model_dump(mode="json"),
    }
    series = [{"series_instance_uid": series_uid, "slices": len(entries)}]
    return render_manifest(header, entries, series)
