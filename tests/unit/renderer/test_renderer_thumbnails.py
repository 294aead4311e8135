"""Thumbnails checked by their pixels: windows, orientation from ImageOrientationPatient,
aspect from the real spacing, MONOCHROME1, an uncalibrated cone-beam CT. Every image is saved
under test-output/renderer/ for a human to look at."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest
from renderer_phantom import BODY_RADIUS, LEFT_MARKER, ROD, PhantomSpec, save_artefact
from renderer_pixels import at, phantom_volume, pixels

from dicompress_renderer.items import Item, Made, ThumbnailMaker, plan
from dicompress_schemas.products import ImageFormat, ThumbnailParams, ThumbnailView, Window

FOV = 192.0  # the phantom's field of view, mm (64 px of 3 mm)
ORIENTATIONS = {
    "axial": (1, 0, 0, 0, 1, 0),
    "rows-and-columns-swapped": (0, 1, 0, 1, 0, 0),
    "both-reversed": (-1, 0, 0, 0, -1, 0),
}


def frac(mm: float) -> float:
    """Where a coordinate (mm from the centre) falls across the field of view, 0..1."""
    return (mm + FOV / 2) / FOV


def thumbnail(
    spec: PhantomSpec,
    view: ThumbnailView,
    window: Window,
    name: str,
    size: int = 256,
    fmt: ImageFormat = ImageFormat.PNG,
) -> tuple[Made, npt.NDArray[np.float64]]:
    made = ThumbnailMaker.of_volume(phantom_volume(spec)).make(Item(view, window.value, size, fmt))
    path = save_artefact(f"{name}-{view.value}-{window.value}-{size}.{fmt.value}", made.image.data)
    print(f"artefact: {path}")
    return made, pixels(made.image.data)


@pytest.mark.parametrize("name", sorted(ORIENTATIONS))
def test_the_key_image_has_anterior_at_the_top_and_the_patients_left_on_the_right(
    name: str,
) -> None:
    spec = PhantomSpec(orientation=ORIENTATIONS[name])
    made, image = thumbnail(spec, ThumbnailView.KEY, Window.BONE, f"key-{name}")
    assert (made.image.width, made.image.height) == (256, 256)
    rod = at(image, down=frac(ROD[1]), right=frac(ROD[0]))
    left = at(image, down=frac(LEFT_MARKER[1]), right=frac(LEFT_MARKER[0]))
    mirrored_rod = at(image, down=frac(-ROD[1]), right=frac(ROD[0]))  # where it is if flipped
    mirrored_left = at(image, down=frac(LEFT_MARKER[1]), right=frac(-LEFT_MARKER[0]))
    tissue = at(image, down=0.5, right=0.5)
    air = at(image, down=0.02, right=0.02)
    assert rod > tissue + 60
    assert left > tissue + 60
    assert mirrored_rod < rod - 60
    assert mirrored_left < left - 60
    assert air == 0  # air is black


def test_a_sagittal_acquisition_still_gives_an_axial_key_image_anterior_up() -> None:
    spec = PhantomSpec(orientation=(0, 1, 0, 0, 0, -1), slices=40, slice_mm=3.0)
    _, image = thumbnail(spec, ThumbnailView.KEY, Window.BONE, "key-sagittal-acquisition")
    # 40 slices x 3 mm along x = 120 mm wide, 192 mm front to back: portrait
    assert image.shape[0] > image.shape[1]
    rod = at(image, down=frac(ROD[1]), right=0.5)
    assert rod > at(image, down=frac(-ROD[1]), right=0.5) + 60


def test_coronal_has_superior_at_the_top_and_the_patients_right_on_the_left() -> None:
    spec = PhantomSpec()
    _, image = thumbnail(spec, ThumbnailView.CORONAL, Window.BONE, "coronal")
    marker_right = frac(-40.0)
    assert at(image, down=0.05, right=marker_right) > at(image, down=0.95, right=marker_right) + 60
    left = frac(LEFT_MARKER[0])  # the rod on the patient's left, cut all along its length
    assert at(image, down=0.95, right=left) > at(image, down=0.95, right=1 - left) + 60


def test_sagittal_has_anterior_on_the_left() -> None:
    _, image = thumbnail(PhantomSpec(), ThumbnailView.SAGITTAL, Window.BONE, "sagittal")
    assert at(image, down=0.5, right=frac(ROD[1])) > at(image, down=0.5, right=frac(-ROD[1])) + 60


def test_reformats_keep_the_real_aspect_with_square_pixels() -> None:
    spec = PhantomSpec(slices=16, slice_mm=3.0)  # 48 mm high, 192 mm wide
    made, _image = thumbnail(spec, ThumbnailView.CORONAL, Window.DEFAULT, "coronal-aspect")
    assert (made.image.width, made.image.height) == (256, 64)
    thin = PhantomSpec(slices=48, slice_mm=1.0, pixel_mm=3.0)  # 48 mm high, anisotropic voxels
    made, _ = thumbnail(thin, ThumbnailView.SAGITTAL, Window.DEFAULT, "sagittal-aspect", 512)
    assert (made.image.width, made.image.height) == (512, 128)
    body = 2 * BODY_RADIUS / FOV * 256  # the body's width in the axial image, px
    _, key = thumbnail(spec, ThumbnailView.KEY, Window.DEFAULT, "key-aspect")
    row = key[128]
    assert abs((row > 0).sum() - body) <= 6


def test_the_series_own_window_is_the_default_and_air_is_black() -> None:
    made, image = thumbnail(
        PhantomSpec(window=(40.0, 400.0)), ThumbnailView.KEY, Window.DEFAULT, "key-own-window"
    )
    assert made.window is not None
    assert (made.window.center, made.window.width) == (40.0, 400.0)
    assert made.fallback is None
    assert at(image, 0.02, 0.02) == 0
    assert 100 < at(image, 0.5, 0.5) < 160  # 40 HU in the middle of a 40/400 window


def test_without_its_own_window_default_is_automatic() -> None:
    made, image = thumbnail(PhantomSpec(window=None), ThumbnailView.KEY, Window.DEFAULT, "key-auto")
    assert made.fallback is None
    assert at(image, frac(ROD[1]), frac(ROD[0])) > at(image, 0.5, 0.5) > at(image, 0.02, 0.02)


def test_monochrome1_is_inverted() -> None:
    spec = PhantomSpec(monochrome1=True)
    _, image = thumbnail(spec, ThumbnailView.KEY, Window.BONE, "key-monochrome1")
    assert at(image, 0.02, 0.02) == 255  # air shown white
    assert at(image, frac(ROD[1]), frac(ROD[0])) < at(image, 0.5, 0.5) - 60


def test_an_uncalibrated_cone_beam_ct_gets_an_automatic_window_and_says_so() -> None:
    spec = PhantomSpec(rescaled=False, window=None)
    made, image = thumbnail(spec, ThumbnailView.KEY, Window.BONE, "key-cbct")
    assert made.fallback is not None
    assert "Hounsfield" in made.fallback
    assert at(image, frac(ROD[1]), frac(ROD[0])) > at(image, 0.5, 0.5) > at(image, 0.02, 0.02)


def test_webp_is_encoded_too() -> None:
    made, image = thumbnail(
        PhantomSpec(), ThumbnailView.KEY, Window.BONE, "key", 512, ImageFormat.WEBP
    )
    assert made.image.data[:4] == b"RIFF"
    assert made.image.data[8:12] == b"WEBP"
    assert image.shape == (512, 512)


def test_the_plan_is_view_then_window_then_size_then_format() -> None:
    items = plan(ThumbnailParams())
    assert len(items) == 3 * 2 * 2 * 2
    assert items[0] == Item(ThumbnailView.KEY, "default", 256, ImageFormat.PNG)
    assert items[1] == Item(ThumbnailView.KEY, "default", 256, ImageFormat.WEBP)
    assert items[-1] == Item(ThumbnailView.SAGITTAL, "bone", 512, ImageFormat.WEBP)
