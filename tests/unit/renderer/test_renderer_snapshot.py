"""3D snapshots checked by their pixels: vtk's frontal rendering with the CT-Bone preset shows
the dense rod where it projects, on a black background; without vtk, a maximum-intensity
projection stands in and the images say why. Images saved under test-output/renderer/."""

from __future__ import annotations

import asyncio
import io

import numpy as np
import pytest
from PIL import Image
from renderer_phantom import LEFT_MARKER, ROD, PhantomSpec, save_artefact, series
from renderer_pixels import at, phantom_volume, pixels

from dicompress_renderer import snapshot
from dicompress_renderer.instances import read_image
from dicompress_renderer.snapshot import (
    SnapshotInput,
    bin_slices,
    make_snapshots,
    render_volume,
    scaled_down,
    snapshot_input,
    vtk_version,
    z_binning,
)
from dicompress_renderer.volume import VolumeBuilder
from dicompress_schemas.products import RenderPreset, SnapshotParams

FOV = 192.0


def frac(mm: float) -> float:
    return (mm + FOV / 2) / FOV


def test_vtk_is_the_version_the_notes_measured() -> None:
    assert vtk_version().startswith("9.")


def test_the_bone_preset_shows_the_bone_from_the_front() -> None:
    volume = phantom_volume(PhantomSpec(slices=32, size=96, pixel_mm=2.0), bin_xy=2)
    params = SnapshotParams(presets=(RenderPreset.BONE, RenderPreset.SOFT_TISSUE), sizes=(256,))
    made = asyncio.run(make_snapshots(volume, params, None))
    bone, soft = made
    for name, image in (("bone", bone), ("soft-tissue", soft)):
        print(f"artefact: {save_artefact(f'snapshot-{name}-256.png', image.image.data)}")
        assert image.fallback is None
    picture = pixels(bone.image.data)
    assert picture.max() > 100  # not blank
    # seen from the front: the patient's left (+x) on the right; the rods run top to bottom
    rod = at(picture, 0.5, 0.5 + ROD[0] / FOV)
    left_rod = at(picture, 0.5, 0.5 + LEFT_MARKER[0] / FOV)
    body_only = at(picture, 0.5, 0.5 - LEFT_MARKER[0] / FOV)
    assert rod > body_only + 20
    assert left_rod > body_only + 10
    assert at(picture, 0.5, 0.01, half=1) < 5  # the background beside the body is black
    soft_picture = pixels(soft.image.data)
    assert soft_picture.max() > 50
    assert at(soft_picture, 0.5, 0.01, half=1) < 5


def test_without_vtk_a_maximum_intensity_projection_stands_in_and_says_why(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_vtk(*_: object) -> None:
        raise ImportError("No module named 'vtkmodules'")

    monkeypatch.setattr(snapshot, "render_volume", no_vtk)
    volume = phantom_volume(PhantomSpec(), bin_xy=2)
    made = asyncio.run(make_snapshots(volume, SnapshotParams(sizes=(256, 512)), None))
    assert len(made) == 4
    for item in made:
        assert item.fallback is not None
        assert "vtkmodules" in item.fallback
        assert "maximum-intensity projection" in item.fallback
    print(f"artefact: {save_artefact('snapshot-mip-256.png', made[0].image.data)}")
    picture = pixels(made[0].image.data)
    assert at(picture, 0.5, frac(ROD[0])) > at(picture, 0.5, frac(-LEFT_MARKER[0])) + 60
    assert at(picture, 0.5, 0.01, half=1) == 0


def test_vtk_gets_the_box_the_presets_show_framed_on_the_whole_volume() -> None:
    volume = phantom_volume(PhantomSpec(slices=32, size=96, pixel_mm=2.0), bin_xy=2)
    whole = SnapshotInput(
        np.asarray(volume.voxels, dtype=np.int16),
        (volume.column_spacing, volume.row_spacing, volume.slice_spacing),
        snapshot_input(volume).matrix,
    )
    data = snapshot_input(volume, (RenderPreset.BONE, RenderPreset.SOFT_TISSUE))
    _, rows, columns = data.voxels.shape
    assert rows < volume.voxels.shape[1]  # the air around the body is left out
    assert columns < volume.voxels.shape[2]
    assert data.frame == pytest.approx(whole.bounds())  # framed as before the crop
    inner, outer = data.bounds(), whole.bounds()
    for axis in range(3):
        assert outer[2 * axis] <= inner[2 * axis] + 1e-6
        assert inner[2 * axis + 1] <= outer[2 * axis + 1] + 1e-6
    assert data.frame_size(512) == whole.frame_size(512)


def test_a_series_with_a_missing_slice_is_resampled_to_even_steps_for_vtk() -> None:
    whole = phantom_volume(PhantomSpec(slices=24))
    objects = series(PhantomSpec(slices=24))
    del objects[10]  # a clinic's export that lost one file: a 6 mm gap among 3 mm steps
    builder = VolumeBuilder(expected=len(objects))
    for i, data in enumerate(objects):
        image = read_image(data, 1, f"IM{i}")
        assert image is not None
        builder.add(image)
    gapped = builder.build()
    assert not gapped.uniform

    data = snapshot_input(gapped, (RenderPreset.BONE,))  # it raised ValueError (broadcasting)
    expected = snapshot_input(whole, (RenderPreset.BONE,))
    # even steps of the series' mean spacing, over the same extent: vtk places it as before
    steps = data.voxels.shape[0] - 1
    assert steps * data.spacing[2] == pytest.approx(23 * expected.spacing[2])
    assert data.matrix == pytest.approx(expected.matrix)
    assert data.frame == pytest.approx(expected.frame)
    assert data.voxels.shape[1:] == expected.voxels.shape[1:]
    assert np.array_equal(data.voxels[0], expected.voxels[0])  # the end slices as measured
    assert np.array_equal(data.voxels[-1], expected.voxels[-1])


def test_thin_slices_are_averaged_to_near_isotropic_voxels() -> None:
    volume = phantom_volume(PhantomSpec(slices=48, slice_mm=1.0, pixel_mm=3.0))
    data = snapshot_input(volume, (RenderPreset.BONE,))
    assert data.spacing == pytest.approx((3.0, 3.0, 3.0))  # 3 slices of 1 mm per voxel
    assert data.voxels.shape[0] == 16
    assert data.origin[2] == pytest.approx(1.0)  # the first group's centre: its middle slice
    assert data.unit_distance == pytest.approx((3.0 + 3.0 + 1.0) / 3)  # opacity as before
    assert z_binning((3.0, 3.0, 1.0), slices=20) == 1  # a small series is left as it is
    ints = np.array([[[1]], [[2]], [[4]], [[9]]], dtype=np.int16)
    assert bin_slices(ints, 2).ravel().tolist() == [2, 7]  # means 1.5 and 6.5, half up


def test_the_smaller_snapshot_is_the_larger_scaled_down() -> None:
    volume = phantom_volume(PhantomSpec(slices=32, size=96, pixel_mm=2.0), bin_xy=2)
    data = snapshot_input(volume, (RenderPreset.SOFT_TISSUE,))
    small, large = render_volume(data, (RenderPreset.SOFT_TISSUE,), (256, 512))
    assert (small.image.width, small.image.height) == data.frame_size(256)
    assert (large.image.width, large.image.height) == data.frame_size(512)
    expected = scaled_down(
        np.asarray(Image.open(io.BytesIO(large.image.data)).convert("RGB")), data.frame_size(256)
    )
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(small.image.data))), expected)
