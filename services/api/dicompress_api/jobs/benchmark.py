"""`GET /compress-dicom/benchmark`: the tenant's completed jobs summarised by codec and rate.

The figures come from the projection: each job's ratio and wall time (from `JobCompleted`),
its slices, and the mean PSNR (over each slice's own value range) and largest error in HU of
its slices where the compressor measured them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, Field

from dicompress_api.web.camel import CAMEL


class BenchmarkGroup(BaseModel):
    """Completed jobs of one codec and rate (rate null for lossless codecs)."""

    model_config = CAMEL

    codec: str | None
    compression_rate: float | None
    jobs: int
    slices: int
    mean_ratio: float | None
    mean_processing_ms: float | None
    p50_processing_ms: float | None
    slices_per_second: float | None
    mean_psnr_db: float | None = Field(
        description="Mean over the jobs of their slices' mean PSNR in dB over each slice's own "
        "value range (jobs measured before this scale existed count as none)"
    )
    max_error_hu: float | None = Field(
        description="Largest pixel error of any slice, in modality units (HU for CT)"
    )


class BenchmarkSummary(BaseModel):
    model_config = CAMEL

    groups: list[BenchmarkGroup]


def benchmark_group(row: Mapping[str, Any]) -> BenchmarkGroup:
    """One summary row of the store, as shown."""
    return BenchmarkGroup(
        codec=row["codec"],
        compression_rate=row["compression_rate"],
        jobs=row["jobs"],
        slices=row["slices"] or 0,
        mean_ratio=row["mean_ratio"],
        mean_processing_ms=row["mean_wall_ms"],
        p50_processing_ms=row["p50_wall_ms"],
        slices_per_second=row["slices_per_s"],
        mean_psnr_db=row["mean_psnr_db"],
        max_error_hu=row["max_error_hu"],
    )
