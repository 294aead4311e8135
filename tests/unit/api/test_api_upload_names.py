"""The object name of an upload: the client's name never escapes the tenant's prefix."""

import pytest

from dicompress_api.uploads.names import MAX_NAME, base_name, object_name
from dicompress_api.web.errors import InvalidRequest

ZIP = "application/zip"


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("study.zip", "study.zip"),
        ("../../etc/passwd", "passwd"),
        ("..\\..\\windows\\win.ini", "win.ini"),
        ("C:\\Users\\drsmith\\exports\\CT head.zip", "CT_head.zip"),
        ("/abs/path/ct.zip", "ct.zip"),
        ("other-tenant/uploads/x/y.zip", "y.zip"),
        ("Étude crâne ñ.zip", "Etude_crane_n.zip"),
        ("a%2F..%2Fb.zip", "a_2F.._2Fb.zip"),
        ("   spaced   name .zip  ", "spaced_name_.zip"),
        (".hidden.zip", "hidden.zip"),
        ("-rf.zip", "rf.zip"),
        ("name.", "name"),
        ("\u6587\u4ef6.zip", "zip"),
    ],
)
def test_stored_names_keep_a_safe_subset(given: str, stored: str) -> None:
    assert object_name(given, ZIP) == stored


@pytest.mark.parametrize("given", ["..", ".", "/", "dir/", "...", "___", "\u6587\u4ef6"])
def test_a_name_with_nothing_safe_left_gets_one_by_type(given: str) -> None:
    assert object_name(given, ZIP) == "upload.zip"
    assert object_name(given, "application/dicom") == "upload.dcm"


@pytest.mark.parametrize(
    "given", ["a\nb.zip", "a\x00.zip", "tab\there.zip", "evil\u202egpj.zip", "del\x7f.zip"]
)
def test_control_and_format_characters_are_refused(given: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        object_name(given, ZIP)
    assert [(p.field, p.rule) for p in caught.value.problems] == [
        ("fileName", "control_characters")
    ]


def test_long_names_are_shortened_keeping_the_extension() -> None:
    stored = object_name("x" * 300 + ".zip", ZIP)
    assert len(stored) == MAX_NAME
    assert stored.endswith("x.zip")
    assert object_name("y" * 300, ZIP) == "y" * MAX_NAME


def test_the_shown_name_drops_folders_only() -> None:
    assert base_name("C:\\Users\\drsmith\\CT head.zip") == "CT head.zip"
    assert base_name("Étude.zip") == "Étude.zip"
