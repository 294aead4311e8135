"""Natural ordering of slice keys and the ZIP's entry names."""

from __future__ import annotations

from dicompress_compressor.ordering import entry_name, natural_key, natural_sorted


def test_numbers_sort_by_value_not_by_character() -> None:
    keys = ["s/IM10.dcm", "s/IM2.dcm", "s/IM1.dcm", "s/IM100.dcm", "s/IM11.dcm"]
    assert natural_sorted(keys) == ["s/IM1.dcm", "s/IM2.dcm", "s/IM10.dcm", "s/IM11.dcm",
                                    "s/IM100.dcm"]  # fmt: skip


def test_several_numbers_and_case_are_handled() -> None:
    keys = ["IM-0002-0010.dcm", "im-0002-0009.dcm", "IM-0001-0100.dcm", "IM-0002-0001.dcm"]
    assert natural_sorted(keys) == [
        "IM-0001-0100.dcm",
        "IM-0002-0001.dcm",
        "im-0002-0009.dcm",
        "IM-0002-0010.dcm",
    ]


def test_mixed_shapes_compare_without_errors_and_ties_are_stable() -> None:
    keys = ["a1", "a01", "1a", "a", "b", "a1b2", "a1b"]
    ordered = natural_sorted(keys)
    assert ordered == ["1a", "a", "a01", "a1", "a1b", "a1b2", "b"]
    assert natural_key("a01") != natural_key("a1")


def test_entry_names_are_zero_padded_so_they_list_in_order() -> None:
    assert entry_name(0) == "00000.dcm"
    assert entry_name(398) == "00398.dcm"
    assert sorted(entry_name(i) for i in (10, 2, 1)) == ["00001.dcm", "00002.dcm", "00010.dcm"]
