"""The pixel box of a Mini CT, checked against the series' slices before any work: a request is
never trusted (the API checks first, with a 422), and a refusal names the valid range in words.
"""

from __future__ import annotations

from dicompress_compressor.codecs import OPENJPEG_MIN_SIDE, SPECS
from dicompress_compressor.preview.binning import binned_shape
from dicompress_compressor.preview.dataset import Crop
from dicompress_compressor.preview.plan import PlanRefused
from dicompress_schemas.products import MiniCtParams


def region_crop(params: MiniCtParams, rows: int, columns: int) -> Crop:
    """The box `params` asks for in `rows` x `columns` slices (the whole slice when it names
    none), or PlanRefused saying what would fit."""
    roi = params.roi
    crop = (
        Crop(0, 0, rows, columns)
        if roi is None
        else Crop(roi.row, roi.column, roi.rows, roi.columns)
    )
    if crop.row + crop.rows > rows or crop.column + crop.columns > columns:
        raise PlanRefused(
            "out-of-range",
            f"the box (rows {crop.row} to {crop.row + crop.rows - 1}, columns {crop.column} to "
            f"{crop.column + crop.columns - 1}) does not fit in the series' {rows} x {columns} "
            f"slices: rows must lie between 0 and {rows - 1}, columns between 0 and {columns - 1}",
        )
    k = params.downsample
    out_rows, out_columns = binned_shape(crop.rows, crop.columns, k)
    if out_rows == 0 or out_columns == 0:
        raise PlanRefused(
            "out-of-range",
            f"a {crop.rows} x {crop.columns} box is smaller than one {k} x {k} block: "
            f"ask for a larger box or a smaller downsample",
        )
    if not SPECS[params.codec].high_throughput and min(out_rows, out_columns) < OPENJPEG_MIN_SIDE:
        raise PlanRefused(
            "out-of-range",
            f"the Mini CT's slices would be {out_rows} x {out_columns} pixels, too small for "
            f"JPEG 2000 ({OPENJPEG_MIN_SIDE} pixels a side at least): ask for a larger box, a "
            "smaller downsample or an htj2k codec",
        )
    return crop
