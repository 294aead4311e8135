"""One stored instance -> one SliceImage (or None when it is no image of the volume)."""

from __future__ import annotations

import io

from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError

from dicompress_renderer.decoding import decode_pixels
from dicompress_renderer.errors import RenderAborted
from dicompress_renderer.volume import SliceImage, binned_origin, to_modality
from dicompress_schemas.geometry import Orientation, Vector


def read_image(data: bytes, bin_xy: int, name: str) -> SliceImage | None:
    """The image in `data`, in modality units and binned; None for DICOM without pixels (an SR,
    a presentation state) or a file that is not DICOM at all: not part of the volume.

    Raises RenderAborted for an image that cannot belong to a volume (no position, colour,
    several frames) or that cannot be decoded, naming the object.
    """
    try:
        ds = dcmread(io.BytesIO(data))
    except (InvalidDicomError, EOFError, ValueError):
        return None
    if "PixelData" not in ds:
        return None
    if int(ds.get("NumberOfFrames", 1) or 1) > 1 or int(ds.get("SamplesPerPixel", 1)) != 1:
        raise RenderAborted(
            "unsupported-input",
            f"{name} is a multi-frame or colour image: thumbnails and 3D views are made of "
            "series of single grey-scale slices (classic CT) only",
        )
    position, orientation, spacing = _geometry(ds, name)
    try:
        stored = decode_pixels(ds)
    except RenderAborted:
        raise
    except Exception as exc:  # pydicom and its plugins raise many kinds
        raise RenderAborted(
            "unreadable-image",
            f"{name} could not be decoded ({type(exc).__name__}: {exc}); export the series again",
        ) from exc
    slope = float(ds.get("RescaleSlope", 1) or 1)
    intercept = float(ds.get("RescaleIntercept", 0) or 0)
    return SliceImage(
        position=binned_origin(position, orientation, spacing, bin_xy),
        orientation=orientation,
        pixel_spacing=(spacing[0] * bin_xy, spacing[1] * bin_xy),
        pixels=to_modality(stored, slope, intercept, bin_xy),
        window=_window(ds),
        monochrome1=str(ds.get("PhotometricInterpretation", "")).upper() == "MONOCHROME1",
        modality=str(ds.get("Modality", "")).upper(),
        rescaled="RescaleSlope" in ds or "RescaleIntercept" in ds,
        rescale_type=str(ds.get("RescaleType", "")).upper(),
        sop_uid=str(ds.get("SOPInstanceUID", "") or ""),
        slope=slope,
        intercept=intercept,
    )


def _geometry(ds: Dataset, name: str) -> tuple[Vector, Orientation, tuple[float, float]]:
    try:
        ipp = [float(v) for v in ds.ImagePositionPatient]
        iop = [float(v) for v in ds.ImageOrientationPatient]
    except (AttributeError, TypeError, ValueError) as exc:
        raise RenderAborted(
            "no-position",
            f"{name} has no position information (ImagePositionPatient and "
            "ImageOrientationPatient): without it the slices cannot be put in order, so no "
            "reformat or 3D view can be made; a scanner's original series has it",
        ) from exc
    spacing = ds.get("PixelSpacing") or ds.get("ImagerPixelSpacing") or [1.0, 1.0]
    if len(ipp) != 3 or len(iop) != 6:
        raise RenderAborted("no-position", f"{name} has a malformed position or orientation")
    rows, columns = float(spacing[0]), float(spacing[1])
    if rows <= 0 or columns <= 0:
        raise RenderAborted("no-spacing", f"{name} has a pixel spacing of {rows} x {columns} mm")
    return (
        (ipp[0], ipp[1], ipp[2]),
        (iop[0], iop[1], iop[2], iop[3], iop[4], iop[5]),
        (rows, columns),
    )


def _window(ds: Dataset) -> tuple[float, float] | None:
    """The first (center, width) the image carries; None without one (or a zero width)."""
    center, width = ds.get("WindowCenter"), ds.get("WindowWidth")
    if center is None or width is None:
        return None
    first_center = center[0] if _multi(center) else center
    first_width = width[0] if _multi(width) else width
    try:
        c, w = float(first_center), float(first_width)
    except (TypeError, ValueError):
        return None
    return (c, w) if w > 0 else None


def _multi(value: object) -> bool:
    return isinstance(value, list | tuple) or type(value).__name__ == "MultiValue"
