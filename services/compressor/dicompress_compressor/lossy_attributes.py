"""Mark a dataset as a lossy-compressed derivative, as DCMTK's dcmcjp2k and gdcmconv do.

PS3.3 C.7.6.1.1.5: Lossy Image Compression "01" once any lossy step has happened, and the ratio
and method of each step appended to the earlier ones, oldest first. PS3.3 C.7.6.1.1.2 and
C.7.6.1.1.3: the image becomes DERIVED, with a derivation description and code (DCM 113040
"Lossy Compression"), a new SOP Instance UID, and a Source Image Sequence item referencing the
image it came from with purpose DCM 121320 "Uncompressed predecessor". Lossless re-encoding
changes none of this: the pixels are the same, so the instance keeps its UID.
"""

from __future__ import annotations

from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.uid import UID, generate_uid

from dicompress_compressor.dicom_codes import dcm_code

_DERIVATION_DESCRIPTION_MAX = 1024  # ST


def derived_instance_uid(source_uid: str | None, what: str) -> UID:
    """The new instance's UID: a hash of the source UID and of how it was encoded, so a retry
    of the same slice (another worker after a crash) names its output the same way. Random
    when the source has no UID to derive from."""
    if not source_uid:
        return generate_uid()
    return generate_uid(entropy_srcs=["dicompress", source_uid, what])


def mark_lossy(ds: Dataset, *, ratio: float, method: str, new_uid: UID) -> None:
    """Set every attribute of a lossy derivative of `ds` (in place), `ratio` as measured."""
    source_class, source_uid = ds.get("SOPClassUID"), ds.get("SOPInstanceUID")
    ds.LossyImageCompression = "01"
    ds.LossyImageCompressionRatio = [*values(ds, "LossyImageCompressionRatio"), f"{ratio:.2f}"]
    ds.LossyImageCompressionMethod = [*values(ds, "LossyImageCompressionMethod"), method]
    image_type = values(ds, "ImageType")
    if image_type:
        ds.ImageType = ["DERIVED", *image_type[1:]]
    step = f"Lossy compression with {method} at ratio {ratio:.2f}:1"
    earlier = str(ds.get("DerivationDescription", "") or "")
    description = f"{earlier}; {step}" if earlier else step
    ds.DerivationDescription = description[-_DERIVATION_DESCRIPTION_MAX:]
    ds.DerivationCodeSequence = [
        *ds.get("DerivationCodeSequence", []),
        dcm_code("113040", "Lossy Compression"),
    ]
    if source_class and source_uid:
        source = Dataset()
        source.ReferencedSOPClassUID = source_class
        source.ReferencedSOPInstanceUID = source_uid
        source.PurposeOfReferenceCodeSequence = [dcm_code("121320", "Uncompressed predecessor")]
        ds.SourceImageSequence = [*ds.get("SourceImageSequence", []), source]
    ds.SOPInstanceUID = new_uid
    ds.file_meta.MediaStorageSOPInstanceUID = new_uid


def values(ds: Dataset, keyword: str) -> list[str]:
    """An element's values as strings; [] when absent or empty."""
    value = ds.get(keyword)
    if value is None or value == "":
        return []
    if isinstance(value, MultiValue | list):
        return [str(v) for v in value]
    return [str(value)]
