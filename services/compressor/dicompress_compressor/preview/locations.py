"""Where a product job reads and writes, and which series it is made of: checked before any
work, the same way for every product the compressor makes (preview, Mini CT)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dicompress_compressor.attempts import RunMarkers
from dicompress_compressor.layout import Layout, PlannedSlice, Series
from dicompress_compressor.lifecycle import JobAborted, JobLifecycle
from dicompress_compressor.source import SourceUnreadable, lay_out_source
from dicompress_compressor.storage import ObjectStore
from dicompress_infra.s3 import LocationRefused, S3Uri, request_locations
from dicompress_schemas import ProductRequested


def product_locations(
    request: ProductRequested, allowed: frozenset[str] | None
) -> tuple[S3Uri, S3Uri]:
    """Source and target, validated: no '..' escapes, allowed buckets (None: any), and both
    under the tenant's own prefix (a product never reads or writes another tenant's objects)."""
    try:
        source, target = request_locations(
            request.source_uri, request.target_uri, allowed, "COMPRESSOR_ALLOWED_BUCKETS"
        )
    except LocationRefused as exc:
        raise JobAborted(exc.error_code, exc.reason) from exc
    for uri in (source, target):
        if not uri.prefix.startswith(f"{request.tenant}/"):
            raise JobAborted(
                "invalid-uri",
                f"{uri} is not under tenant {request.tenant}'s prefix: a product reads and "
                "writes only its own tenant's objects",
            )
    if target.prefix == source.prefix or target.prefix.startswith(source.prefix):
        raise JobAborted(
            "invalid-uri",
            f"the {request.kind.value}'s prefix {target} lies inside its source {source}",
        )
    return source, target


async def registered_locations(
    job: JobLifecycle,
    request: ProductRequested,
    store: ObjectStore,
    allowed: frozenset[str] | None,
    worker: str,
) -> tuple[tuple[S3Uri, S3Uri], RunMarkers]:
    """What every product job's `prepare` does besides reading its parameters: source and
    target checked (`product_locations`), then this run registered in the target's bucket (its
    floor: see `lifecycle`). The locations, and the markers to record the run's ceiling in."""
    locations = product_locations(request, allowed)
    return locations, await job.register(store, locations[1].bucket, worker)


def requested_series(
    layout: Layout, request: ProductRequested, source: S3Uri
) -> tuple[Series, list[PlannedSlice]]:
    """The requested series and its slices in anatomical order."""
    wanted = request.series_instance_uid
    found = [s for s in layout.series if s.uid == wanted]
    if not found:
        others = f" (it holds {len(layout.series)} other series)" if layout.series else ""
        raise JobAborted(
            "source-empty",
            f"no image slice of series {wanted} under {source}{others}: upload the series, "
            f"then request the {request.kind.value} again",
        )
    series = found[0]
    return series, [p for p in layout.slices if p.series is series]


@dataclass(frozen=True)
class ProductSource:
    """Where a product job writes, and the series it is made of, in anatomical order."""

    target: S3Uri
    series: Series
    slices: list[PlannedSlice]


async def product_source(
    store: ObjectStore,
    request: ProductRequested,
    locations: tuple[S3Uri, S3Uri],
    log_extra: dict[str, Any],
) -> ProductSource:
    """The source and target (checked by `product_locations`), the source laid out, and the
    requested series found (`requested_series`); JobAborted in words otherwise."""
    source, target = locations
    try:
        layout = await lay_out_source(store, source, target, log_extra)
    except SourceUnreadable as exc:
        raise JobAborted("source-unreadable", str(exc)) from exc
    series, slices = requested_series(layout, request, source)
    return ProductSource(target, series, slices)
