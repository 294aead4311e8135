"""The pure summary of a series: anatomical order, spacing, gantry tilt, pixel facts."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import pytest

from dicompress_api.studies.summary import (
    IndexedInstance,
    indexed_instance,
    pixel_facts,
    series_geometry,
)
from dicompress_schemas import InstanceKind, InstanceStored
from dicompress_schemas.histories.ingests import IngestHistory

AXIAL = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)


def indexed(event: InstanceStored) -> IndexedInstance:
    return IndexedInstance(
        sop_instance_uid=event.sop_instance_uid,
        series_instance_uid=event.series_instance_uid,
        kind=event.kind.value,
        sop_class_uid=event.sop_class_uid,
        transfer_syntax_uid=event.transfer_syntax_uid,
        modality=event.modality,
        key=event.key,
        bytes=event.bytes,
        member=event.member,
        header=event.image,
    )


def series(zs: Sequence[float], **fields: Any) -> list[IndexedInstance]:
    """Axial slices at these table positions, numbered 1.. in the given order."""
    history = IngestHistory()
    return [indexed(history.image(z=z, number=n + 1, **fields)) for n, z in enumerate(zs)]


def shuffled(items: list[IndexedInstance], seed: int = 1) -> list[IndexedInstance]:
    copy = list(items)
    random.Random(seed).shuffle(copy)  # noqa: S311 - a fixed test order
    return copy


def test_slices_come_in_order_of_position_along_the_normal_whatever_the_input_order() -> None:
    # Numbered against the anatomy (as some scanners do): InstanceNumber must not decide.
    zs = [-10.0 + 1.25 * i for i in range(9)][::-1]
    geometry = series_geometry(shuffled(series(zs)))
    assert [s.position for s in geometry.slices] == sorted(zs)
    assert [s.instance.header.instance_number for s in geometry.slices if s.instance.header] == [
        9,
        8,
        7,
        6,
        5,
        4,
        3,
        2,
        1,
    ]
    assert geometry.orientation == AXIAL
    assert geometry.orientation_uniform
    assert geometry.without_geometry == 0
    assert geometry.spacing is not None
    assert (geometry.spacing.mean, geometry.spacing.min, geometry.spacing.max) == pytest.approx(
        (1.25, 1.25, 1.25)
    )
    assert geometry.spacing.uniform
    assert geometry.gantry_tilt_deg == pytest.approx(0.0)


def test_a_missing_slice_makes_the_spacing_non_uniform() -> None:
    geometry = series_geometry(series([0.0, 2.5, 5.0, 10.0, 12.5]))
    assert geometry.spacing is not None
    assert (geometry.spacing.min, geometry.spacing.max) == (2.5, 5.0)
    assert geometry.spacing.mean == pytest.approx(12.5 / 4)
    assert not geometry.spacing.uniform


def test_rounding_noise_in_positions_is_still_uniform() -> None:
    geometry = series_geometry(series([0.0, 0.6249999, 1.2500001, 1.875]))
    assert geometry.spacing is not None
    assert geometry.spacing.uniform


def test_gantry_tilt_is_measured_between_the_normal_and_the_line_of_the_slices() -> None:
    # Planes tilted 15 degrees about x, slices advancing along z (the table).
    tilt = math.radians(15)
    orientation = (1.0, 0.0, 0.0, 0.0, math.cos(tilt), -math.sin(tilt))
    history = IngestHistory()
    images = []
    for n in range(5):
        event = history.image(z=0.0, number=n + 1, orientation=orientation)
        assert event.image is not None
        header = event.image.model_copy(update={"image_position": (-180.0, -180.0, 3.0 * n)})
        images.append(indexed(event.model_copy(update={"image": header})))
    geometry = series_geometry(images)
    assert geometry.gantry_tilt_deg == pytest.approx(15.0)
    assert geometry.spacing is not None
    # Along the tilted normal the slices are 3 * cos(15 deg) apart.
    assert geometry.spacing.mean == pytest.approx(3.0 * math.cos(tilt))
    assert geometry.spacing.uniform


def test_images_without_geometry_follow_the_slices_by_instance_number() -> None:
    history = IngestHistory()
    placed = [indexed(history.image(z=z, number=n)) for n, z in ((3, 5.0), (4, 0.0))]
    flat = [indexed(history.image(z=0.0, number=n, orientation=None)) for n in (2, 1)]
    geometry = series_geometry([*flat, *placed])
    assert [s.position for s in geometry.slices] == [0.0, 5.0, None, None]
    numbers = [s.instance.header.instance_number for s in geometry.slices if s.instance.header]
    assert numbers == [4, 3, 1, 2]
    assert geometry.without_geometry == 2


def test_no_geometry_at_all() -> None:
    history = IngestHistory()
    geometry = series_geometry([indexed(history.image(z=0.0, number=1, orientation=None))])
    assert (geometry.orientation, geometry.spacing, geometry.gantry_tilt_deg) == (None, None, None)
    assert geometry.orientation_uniform
    assert len(geometry.slices) == 1


def test_a_slice_in_another_plane_is_listed_but_leaves_the_stack_regular() -> None:
    stack = series([0.0, 2.0, 4.0, 6.0])
    history = IngestHistory()
    scout = indexed(history.image(z=3.0, number=99, orientation=(0, 1, 0, 0, 0, -1)))
    geometry = series_geometry([*stack, scout])
    assert geometry.orientation == AXIAL
    assert not geometry.orientation_uniform
    assert len(geometry.slices) == 5
    assert geometry.spacing is not None
    assert (geometry.spacing.min, geometry.spacing.max, geometry.spacing.uniform) == (2, 2, True)


def test_nearly_equal_orientations_are_one_orientation() -> None:
    noisy = (0.99999999, 1.2e-8, 0.0, 0.0, 1.0, 0.0)
    geometry = series_geometry([*series([0.0, 1.0]), *series([2.0], orientation=noisy)])
    assert geometry.orientation_uniform


def test_a_single_slice_has_no_spacing_and_no_tilt() -> None:
    geometry = series_geometry(series([7.0]))
    assert (geometry.spacing, geometry.gantry_tilt_deg) == (None, None)
    assert [s.position for s in geometry.slices] == [7.0]


def test_pixel_facts_take_the_common_value_and_list_the_distinct_ones() -> None:
    history = IngestHistory()
    images = [indexed(history.image(z=float(z), number=z + 1)) for z in range(3)]
    odd = history.image(
        z=3.0,
        number=4,
        transfer_syntax_uid="1.2.840.10008.1.2.1",
        frames=40,
    )
    assert odd.image is not None
    header = odd.image.model_copy(
        update={"rescale_intercept": -1000.0, "window_center": (50.0,), "window_width": (350.0,)}
    )
    images.append(indexed(odd.model_copy(update={"image": header})))
    facts = pixel_facts(series_geometry(images).slices)
    assert (facts.rows, facts.columns, facts.pixel_spacing) == (512, 512, (0.703125, 0.703125))
    assert (facts.bits_allocated, facts.bits_stored, facts.signed) == (16, 12, False)
    assert facts.photometric_interpretation == "MONOCHROME2"
    assert facts.slice_thickness == 1.25
    assert facts.rescales == ((1.0, -1024.0), (1.0, -1000.0))
    assert facts.windows == ((40.0, 400.0), (400.0, 1800.0), (50.0, 350.0))
    assert facts.transfer_syntaxes == ("1.2.840.10008.1.2.4.70", "1.2.840.10008.1.2.1")
    assert facts.multi_frame == ((odd.sop_instance_uid, 40),)
    assert facts.frames == 3 + 40


def test_indexed_instance_reads_a_row_with_the_header_as_json_text() -> None:
    history = IngestHistory()
    event = history.image(z=1.0, number=2)
    assert event.image is not None
    row = {
        "sop_instance_uid": event.sop_instance_uid,
        "series_instance_uid": event.series_instance_uid,
        "kind": "image",
        "sop_class_uid": event.sop_class_uid,
        "transfer_syntax_uid": event.transfer_syntax_uid,
        "modality": "CT",
        "key": event.key,
        "bytes": 10,
        "member": event.member,
        "header": event.image.model_dump_json(),
    }
    assert indexed_instance(row) == replace(indexed(event), bytes=10)
    report = indexed_instance({**row, "kind": InstanceKind.NON_IMAGE.value, "header": None})
    assert (report.is_image, report.header, report.geometry) == (False, None, None)
