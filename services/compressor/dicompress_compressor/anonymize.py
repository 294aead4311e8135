"""De-identify a slice before it is encoded: PS3.15 Annex E, Basic Application Level
Confidentiality Profile, through `dicognito`.

What happens to a dataset:
- dicognito replaces names, IDs, addresses, equipment and institution identifiers, shifts every
  date and time by one offset, and remaps every instance UID (Study, Series, SOP Instance,
  Frame of Reference, the file meta's copy, references in sequences). Its values are an MD5 of
  the seed and the original value, so every pool process of a job, on every worker and on every
  retry, maps the same UID to the same new UID: the series stays one series. A job's seed is
  its id, so two jobs over the same study do not share UIDs.
- Free text and the other attributes the profile removes (X) that dicognito keeps are removed
  too, wherever they stand (`_REMOVED`: descriptions, comments, history, age, ethnic group,
  device serial number...): an integration test found them in anonymized output.
- Private elements are removed. The profile removes them unless the Retain Safe Private option
  is used, and dicognito keeps them (it only rewrites those with a UI or PN value), which would
  leave whatever a vendor hides there (names, accession numbers) in the output.
- Patient Identity Removed becomes "YES" unless Burned In Annotation says "YES" (then "NO": we
  do not touch pixels), De-identification Method gains "DICOGNITO", and the De-identification
  Method Code Sequence gains DCM 113100 (Basic Application Confidentiality Profile) and DCM
  113107 (Retain Longitudinal Temporal Information Modified Dates Option: dates are shifted, not
  removed).
"""

from __future__ import annotations

from functools import lru_cache

from dicognito.anonymizer import Anonymizer
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset, FileMetaDataset

from dicompress_compressor.dicom_codes import dcm_code

_PROFILE_CODES = (
    ("113100", "Basic Application Confidentiality Profile"),
    ("113107", "Retain Longitudinal Temporal Information Modified Dates Option"),
)


# PS3.15 Table E.1-1 action X (or X/Z, X/D), left as they were by dicognito 0.19
_REMOVED = frozenset(
    {
        "AdditionalPatientHistory",
        "AdmittingDiagnosesDescription",
        "DerivationDescription",
        "DeviceSerialNumber",
        "EthnicGroup",
        "ImageComments",
        "PatientAge",
        "PatientComments",
        "PatientSize",
        "PatientWeight",
        "PerformedProcedureStepDescription",
        "ProtocolName",
        "RequestedProcedureDescription",
        "SeriesDescription",
        "StudyComments",
        "StudyDescription",
    }
)


@lru_cache(maxsize=4)
def _anonymizer(seed: str) -> Anonymizer:
    """One anonymizer per job seed and process (its maps are pure functions of the seed)."""
    return Anonymizer(seed=seed)


def anonymize(ds: Dataset, seed: str) -> None:
    """De-identify `ds` in place as the module docstring says; `seed` is the job's."""
    ds.remove_private_tags()
    _anonymizer(seed).anonymize(ds)
    ds.walk(_remove_profile_attributes)
    burned_in = str(ds.get("BurnedInAnnotation", "")).upper() == "YES"
    ds.PatientIdentityRemoved = "NO" if burned_in else "YES"
    present = {
        str(item.get("CodeValue", "")) for item in ds.get("DeidentificationMethodCodeSequence", [])
    }
    ds.DeidentificationMethodCodeSequence = [
        *ds.get("DeidentificationMethodCodeSequence", []),
        *(dcm_code(value, meaning) for value, meaning in _PROFILE_CODES if value not in present),
    ]


def _remove_profile_attributes(ds: Dataset, element: DataElement) -> None:
    """`Dataset.walk` callback: drop an element of `_REMOVED`, at any depth."""
    if element.keyword in _REMOVED:
        del ds[element.tag]


@lru_cache(maxsize=4096)
def anonymized_series_uid(seed: str, uid: str) -> str:
    """The Series Instance UID that `anonymize` writes for `uid` in a job with this seed, for
    the manifest and events, which must not carry the original of a de-identified series."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.SeriesInstanceUID = uid
    _anonymizer(seed).anonymize(ds)
    return str(ds.SeriesInstanceUID)
