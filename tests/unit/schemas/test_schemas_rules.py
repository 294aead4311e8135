"""The contract's rules for names a request carries into an event: the tenant (the shared table
of tests/tenant_names.py) and the ZIP's file name."""

import pytest
from pydantic import TypeAdapter, ValidationError

from dicompress_schemas.envelope import (
    InvalidFilename,
    InvalidTenant,
    OutputFilename,
    Tenant,
    tenant_name,
    zip_filename,
)
from tenant_names import ACCEPTED, REFUSED


@pytest.mark.parametrize("name", REFUSED.values(), ids=REFUSED.keys())
def test_refused_tenant_names_break_the_one_rule(name: str) -> None:
    with pytest.raises(InvalidTenant):
        tenant_name(name)
    with pytest.raises(ValidationError):  # the events' field type: the same rule
        TypeAdapter(Tenant).validate_python(name)


@pytest.mark.parametrize("name", ACCEPTED.values(), ids=ACCEPTED.keys())
def test_accepted_tenant_names_pass_unchanged(name: str) -> None:
    assert tenant_name(name) == name


@pytest.mark.parametrize("claim", [None, 7, ["acme"], {"name": "acme"}, b"acme"])
def test_a_tenant_that_is_not_a_string_is_refused(claim: object) -> None:
    with pytest.raises(InvalidTenant):
        tenant_name(claim)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("series-1", "series-1.zip"),
        ("Series_1.v2", "Series_1.v2.zip"),
        ("out.zip", "out.zip"),
        ("OUT.ZIP", "OUT.ZIP"),
        ("x" * 124, "x" * 124 + ".zip"),
    ],
)
def test_accepted_names_get_a_zip_suffix(name: str, expected: str) -> None:
    assert zip_filename(name) == expected
    assert TypeAdapter(OutputFilename).validate_python(expected) == expected


@pytest.mark.parametrize(
    "name",
    [
        "../x",
        "a/b",
        "a\\b",
        ".hidden",
        "..",
        "a..b",
        "trailing.",
        "with space",
        "tab\tname",
        "new\nline",
        "ok.zip\n",  # issue 16: accepted, then the job wrote 'ok.zip\n.zip'
        "ok\r",
        "nul\x00",
        "",
        "é.zip",
        "x" * 129,
    ],
)
def test_unsafe_names_are_refused_by_the_function_and_the_event_field(name: str) -> None:
    with pytest.raises(InvalidFilename):
        zip_filename(name)
    with pytest.raises(ValidationError):
        TypeAdapter(OutputFilename).validate_python(name)


def test_a_name_too_long_once_zip_is_added_is_refused() -> None:
    with pytest.raises(InvalidFilename, match="at most 128 characters"):
        zip_filename("x" * 125)  # 129 characters with '.zip'
