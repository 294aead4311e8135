"""How the index's rows and the series summary become the routes' response bodies."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel

from dicompress_api.products.models import ProductView
from dicompress_api.studies.models import (
    IngestCounts,
    IngestDetail,
    IngestRef,
    MultiFrame,
    NonImageObject,
    Rejection,
    Rescale,
    SeriesDetail,
    SeriesSummary,
    SliceItem,
    Spacing,
    StudyDetail,
    StudyItem,
    WindowPreset,
)
from dicompress_api.studies.summary import IndexedInstance, PixelFacts, SeriesGeometry


def study_url(study: uuid.UUID) -> str:
    return f"/studies/{study}"


def study_item(row: Mapping[str, Any]) -> StudyItem:
    return StudyItem(**_study_fields(row))


def study_detail(
    row: Mapping[str, Any],
    series: Sequence[SeriesSummary],
    non_images: Sequence[IndexedInstance],
    ingests: Sequence[Mapping[str, Any]],
    rejections: Sequence[Mapping[str, Any]],
    products: Sequence[ProductView] = (),
) -> StudyDetail:
    return StudyDetail(
        **_study_fields(row),
        series=list(series),
        non_images=[non_image(i) for i in non_images],
        ingests=[
            IngestRef(**_pick(g, IngestRef), url=f"/ingests/{g['ingest_id']}") for g in ingests
        ],
        rejections=[rejection(r) for r in rejections],
        products=list(products),
    )


def series_summary(
    study: uuid.UUID, row: Mapping[str, Any], geometry: SeriesGeometry, facts: PixelFacts
) -> SeriesSummary:
    return SeriesSummary(**_series_fields(study, row, geometry, facts))


def series_detail(
    study_row: Mapping[str, Any],
    row: Mapping[str, Any],
    geometry: SeriesGeometry,
    facts: PixelFacts,
    non_images: Sequence[IndexedInstance],
) -> SeriesDetail:
    study = study_row["study_id"]
    return SeriesDetail(
        **_series_fields(study, row, geometry, facts),
        study_id=study,
        study_instance_uid=study_row["study_instance_uid"],
        slices=[
            SliceItem(
                sop_instance_uid=s.instance.sop_instance_uid,
                position=s.position,
                instance_number=s.instance.header.instance_number if s.instance.header else None,
                frames=s.instance.header.number_of_frames if s.instance.header else 1,
                key=s.instance.key,
            )
            for s in geometry.slices
        ],
        without_geometry=geometry.without_geometry,
        rescale=[Rescale(slope=s, intercept=i) for s, i in facts.rescales],
        windows=[WindowPreset(center=c, width=w) for c, w in facts.windows],
        bits_allocated=facts.bits_allocated,
        bits_stored=facts.bits_stored,
        signed=facts.signed,
        photometric_interpretation=facts.photometric_interpretation,
        samples_per_pixel=facts.samples_per_pixel,
        transfer_syntaxes=list(facts.transfer_syntaxes),
        multi_frame=[MultiFrame(sop_instance_uid=u, frames=f) for u, f in facts.multi_frame],
        non_images=[non_image(i) for i in non_images],
    )


def ingest_detail(
    row: Mapping[str, Any],
    rejections: Sequence[Mapping[str, Any]],
    studies: Sequence[Mapping[str, Any]],
    unfiled: Sequence[IndexedInstance],
) -> IngestDetail:
    return IngestDetail(
        **_pick(row, IngestDetail, exclude={"counts", "rejections", "studies", "unfiled"}),
        counts=IngestCounts(**_pick(row, IngestCounts)),
        rejections=[rejection(r) for r in rejections],
        studies=[study_item(s) for s in studies],
        unfiled=[non_image(i) for i in unfiled],
    )


def non_image(instance: IndexedInstance) -> NonImageObject:
    return NonImageObject(
        sop_instance_uid=instance.sop_instance_uid,
        sop_class_uid=instance.sop_class_uid,
        series_instance_uid=instance.series_instance_uid,
        modality=instance.modality,
        key=instance.key,
        bytes=instance.bytes,
        member=instance.member,
    )


def rejection(row: Mapping[str, Any]) -> Rejection:
    return Rejection(**_pick(row, Rejection))


def _study_fields(row: Mapping[str, Any]) -> dict[str, Any]:
    fields = _pick(row, StudyItem, exclude={"id", "url"})
    return {**fields, "id": row["study_id"], "url": study_url(row["study_id"])}


def _series_fields(
    study: uuid.UUID, row: Mapping[str, Any], geometry: SeriesGeometry, facts: PixelFacts
) -> dict[str, Any]:
    spacing = geometry.spacing
    uid = row["series_instance_uid"]
    return {
        **_pick(row, SeriesSummary, exclude=_DERIVED),
        "rows": facts.rows,
        "columns": facts.columns,
        "pixel_spacing": facts.pixel_spacing,
        "orientation": geometry.orientation,
        "orientation_uniform": geometry.orientation_uniform,
        "slice_thickness": facts.slice_thickness,
        "spacing": (
            Spacing(mean=spacing.mean, min=spacing.min, max=spacing.max, uniform=spacing.uniform)
            if spacing is not None
            else None
        ),
        "gantry_tilt_deg": geometry.gantry_tilt_deg,
        "url": f"{study_url(study)}/series/{uid}",
    }


_DERIVED = frozenset(
    {
        "rows",
        "columns",
        "pixel_spacing",
        "orientation",
        "orientation_uniform",
        "slice_thickness",
        "spacing",
        "gantry_tilt_deg",
        "url",
    }
)


def _pick(
    row: Mapping[str, Any], model: type[BaseModel], exclude: frozenset[str] | set[str] = frozenset()
) -> dict[str, Any]:
    """The row's values of the model's fields (by snake_case name), absent ones left out."""
    return {name: row[name] for name in model.model_fields if name not in exclude and name in row}
