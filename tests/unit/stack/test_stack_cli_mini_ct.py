"""`dicompress mini-ct`: its options into the body of POST /studies/{id}/series/{uid}/mini-ct."""

from __future__ import annotations

import pytest

from dicompress_stack.cli import build_parser
from dicompress_stack.errors import StackError
from dicompress_stack.minict import mini_ct_body

STUDY = "7d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6"
SERIES = "1.2.826.0.1.3680043.8.498.2001"


def _body(*options: str) -> dict[str, object]:
    return mini_ct_body(build_parser().parse_args(["mini-ct", STUDY, SERIES, *options]))


def test_indexes_a_pixel_box_and_delivery_options() -> None:
    args = build_parser().parse_args(
        ["mini-ct", STUDY, SERIES, "--z", "10:109", "--roi", "128,96,256,256", "-o", "out.zip"]
    )
    assert (args.study, args.series, str(args.output), args.tenant) == (
        STUDY,
        SERIES,
        "out.zip",
        "demo",
    )
    assert mini_ct_body(args) == {
        "zStart": 10,
        "zEnd": 109,
        "roi": {"row": 128, "column": 96, "rows": 256, "columns": 256},
    }
    assert _body("--downsample", "2", "--format", "multiframe", "--rate", "10") == {
        "downsample": 2,
        "format": "multiframe",
        "rate": 10.0,
    }
    assert _body("--preset", "rate10") == {"preset": "rate10"}
    assert _body("--codec", "htj2k-lossless") == {"codec": "htj2k-lossless"}
    assert _body() == {}


def test_millimetres_and_open_ends() -> None:
    assert _body("--z=-30.5:12", "--mm", "--roi-mm=-12.5,40,-100,20,15") == {
        "zStart": -30.5,
        "zEnd": 12.0,
        "zUnit": "mm",
        "roiMm": {"center": [-12.5, 40.0, -100.0], "size": [20.0, 15.0]},
    }
    assert _body("--z", "5:") == {"zStart": 5}
    assert _body("--z", ":7") == {"zEnd": 7}


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--z", "10"], "give A:B"),
        (["--z", "1.5:3"], "slice indexes (or add --mm)"),
        (["--z", "a:b", "--mm"], "millimetres"),
        (["--roi", "1,2,3"], "give 4 ints"),
        (["--roi", "1,2,3,x"], "give 4 ints"),
        (["--roi-mm", "1,2,3,4"], "give 5 floats"),
        (["--roi", "1,2,3,4", "--roi-mm", "1,2,3,4,5"], "not both"),
    ],
)
def test_what_does_not_parse_is_refused_in_words(options: list[str], message: str) -> None:
    with pytest.raises(StackError, match=message.replace("(", r"\(").replace(")", r"\)")):
        _body(*options)


@pytest.mark.parametrize(
    "options", [["--downsample", "3"], ["--format", "nifti"], ["--preset", "rate5"], []]
)
def test_argparse_refuses_unknown_choices_and_missing_arguments(options: list[str]) -> None:
    argv = ["mini-ct", STUDY, SERIES, *options] if options else ["mini-ct", STUDY]
    with pytest.raises(SystemExit):
        build_parser().parse_args(argv)
