"""Slice indexes in anatomical order, series by series, and where each object goes in the ZIP;
the same plan whatever order the headers come in (a re-run gets the same indexes)."""

from __future__ import annotations

import math
import random

import pytest

from dicompress_compressor.headers import Kind, SourceHeader
from dicompress_compressor.layout import plan, sanitise
from dicompress_compressor.storage import SourceObject
from dicompress_schemas.geometry import Orientation

AXIAL: Orientation = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)


def image(
    key: str,
    z: float | None,
    *,
    uid: str = "1.2.3",
    number: int | None = 2,
    description: str = "Axial 1.25 mm",
    orientation: Orientation | None = AXIAL,
) -> SourceHeader:
    return SourceHeader(
        SourceObject("b", key, 100),
        Kind.IMAGE,
        series_instance_uid=uid,
        series_number=number,
        series_description=description,
        position=None if z is None else (-100.0, -100.0, z),
        orientation=orientation if z is not None else None,
    )


def other(key: str, kind: Kind = Kind.NON_IMAGE) -> SourceHeader:
    return SourceHeader(SourceObject("b", key, 10), kind)


def keys(headers: list[SourceHeader]) -> list[str]:
    return [h.source.key for h in headers]


def test_slices_follow_position_along_the_normal_not_the_file_name() -> None:
    # UUID-like names whose order means nothing; z as a real GE series came out
    headers = [
        image("s/c3f1.dcm", 60.7),
        image("s/0a9b.dcm", 5.8),
        image("s/ffee.dcm", 150.4),
        image("s/1234.dcm", 52.3),
    ]
    layout = plan(headers, "s/")

    assert [p.position_along_normal for p in layout.slices] == [5.8, 52.3, 60.7, 150.4]
    assert [p.index for p in layout.slices] == [0, 1, 2, 3]
    assert [p.entry_name for p in layout.slices] == [
        f"002-Axial_1.25_mm/{i:05d}.dcm" for i in range(4)
    ]
    (series,) = layout.series
    assert (series.folder, series.slices, series.positioned) == ("002-Axial_1.25_mm", 4, 4)
    assert series.spacing is not None
    assert not series.spacing.uniform
    assert series.gantry_tilt_deg == 0.0


def test_series_by_number_then_uid_and_unpositioned_slices_after_the_positioned() -> None:
    headers = [
        image("a/IM2.dcm", 10.0, uid="1.9", number=3, description="Bone"),
        image("a/IM10.dcm", None, uid="1.9", number=3, description="Bone"),
        image("a/IM1.dcm", 20.0, uid="1.9", number=3, description="Bone"),
        image("a/IM3.dcm", None, uid="1.9", number=3, description="Bone"),
        image("b/x.dcm", 0.0, uid="1.5", number=2, description="Soft"),
        image("c/y.dcm", 0.0, uid="1.1", number=None, description=""),
        image("d/z.dcm", 0.0, uid="1.0", number=2, description="Soft"),
        other("e/notes.txt", Kind.UNREADABLE),
        other("e/DICOMDIR"),
    ]
    layout = plan(headers)

    assert keys([p.header for p in layout.slices]) == [
        "d/z.dcm",  # series 2, uid 1.0
        "b/x.dcm",  # series 2, uid 1.5
        "a/IM2.dcm",  # series 3: z 10, z 20, then the unpositioned ones by natural key
        "a/IM1.dcm",
        "a/IM3.dcm",
        "a/IM10.dcm",
        "c/y.dcm",  # no SeriesNumber: last of the series
        "e/notes.txt",  # unreadable: last of all, at the ZIP's root
    ]
    assert [s.folder for s in layout.series] == ["002-Soft", "002-Soft-2", "003-Bone", "000-series"]
    assert layout.slices[-1].series is None
    assert layout.slices[-1].entry_name == "00007.dcm"
    assert layout.slices[4].position_along_normal is None
    assert [o.entry_name for o in layout.others] == ["other/e/DICOMDIR"]


def test_the_plan_does_not_depend_on_the_order_headers_arrive_in() -> None:
    headers = [image(f"s/{i}.dcm", (i * 7919) % 101 * 1.25, uid=f"1.{i % 3}") for i in range(60)]
    headers += [image(f"s/n{i}.dcm", None, uid="1.1") for i in range(5)]
    headers += [other(f"s/doc{i}") for i in range(3)]
    expected = plan(headers, "s/")
    shuffled = headers[:]
    random.Random(7).shuffle(shuffled)  # noqa: S311  # a fixed shuffle, not a secret
    assert plan(shuffled, "s/") == expected


def test_ties_keep_natural_key_order() -> None:
    layout = plan([image("s/IM10.dcm", 5.0), image("s/IM9.dcm", 5.0), image("s/IM1.dcm", 1.0)])
    assert keys([p.header for p in layout.slices]) == ["s/IM1.dcm", "s/IM9.dcm", "s/IM10.dcm"]


def test_a_tilted_gantry_series_is_ordered_and_its_tilt_measured() -> None:
    tilt = math.radians(20)
    orientation: Orientation = (1.0, 0.0, 0.0, 0.0, math.cos(tilt), -math.sin(tilt))
    headers = [image(f"s/{k}.dcm", 2.5 * k, orientation=orientation) for k in (3, 0, 2, 1)]
    layout = plan(headers)
    assert keys([p.header for p in layout.slices]) == [f"s/{k}.dcm" for k in range(4)]
    (series,) = layout.series
    assert series.gantry_tilt_deg == pytest.approx(20.0)
    assert series.spacing is not None
    assert series.spacing.uniform
    assert series.spacing.mean == pytest.approx(2.5 * math.cos(tilt))


def test_non_image_objects_keep_their_path_below_the_prefix_made_safe() -> None:
    layout = plan(
        [
            other("p/DICOMDIR"),
            other("p/sub dir/SR 1.dcm"),
            other("p/../x"),
            other("p/.."),
            other("p/x"),
        ],
        "p/",
    )
    # in natural key order: p/.., p/../x, p/DICOMDIR, p/sub dir/..., p/x
    assert [o.entry_name for o in layout.others] == [
        "other/object",
        "other/x",
        "other/DICOMDIR",
        "other/sub_dir/SR_1.dcm",
        "other/x-2",
    ]


@pytest.mark.parametrize(
    ("text", "safe"),
    [
        ("Axial 1.25 mm", "Axial_1.25_mm"),
        ("  ../Thorax/Abdomen  ", "Thorax_Abdomen"),
        ("Kopf \u00fcber", "Kopf_ber"),
        ("...", ""),
        ("x" * 100, "x" * 64),
    ],
)
def test_folder_names_are_safe(text: str, safe: str) -> None:
    assert sanitise(text) == safe
