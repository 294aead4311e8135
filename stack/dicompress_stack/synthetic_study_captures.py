"""The secondary captures of a synthetic study: a dose screen (RGB) and a coronal overview
(MONOCHROME2, 8-bit), both with burned-in text, as scanners save them.

The text is drawn with a 3x5 pixel font so that the pixels depend on nothing installed (a
system font would change the bytes from one machine to the next).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from pydicom.dataset import Dataset
from pydicom.uid import UID, SecondaryCaptureImageStorage

from dicompress_stack.synthetic_study_ct import SeriesIds, StudyContext, base_dataset, seeded_uid

# 3x5 glyphs: "<char>=<row>,<row>,..." top to bottom, "#" = ink
_FONT = """
    0=###,#.#,#.#,#.#,###  1=.#.,##.,.#.,.#.,###  2=###,..#,###,#..,###  3=###,..#,###,..#,###
    4=#.#,#.#,###,..#,..#  5=###,#..,###,..#,###  6=###,#..,###,#.#,###  7=###,..#,..#,..#,..#
    8=###,#.#,###,#.#,###  9=###,#.#,###,..#,###  A=.#.,#.#,###,#.#,#.#  B=##.,#.#,##.,#.#,##.
    C=.##,#..,#..,#..,.##  D=##.,#.#,#.#,#.#,##.  E=###,#..,##.,#..,###  F=###,#..,##.,#..,#..
    G=.##,#..,#.#,#.#,.##  H=#.#,#.#,###,#.#,#.#  I=###,.#.,.#.,.#.,###  J=..#,..#,..#,#.#,.#.
    K=#.#,#.#,##.,#.#,#.#  L=#..,#..,#..,#..,###  M=#.#,###,###,#.#,#.#  N=##.,#.#,#.#,#.#,#.#
    O=.#.,#.#,#.#,#.#,.#.  P=##.,#.#,##.,#..,#..  Q=.#.,#.#,#.#,##.,.##  R=##.,#.#,##.,#.#,#.#
    S=.##,#..,.#.,..#,##.  T=###,.#.,.#.,.#.,.#.  U=#.#,#.#,#.#,#.#,###  V=#.#,#.#,#.#,#.#,.#.
    W=#.#,#.#,###,###,#.#  X=#.#,#.#,.#.,#.#,#.#  Y=#.#,#.#,.#.,.#.,.#.  Z=###,..#,.#.,#..,###
    .=...,...,...,...,.#.  :=...,.#.,...,.#.,...  /=..#,..#,.#.,#..,#..  -=...,...,###,...,...
     =...,...,...,...,...
"""
_GLYPHS: dict[str, str] = dict(re.findall(r"(.)=([#.,]{19})", _FONT))


def draw_text(
    image: npt.NDArray[np.uint8], text: str, row: int, col: int, colour: tuple[int, ...], scale: int
) -> None:
    """Draw `text` (upper case, digits, . : / -) at (row, col) with `scale` pixels per dot."""
    for n, char in enumerate(text.upper()):
        glyph = _GLYPHS.get(char, _GLYPHS[" "]).split(",")
        for r, line in enumerate(glyph):
            for c, dot in enumerate(line):
                if dot == "#":
                    top, left = row + r * scale, col + (n * 4 + c) * scale
                    image[top : top + scale, left : left + scale] = colour


@dataclass(frozen=True)
class DoseEvent:
    """One irradiation event as the dose screen and the dose report show it."""

    protocol: str
    spiral: bool
    length_mm: float
    ctdivol_mgy: float
    kvp: float
    ma: float
    exposure_s: float
    uid: UID

    @property
    def dlp_mgy_cm(self) -> float:
        return round(self.ctdivol_mgy * self.length_mm / 10.0, 2)


def dose_events(seed: int, body_length_mm: float) -> tuple[DoseEvent, ...]:
    """The scout and the spiral acquisition behind the CT series, with seed-dependent dose."""
    scout = DoseEvent(
        "SCOUT AP",
        False,
        body_length_mm * 1.2,
        0.11,
        120.0,
        20.0,
        2.1,
        seeded_uid(seed, "event/scout"),
    )
    ctdivol = 8.0 + (seed % 7) * 0.75
    spiral = DoseEvent(
        "CHEST ABDOMEN",
        True,
        body_length_mm,
        ctdivol,
        120.0,
        200.0,
        6.4,
        seeded_uid(seed, "event/spiral"),
    )
    return scout, spiral


def _capture(
    ctx: StudyContext, ids: SeriesIds, sop_uid: UID, modality: str, pixels: npt.NDArray[np.uint8]
) -> Dataset:
    ds = base_dataset(ctx, SecondaryCaptureImageStorage, sop_uid, ids, modality, 1)
    ds.ImageType = ["DERIVED", "SECONDARY"]
    ds.ConversionType = "WSD"
    ds.PatientOrientation = ""
    ds.BurnedInAnnotation = "YES"
    ds.BodyPartExamined = "CHEST"  # of the CT it shows (and Laterality need not be sent)
    ds.Rows, ds.Columns = pixels.shape[:2]
    ds.SamplesPerPixel = 3 if pixels.ndim == 3 else 1
    ds.PhotometricInterpretation = "RGB" if pixels.ndim == 3 else "MONOCHROME2"
    if pixels.ndim == 3:
        ds.PlanarConfiguration = 0
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    ds.PixelData = np.ascontiguousarray(pixels).tobytes()
    ds["PixelData"].VR = "OB"
    return ds


def dose_screen(
    ctx: StudyContext, ids: SeriesIds, sop_uid: UID, events: tuple[DoseEvent, ...]
) -> Dataset:
    """A 384x288 RGB dose screen: the patient, one line per event, the total DLP."""
    image = np.zeros((288, 384, 3), dtype=np.uint8)
    image[:, :] = (8, 16, 48)
    image[:28, :] = (40, 60, 120)
    white, yellow = (235, 235, 235), (250, 210, 60)
    draw_text(image, "DOSE REPORT", 8, 8, white, 2)
    draw_text(image, f"PATIENT {ctx.patient_name.replace('^', ' ')}", 40, 8, white, 2)
    draw_text(image, f"ID {ctx.patient_id}  ACC {ctx.accession}", 56, 8, white, 2)
    draw_text(image, "SCAN    KV  MA   CTDIVOL  DLP", 88, 8, yellow, 2)
    image[102, 8:376] = yellow
    for n, event in enumerate(events):
        line = f"{n + 1:<4}{event.kvp:>6.0f}{event.ma:>4.0f}{event.ctdivol_mgy:>9.2f}"
        draw_text(image, f"{line}{event.dlp_mgy_cm:>9.2f}", 110 + 16 * n, 8, white, 2)
    total = sum(event.dlp_mgy_cm for event in events)
    draw_text(image, f"TOTAL DLP {total:.2f} MGY-CM", 250, 8, yellow, 2)
    return _capture(ctx, ids, sop_uid, "CT", image)


def coronal_capture(
    ctx: StudyContext, ids: SeriesIds, sop_uid: UID, scout_pixels: npt.NDArray[np.uint16]
) -> Dataset:
    """An 8-bit grey overview made from the scout, with a label: a saved viewer screen."""
    scaled = np.clip(scout_pixels.astype(np.float32) * (255.0 / 3000.0), 0, 255)
    image = np.rint(scaled).astype(np.uint8)
    draw_text(image, "CORONAL", 4, 4, (255,), max(1, image.shape[1] // 128))
    return _capture(ctx, ids, sop_uid, "OT", image)
