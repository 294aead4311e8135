"""The derived DICOM object of one preview slice: its first source's dataset with the binned
geometry, new identity and the derivation recorded.

Everything that is not about pixels or geometry is the first source slice's (patient, study,
frame of reference, rescale, window, private tags), as the compressor keeps them. What changes:

- Image Pixel and Plane: Rows/Columns, PixelSpacing x k, ImagePositionPatient (`geometry`),
  SliceLocation the group's mean, SliceThickness the group's slab, SpacingBetweenSlices x m
  when the source carries one (it is not part of the CT Image IOD, so none is added).
- Identity: a new Series Instance UID and SOP Instance UIDs derived from the job and the index
  (a re-run names every object the same), InstanceNumber = index + 1, SeriesDescription
  "Preview of ...".
- Derivation: ImageType DERIVED\\SECONDARY (values 3+ kept), a DerivationDescription naming the
  binning (the lossy step is appended by `lossy_attributes.mark_lossy`, as for a compression),
  and a Source Image Sequence naming every slice of the group ("Source image for image processing
  operation", DCM 121322).
- A Mini CT slice (`crop` set) is the same with its region: Rows/Columns of the box (binned),
  ImagePositionPatient moved to the box's first pixel (`geometry`), "Mini CT of ..." and the box
  in the DerivationDescription; a lossless one gets no lossy marks (its pixels are the
  source's when not downsampled).
- Attributes made false by binning are removed: the smallest/largest pixel values, an icon
  image, overlays (their rows and columns are the source's).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pydicom.dataset import Dataset
from pydicom.uid import UID, generate_uid
from pydicom.valuerep import DSfloat

from dicompress_compressor.dicom_codes import dcm_code
from dicompress_compressor.lossy_attributes import values
from dicompress_compressor.preview.geometry import Plane, binned_thickness
from dicompress_schemas import Codec

_LO_MAX = 64
_DERIVATION_MAX = 1024
_STALE = (
    "SmallestImagePixelValue",
    "LargestImagePixelValue",
    "SmallestPixelValueInSeries",
    "LargestPixelValueInSeries",
    "IconImageSequence",
)


@dataclass(frozen=True)
class Crop:
    """The pixel box kept of every source slice: rows `row`..`row + rows - 1`, same for
    columns (a Mini CT's region)."""

    row: int
    column: int
    rows: int
    columns: int


@dataclass(frozen=True)
class PreviewSliceSpec:
    """What makes output slice `index` of a derived series (a preview, or a Mini CT when
    `crop` or `product` say so); picklable, it travels to the pool processes with the group's
    bytes. `rate` is None for a lossless codec."""

    index: int
    bin_xy: int
    bin_z: int
    codec: Codec
    rate: float | None
    series_uid: str
    sop_uid: str
    spacing_mm: float | None  # mean gap along the normal of the source series, when known
    crop: Crop | None = None
    product: str = "Preview"

    @property
    def binning(self) -> str:
        return f"{self.bin_xy}x{self.bin_xy}x{self.bin_z}"

    @property
    def encoding(self) -> str:
        return (
            self.codec.value if self.rate is None else f"{self.codec.value} at rate {self.rate:g}"
        )


def preview_series_uid(job_id: str, source_series_uid: str) -> UID:
    """The preview series' UID: the same for every run of the same product job."""
    return generate_uid(entropy_srcs=["dicompress-preview", job_id, "series", source_series_uid])


def preview_sop_uid(job_id: str, index: int) -> UID:
    """Slice `index`'s SOP Instance UID: the same for every run of the same product job."""
    return generate_uid(entropy_srcs=["dicompress-preview", job_id, "instance", str(index)])


def ds(value: float) -> DSfloat:
    """A Decimal String of at most 16 characters, as close to `value` as that allows."""
    return DSfloat(value, auto_format=True)


def derive(
    template: Dataset,
    sources: Sequence[Dataset],
    plane: Plane,
    spec: PreviewSliceSpec,
    shape: tuple[int, int],
) -> None:
    """Turn `template` (the group's first dataset) into the preview slice, in place, all but
    its pixels and lossy marks (`encode` adds those)."""
    template.Rows, template.Columns = shape
    template.PixelSpacing = [ds(plane.pixel_spacing[0]), ds(plane.pixel_spacing[1])]
    template.ImagePositionPatient = [ds(v) for v in plane.position]
    _z_attributes(template, sources, spec)
    template.SeriesInstanceUID = spec.series_uid
    template.InstanceNumber = spec.index + 1
    original = str(template.get("SeriesDescription", "") or "").strip()
    label, step = _derivation(spec, len(sources))
    product = spec.product
    text = f"{product} of {original} {label}" if original else f"{product} {label}"
    if len(text) > _LO_MAX:
        keep = _LO_MAX - len(label) - len(product) - 8
        text = f"{product} of {original[:keep]}... {label}"
    template.SeriesDescription = text
    image_type = values(template, "ImageType")
    template.ImageType = ["DERIVED", "SECONDARY", *image_type[2:]]
    earlier = str(template.get("DerivationDescription", "") or "")
    template.DerivationDescription = (f"{earlier}; {step}" if earlier else step)[-_DERIVATION_MAX:]
    for keyword in _STALE:
        if keyword in template:
            delattr(template, keyword)
    overlays = [e.tag for e in template if 0x6000 <= e.tag.group <= 0x601E and e.tag.group % 2 == 0]
    for tag in overlays:  # drawn on the source's pixel grid
        del template[tag]


def _derivation(spec: PreviewSliceSpec, m: int) -> tuple[str, str]:
    """The SeriesDescription's label and the DerivationDescription's step."""
    if spec.crop is None:
        return (
            f"({spec.binning} binned)",
            f"{spec.product}: mean of {spec.bin_xy}x{spec.bin_xy} pixels and {m} slice(s) of "
            f"stored values (binned {spec.binning}), then {spec.encoding}",
        )
    crop, k = spec.crop, spec.bin_xy
    region = (
        f"rows {crop.row}-{crop.row + crop.rows - 1} and columns "
        f"{crop.column}-{crop.column + crop.columns - 1} of the source slice"
    )
    downsampled = f", mean of {k}x{k} pixels of stored values" if k > 1 else ""
    label = f"({k}x{k} downsampled)" if k > 1 else "(region)"
    return label, f"{spec.product}: {region}{downsampled}, then {spec.encoding}"


def source_references(sources: Sequence[Dataset]) -> list[Dataset]:
    """One Source Image Sequence item per slice the preview slice was averaged from."""
    items = []
    for source in sources:
        item = Dataset()
        item.ReferencedSOPClassUID = source.SOPClassUID
        item.ReferencedSOPInstanceUID = source.SOPInstanceUID
        item.PurposeOfReferenceCodeSequence = [
            dcm_code("121322", "Source image for image processing operation")
        ]
        items.append(item)
    return items


def _z_attributes(template: Dataset, sources: Sequence[Dataset], spec: PreviewSliceSpec) -> None:
    """SliceLocation, SliceThickness and SpacingBetweenSlices of the group's mean."""
    m = len(sources)
    if "SliceLocation" in template:
        try:
            locations = [float(s.SliceLocation) for s in sources]
        except (AttributeError, TypeError, ValueError):  # absent or unparsable in one slice
            del template.SliceLocation
        else:
            template.SliceLocation = ds(sum(locations) / m)
    if m == 1:
        return
    thickness = _number(template, "SliceThickness")
    if thickness is not None:
        template.SliceThickness = ds(binned_thickness(thickness, spec.spacing_mm, m))
    if "SpacingBetweenSlices" in template and spec.spacing_mm is not None:
        template.SpacingBetweenSlices = ds(spec.spacing_mm * m)


def _number(dataset: Dataset, keyword: str) -> float | None:
    try:
        value = dataset.get(keyword)
        return None if value is None or value == "" else float(value)
    except (TypeError, ValueError):
        return None
