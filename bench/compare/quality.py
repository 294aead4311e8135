"""Achieved ratio and PSNR of a tool's outputs, measured the same way for every tool.

Outputs are matched to their originals by InstanceNumber (every tool keeps it; not every tool
keeps the SOP Instance UID), parsed with pydicom and decoded with pydicom, so no tool is judged
by its own report.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.encaps import generate_frames


@dataclass(frozen=True)
class Quality:
    """What came out: decodable slices, ratio over the whole series, mean PSNR in dB."""

    slices: int
    ratio: float
    mean_psnr: float
    problems: tuple[str, ...] = ()
    private_kept: int = 0  # outputs that still carry the original's private tags
    bits_stored_changed: int = 0  # outputs whose BitsStored differs from the original's


def originals_by_instance(paths: Iterable[Path]) -> dict[int, Path]:
    """The original files keyed by InstanceNumber."""
    found: dict[int, Path] = {}
    for path in paths:
        ds = dcmread(path, stop_before_pixels=True)
        found[int(ds.InstanceNumber)] = path
    return found


def codestream_bytes(ds: Dataset) -> int:
    """Bytes of the encapsulated codestreams: every frame's fragments, without the Basic Offset
    Table (`generate_fragments` would count it as a fragment when it is not empty)."""
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    return sum(len(frame) for frame in generate_frames(ds.PixelData, number_of_frames=frames))


def pixel_bytes(ds: Dataset) -> int:
    """Bytes of the uncompressed pixels as gdcmconv counts them (at BitsAllocated)."""
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    return int(ds.Rows * ds.Columns * ds.SamplesPerPixel * ds.BitsAllocated // 8 * frames)


def psnr(reference: np.ndarray, decoded: np.ndarray, bits_stored: int) -> float:
    """PSNR in dB with the peak of the original's stored range (4095 for 12-bit CT)."""
    difference = reference.astype(np.float64) - decoded.astype(np.float64)
    mse = float(np.mean(difference**2))
    peak = float(2**bits_stored - 1)
    return math.inf if mse == 0 else 10.0 * math.log10(peak**2 / mse)


def measure(originals: Mapping[int, Path], outputs: Iterable[bytes]) -> Quality:
    """Ratio (sum of pixel bytes / sum of codestream bytes) and mean PSNR of `outputs`.

    An output that does not parse, does not decode, or matches no original is counted as a
    problem rather than stopping the benchmark.
    """
    total_pixels = total_codestream = private_kept = bits_changed = 0
    values: list[float] = []
    problems: list[str] = []
    for number, data in enumerate(outputs):
        try:
            ds = dcmread(io.BytesIO(data))
            instance = int(ds.InstanceNumber)
            if instance not in originals:
                raise LookupError(f"InstanceNumber {instance} matches no original")
            if not ds.file_meta.TransferSyntaxUID.is_compressed:
                raise ValueError(f"not compressed ({ds.file_meta.TransferSyntaxUID})")
            decoded = ds.pixel_array
            original = dcmread(originals[instance])
            reference = original.pixel_array
        except Exception as exc:  # any broken output is a finding, not a crash of the bench
            problems.append(f"output {number}: {type(exc).__name__}: {exc}")
            continue
        private_kept += _private_tags(ds) >= _private_tags(original) > 0
        bits_changed += int(ds.BitsStored) != int(original.BitsStored)
        total_pixels += pixel_bytes(ds)
        total_codestream += codestream_bytes(ds)
        # the original's precision: an encoder that rewrites BitsStored must not move the peak
        values.append(psnr(reference, decoded, int(original.BitsStored)))
    ratio = total_pixels / total_codestream if total_codestream else math.nan
    mean = float(np.mean(values)) if values else math.nan
    return Quality(
        slices=len(values),
        ratio=ratio,
        mean_psnr=mean,
        problems=tuple(problems),
        private_kept=private_kept,
        bits_stored_changed=bits_changed,
    )


def _private_tags(ds: Dataset) -> int:
    return sum(1 for element in ds if element.tag.is_private)


def read_files(paths: Iterable[Path]) -> Iterable[bytes]:
    """The bytes of each existing file, lazily (a series never sits in memory twice)."""
    for path in paths:
        if path.is_file():
            yield path.read_bytes()
