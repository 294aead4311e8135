"""De-identification before encoding: identity gone, UIDs remapped the same way in every
process of a job and differently for another job, pixels untouched."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pytest
from compressor_images import image_bytes, read
from pydicom.dataset import Dataset

from dicompress_compressor.encoder import (
    EncodedSlice,
    EncodeOptions,
    encode_slice,
)
from dicompress_schemas import Codec

UIDS = ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID")


def anonymized(seed: str, codec: Codec = Codec.J2K_LOSSLESS, **overrides: object) -> EncodedSlice:
    rate = None if codec.lossless else 5.0
    return encode_slice(image_bytes(**overrides), EncodeOptions(codec, rate, anonymize_seed=seed))


def uids(ds: Dataset) -> dict[str, str]:
    return {keyword: str(ds[keyword].value) for keyword in UIDS}


def test_identity_is_removed_and_the_profile_recorded() -> None:
    original = read(image_bytes())
    encoded = read(anonymized("job-1").data)

    assert encoded.PatientName != original.PatientName
    assert encoded.PatientID != original.PatientID
    assert encoded.PatientBirthDate != original.PatientBirthDate
    assert encoded.PatientIdentityRemoved == "YES"
    assert "DICOGNITO" in encoded.DeidentificationMethod
    assert [i.CodeValue for i in encoded.DeidentificationMethodCodeSequence] == [
        "113100",
        "113107",
    ]
    assert not any(element.tag.is_private for element in encoded)  # the profile removes them
    for keyword, value in uids(encoded).items():
        assert value != original[keyword].value, keyword
    assert encoded.file_meta.MediaStorageSOPInstanceUID == encoded.SOPInstanceUID
    assert encoded.SOPClassUID == original.SOPClassUID  # class UIDs are not identifying


def test_burned_in_annotation_means_identity_not_removed() -> None:
    assert read(anonymized("job-1", BurnedInAnnotation="YES").data).PatientIdentityRemoved == "NO"


def test_pixels_are_kept() -> None:
    original = read(image_bytes()).pixel_array
    assert np.array_equal(read(anonymized("job-1").data).pixel_array, original)


def test_same_seed_same_uids_other_seed_other_uids() -> None:
    first, again, other = (read(anonymized(s).data) for s in ("job-1", "job-1", "job-2"))

    assert uids(first) == uids(again)
    assert all(uids(first)[k] != uids(other)[k] for k in UIDS)


def test_a_lossy_slice_references_the_remapped_source_only() -> None:
    original = read(image_bytes())
    lossless = anonymized("job-1")
    lossy = anonymized("job-1", Codec.HTJ2K_LOSSY)
    encoded = read(lossy.data)

    (source,) = encoded.SourceImageSequence
    assert source.ReferencedSOPInstanceUID == lossless.sop_instance_uid
    assert lossy.source_sop_instance_uid == lossless.sop_instance_uid
    assert original.SOPInstanceUID not in lossy.data.decode("latin-1")
    assert encoded.StudyInstanceUID == read(lossless.data).StudyInstanceUID


@pytest.mark.timeout(120)
def test_another_process_maps_every_uid_the_same_way() -> None:
    """Pool processes are spawned, so nothing but the seed can make them agree."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        remote = pool.submit(anonymized, "job-1").result(timeout=90)
    assert uids(read(remote.data)) == uids(read(anonymized("job-1").data))
