"""A deterministic synthetic CT **study**, as a scanner or PACS exports it, for tests and the demo.

One patient and one study: a scout (its own frame of reference), a soft-tissue and a bone axial
series (one acquisition, one frame of reference, each with its own geometry), two secondary
captures, optionally a dose SR, a DICOMDIR and, on request, a non-DICOM file and a truncated
DICOM. File names sort neither by anatomy nor by InstanceNumber; the bone series is numbered
from the feet. The same spec gives the same bytes, UIDs included. `write_study` and
`write_study_zip` return a StudyManifest: what an ingest's study index must agree with.
"""

from __future__ import annotations

import dataclasses
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal

import numpy as np
from pydicom.dataset import Dataset
from pydicom.uid import UID, JPEGLosslessSV1, JPEGLSLossless

from dicompress_stack.synthetic_study_captures import coronal_capture, dose_events, dose_screen
from dicompress_stack.synthetic_study_ct import (
    AxialSeries,
    Scout,
    SeriesIds,
    StudyContext,
    axial_slice,
    scout_image,
    seeded_uid,
    seeded_uuid,
)
from dicompress_stack.synthetic_study_files import (
    FileRecorder,
    Role,
    SeriesManifest,
    StudyFile,
    StudyManifest,
    dicomdir_bytes,
    encode_jpeg,
    part10,
)
from dicompress_stack.synthetic_study_sr import dose_report

__all__ = [
    "SERIES_KEYS",
    "Role",
    "SeriesManifest",
    "StudyFile",
    "StudyManifest",
    "StudySpec",
    "study_members",
    "write_study",
    "write_study_zip",
]

SERIES_KEYS = ("scout", "soft", "bone", "coronal", "screen", "dose", "truncated")
_CT_KEYS = ("scout", "soft", "bone")
_ZIP_TIME = (2024, 1, 15, 9, 30, 0)


@dataclass(frozen=True)
class StudySpec:
    """What to generate. The defaults are small (tests); `realistic()` is the demo's size."""

    seed: int = 0
    slices: int = 20  # soft-tissue series; the bone series covers the same body at 2x spacing
    size: int = 128  # rows = columns of both axial series
    spacing_mm: float = 1.25  # soft-tissue slice spacing (the bone series: twice that)
    scout_size: int = 128  # the scout is scout_size x scout_size
    dose_report: bool = True  # the X-Ray Radiation Dose SR
    layout: Literal["flat", "pacs"] = "flat"  # pacs: DICOM/S0002/I10, flat: IM12 at the root
    uuid_names: tuple[str, ...] = ()  # series keys whose files are named <uuid>.dcm
    jpeg_lossless: tuple[str, ...] = ()  # CT series keys stored JPEG Lossless SV1 (.4.70)
    jpeg_ls: tuple[str, ...] = ()  # CT series keys stored JPEG-LS lossless (.4.80)
    bad_members: bool = False  # add README.txt (not DICOM) and a truncated DICOM

    def __post_init__(self) -> None:
        if self.slices < 2 or self.size < 16 or self.scout_size < 16 or self.spacing_mm <= 0:
            raise ValueError("StudySpec: needs slices >= 2, size and scout_size >= 16, spacing > 0")
        if unknown := set(self.uuid_names) - set(SERIES_KEYS):
            raise ValueError(f"StudySpec.uuid_names: unknown series {sorted(unknown)}")
        if (set(self.jpeg_lossless) | set(self.jpeg_ls)) - set(_CT_KEYS):
            raise ValueError(f"StudySpec: JPEG encoding only for the CT series {_CT_KEYS}")
        if both := set(self.jpeg_lossless) & set(self.jpeg_ls):
            raise ValueError(f"StudySpec: {sorted(both)} both JPEG Lossless and JPEG-LS")

    @classmethod
    def realistic(cls, seed: int = 0, **changes: Any) -> StudySpec:
        """The demo's study: 399 soft-tissue slices of 512x512 (~200 MB) and 199 bone slices;
        `changes` as keyword arguments of StudySpec (layout="pacs", ...)."""
        return dataclasses.replace(cls(seed=seed, slices=399, size=512, scout_size=256), **changes)


