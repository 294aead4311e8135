"""A Mini CT made in this process (no pool, no S3) from the preview tests' series: the same
plan, region check, slice making and multi-frame join the runner uses."""

from __future__ import annotations

import io

from pydicom import dcmread
from tests.unit.compressor.preview.preview_series import laid_out

from dicompress_compressor.minict.multiframe import (
    MultiframeObject,
    MultiframeSpec,
    build_multiframe,
)
from dicompress_compressor.minict.region import region_crop
from dicompress_compressor.minict.specs import mini_ct_object_uid, mini_ct_series_uid, slice_spec
from dicompress_compressor.preview.encode import PreviewSlice, make_preview_slice
from dicompress_compressor.preview.plan import plan_groups
from dicompress_schemas.products import MiniCtParams


def make_mini_ct(
    files: list[tuple[str, bytes]], params: MiniCtParams, job_id: str = "job-1"
) -> list[PreviewSlice]:
    """The Mini CT's slices (format `series`), in anatomical order."""
    data = dict(files)
    layout = laid_out(files)
    (series,) = layout.series
    plan = plan_groups(series, layout.slices, 1, (params.z_start, params.z_end))
    first = dcmread(io.BytesIO(files[0][1]), stop_before_pixels=True)
    crop = region_crop(params, int(first.Rows), int(first.Columns))
    new_series = mini_ct_series_uid(job_id, series.uid)
    spacing = None if series.spacing is None else series.spacing.mean
    made = []
    for group in plan.groups:
        spec = slice_spec(
            params, crop, group, job_id=job_id, series_uid=new_series, spacing_mm=spacing
        )
        sources = [data[m.header.source.key.rsplit("/", 1)[-1]] for m in group.members]
        made.append(make_preview_slice(sources, spec))
    return made


def make_multiframe(
    files: list[tuple[str, bytes]], params: MiniCtParams, job_id: str = "job-1"
) -> MultiframeObject:
    """The Mini CT as one multi-frame object (format `multiframe`)."""
    frames = make_mini_ct(files, params, job_id)
    source_series = str(dcmread(io.BytesIO(files[0][1]), stop_before_pixels=True).SeriesInstanceUID)
    spec = MultiframeSpec(
        series_uid=mini_ct_series_uid(job_id, source_series),
        sop_uid=mini_ct_object_uid(job_id),
        source_series_uid=source_series,
    )
    return build_multiframe([f.encoded.data for f in frames], spec)
