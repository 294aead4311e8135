"""Planning the preview's slices: groups of bin_z in anatomical order, and the refusals."""

from __future__ import annotations

import dataclasses

import pytest
from preview_series import SeriesSpec, dataset, laid_out, part10, series_files

from dicompress_compressor.preview.plan import PlanRefused, plan_groups


def _plan(files: list[tuple[str, bytes]], bin_z: int):  # type: ignore[no-untyped-def]
    layout = laid_out(files)
    (series,) = layout.series
    return plan_groups(series, layout.slices, bin_z)


def test_groups_are_consecutive_slices_in_anatomical_order() -> None:
    spec = SeriesSpec(n=8, step=(0.0, 0.0, -1.25))  # acquired head to feet
    plan = _plan(series_files(spec), 2)
    assert plan.left_out == 0
    assert [g.index for g in plan.groups] == [0, 1, 2, 3]
    z = [[m.header.position[2] for m in g.members] for g in plan.groups]  # type: ignore[index]
    # ascending along the normal (+z): the feet first, whatever the files' order
    assert z == [[-8.75 + 20, -7.5 + 20], [-6.25 + 20, -5.0 + 20],
                 [-3.75 + 20, -2.5 + 20], [-1.25 + 20, 0.0 + 20]]  # fmt: skip


def test_a_short_last_group_is_left_out() -> None:
    plan = _plan(series_files(SeriesSpec(n=10)), 4)
    assert [len(g.members) for g in plan.groups] == [4, 4]
    assert plan.left_out == 2
    # the two left out are the highest along the normal
    last = plan.groups[-1].members[-1].position_along_normal
    assert last == pytest.approx(20.0 + 7 * 1.25)


def test_bin_z_1_takes_every_slice() -> None:
    plan = _plan(series_files(SeriesSpec(n=5)), 1)
    assert [len(g.members) for g in plan.groups] == [1] * 5
    assert plan.left_out == 0


def test_z_binning_is_refused_on_non_uniform_spacing() -> None:
    spec = SeriesSpec(n=6)
    files = series_files(spec)
    del files[3]  # a missing slice: one gap of 2.5 mm among 1.25 mm ones
    with pytest.raises(PlanRefused, match=r"not evenly spaced.*1\.250 to 2\.500 mm") as refused:
        _plan(files, 2)
    assert refused.value.error_code == "non-uniform-spacing"
    assert len(_plan(files, 1).groups) == 5  # in-plane binning alone is fine


def test_spacing_within_the_contract_tolerance_is_uniform() -> None:
    spec = SeriesSpec(n=6)
    files = []
    for i in range(spec.n):
        ds = dataset(spec, i)
        z = 20.0 + 1.25 * i + (0.002 if i % 2 else -0.002)  # DS rounding by a scanner
        ds.ImagePositionPatient = ["-40", "-35", f"{z:.3f}"]
        files.append((f"{i}.dcm", part10(ds)))
    assert len(_plan(files, 2).groups) == 3


def test_slices_without_geometry_are_refused() -> None:
    spec = SeriesSpec(n=4)
    files = series_files(spec)
    ds = dataset(spec, 2)
    del ds.ImagePositionPatient
    files[2] = ("nopos.dcm", part10(ds))
    with pytest.raises(PlanRefused, match="no usable ImagePositionPatient") as refused:
        _plan(files, 1)
    assert refused.value.error_code == "no-geometry"


def test_too_few_slices_for_bin_z() -> None:
    with pytest.raises(PlanRefused, match="needs at least 4 slices"):
        _plan(series_files(SeriesSpec(n=3)), 4)


def test_z_binning_is_refused_when_a_slice_leans_differently() -> None:
    spec = SeriesSpec(n=4)
    files = series_files(spec)
    other = dataclasses.replace(spec, orientation=(1.0, 0.0, 0.0, 0.0, 0.9998, -0.02))
    files[1] = ("lean.dcm", part10(dataset(other, 1)))
    with pytest.raises(PlanRefused) as refused:
        _plan(files, 2)
    assert refused.value.error_code == "non-uniform-orientation"