@dataclass(frozen=True)
class _Plan:
    """The study's series, UIDs and geometry, derived from the spec alone (no pixels)."""

    spec: StudySpec
    ctx: StudyContext
    ids: dict[str, SeriesIds]

    @classmethod
    def of(cls, spec: StudySpec) -> _Plan:
        names = {
            "scout": (1, "Scout AP"),
            "soft": (2, f"Abdomen {spec.spacing_mm:g} mm soft tissue"),
            "bone": (3, f"Bone {2 * spec.spacing_mm:g} mm"),
            "coronal": (500, "Coronal overview capture"),
            "screen": (999, "Dose screen"),
            "dose": (998, "Radiation dose report"),
            "truncated": (9, "Incomplete copy"),
        }
        ids = {
            key: SeriesIds(key, number, text, seeded_uid(spec.seed, f"series/{key}"))
            for key, (number, text) in names.items()
        }
        return cls(spec, StudyContext.of(spec.seed), ids)

    @property
    def length_mm(self) -> float:
        return (self.spec.slices - 1) * self.spec.spacing_mm

    def axial(self, key: str) -> AxialSeries:
        spec, acquisition = self.spec, seeded_uid(self.spec.seed, "frame-of-reference/spiral")
        if key == "soft":  # the whole body, full field of view, numbered from the head
            return AxialSeries(
                ids=self.ids["soft"],
                frame_of_reference=acquisition,
                slices=spec.slices,
                size=spec.size,
                spacing_mm=spec.spacing_mm,
                thickness_mm=spec.spacing_mm,
                fov_mm=360.0,
                centre_mm=(0.0, 0.0),
                first_z_mm=0.0,
                body_length_mm=self.length_mm,
                kernel="STANDARD",
                numbered_from_feet=False,
            )
        # the same body reconstructed again: twice the spacing, offset by half a soft slice,
        # a smaller field of view around another centre, numbered from the feet
        bone_spacing = spec.spacing_mm * 2
        return AxialSeries(
            ids=self.ids["bone"],
            frame_of_reference=acquisition,
            slices=int((self.length_mm - spec.spacing_mm / 2) // bone_spacing) + 1,
            size=spec.size,
            spacing_mm=bone_spacing,
            thickness_mm=bone_spacing * 0.8,
            fov_mm=288.0,
            centre_mm=(12.0, -20.0),
            first_z_mm=-spec.spacing_mm / 2,
            body_length_mm=self.length_mm,
            kernel="BONE",
            numbered_from_feet=True,
        )

    def scout(self) -> Scout:
        frame = seeded_uid(self.spec.seed, "frame-of-reference/scout")
        return Scout(self.ids["scout"], frame, self.spec.scout_size, self.length_mm)

    def sop_uid(self, key: str, index: int) -> UID:
        return seeded_uid(self.spec.seed, f"sop/{key}/{index}")


class _Generator:
    """Yields the study's members one at a time and records what the manifest needs."""

    def __init__(self, spec: StudySpec) -> None:
        self.plan = _Plan.of(spec)
        self.recorder = FileRecorder()
        self._ordinal = 0
        self._running = 0

    def manifest(self) -> StudyManifest:
        ctx = self.plan.ctx
        patient = (ctx.patient_id, ctx.patient_name, ctx.accession)
        return self.recorder.manifest(ctx.study_uid, patient)

    def members(self) -> Iterator[tuple[str, bytes]]:
        plan, spec, ctx = self.plan, self.plan.spec, self.plan.ctx
        scout_ds, scout_pixels = scout_image(ctx, plan.scout(), plan.sop_uid("scout", 0))
        yield from self._series("scout", "scout", iter([scout_ds]))
        for key in ("soft", "bone"):
            series = plan.axial(key)
            order = list(range(series.slices))  # file k holds the slice numbered k...
            order.sort(key=series.instance_number)
            if key == "bone":  # ...or, for the bone series, a seeded shuffle
                np.random.default_rng([spec.seed, 0x5EED]).shuffle(order)
            slices = (axial_slice(ctx, series, i, plan.sop_uid(key, i)) for i in order)
            yield from self._series(key, "ct-slice", slices)
        coronal = coronal_capture(
            ctx, plan.ids["coronal"], plan.sop_uid("coronal", 0), scout_pixels
        )
        yield from self._series("coronal", "secondary-capture", iter([coronal]))
        events = dose_events(spec.seed, plan.length_mm)
        screen = dose_screen(ctx, plan.ids["screen"], plan.sop_uid("screen", 0), events)
        yield from self._series("screen", "secondary-capture", iter([screen]))
        if spec.dose_report:
            report = dose_report(ctx, plan.ids["dose"], plan.sop_uid("dose", 0), events)
            yield from self._series("dose", "sr", iter([report]))
        if spec.bad_members:
            yield from self._bad_members()
        uid, data = dicomdir_bytes(spec.seed, self.recorder.dicomdir_entries())
        yield self.recorder.add_dicomdir("DICOMDIR", data, uid)

    def _series(
        self, key: str, role: Role, datasets: Iterator[Dataset]
    ) -> Iterator[tuple[str, bytes]]:
        self._ordinal += 1
        syntax = None
        if key in self.plan.spec.jpeg_lossless:
            syntax = JPEGLosslessSV1
        elif key in self.plan.spec.jpeg_ls:
            syntax = JPEGLSLossless
        for k, ds in enumerate(datasets, start=1):
            if syntax is not None:
                encode_jpeg(ds, syntax)
            data = part10(ds)
            yield self.recorder.add(self._path(key, k), role, data, ds, key)

    def _path(self, key: str, k: int) -> str:
        self._running += 1
        spec = self.plan.spec
        if key in spec.uuid_names:
            name = f"{seeded_uuid(spec.seed, f'{key}/{k}')}.dcm"
        else:
            name = f"I{k}" if spec.layout == "pacs" else f"IM{self._running}"
        return f"DICOM/S{self._ordinal:04d}/{name}" if spec.layout == "pacs" else name

    def _bad_members(self) -> Iterator[tuple[str, bytes]]:
        plan = self.plan
        series = plan.axial("soft")
        ds = axial_slice(plan.ctx, series, 0, plan.sop_uid("truncated", 0))
        ds.SeriesInstanceUID = plan.ids["truncated"].uid
        ds.SeriesNumber = plan.ids["truncated"].number
        ds.SeriesDescription = plan.ids["truncated"].description
        self._ordinal += 1
        data = part10(ds)
        yield self.recorder.add(
            self._path("truncated", 1), "truncated", data[: len(data) // 2], ds, "truncated"
        )  # the header is whole, the Pixel Data cut short: a copy that was interrupted
        text = b"Exported by a synthetic PACS. Not DICOM: an ingest lists it as rejected.\n"
        yield self.recorder.add("README.txt", "not-dicom", text, None, None)


def study_members(spec: StudySpec) -> Iterator[tuple[str, bytes]]:
    """(relative path, bytes) of every member, one at a time (DICOMDIR last): for uploads that
    need no local copy. Use write_study or write_study_zip when you need the manifest."""
    yield from _Generator(spec).members()


def write_study(spec: StudySpec, folder: Path | str) -> StudyManifest:
    """Write the study under `folder` (created if needed) and return its manifest."""
    root = Path(folder)
    generator = _Generator(spec)
    for path, data in generator.members():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return generator.manifest()


def write_study_zip(spec: StudySpec, target: Path | str | IO[bytes]) -> StudyManifest:
    """Stream the study into a ZIP (Deflate, fixed timestamps: same spec, same bytes), one
    member in memory at a time; `target` may be a path or a writable, even unseekable, file."""
    generator = _Generator(spec)
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for path, data in generator.members():
            info = zipfile.ZipInfo(path, date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            # a ZipInfo of our own carries no level: without this, zlib's default 6 (57 ms a
            # 512x512 slice against 10 ms at 1, for almost the same ratio)
            zf.writestr(info, data, compresslevel=1)
    return generator.manifest()
