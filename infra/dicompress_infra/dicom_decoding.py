"""Decode what scanners send: every input transfer syntax through a pydicom plugin named here.

pydicom picks among the decoder plugins it finds installed, so the same code could decode with
a different library on another machine, or fail on every slice where none is installed (JPEG
Lossless and JPEG-LS did: "all plugins are missing dependencies", reported as malformed files).
We name one plugin per transfer syntax, for every service that reads scanner pixels (the
compressor, the renderer), and the compressor checks at start-up that each is there:

- the JPEG family (Baseline .4.50, Extended .4.51, Lossless .4.57 and .4.70, JPEG-LS .4.80 and
  .4.81): python-gdcm (BSD). highdicom pulls pyjpegls into the development environment only,
  and pylibjpeg-libjpeg is GPL-3: production names gdcm and depends on nothing else.
- JPEG 2000 (.4.90, .4.91) and HTJ2K (.4.201-.4.203): pylibjpeg-openjpeg, the library the
  encoder and the quality measure already use.
- RLE Lossless (.5): pydicom's own decoder.
- Uncompressed and Deflated Explicit VR Little Endian: pydicom itself, no plugin.

Deflated files are inflated by pydicom when the dataset is read, before any pixel is decoded.
Which syntaxes a service refuses, and in which words, stays with the service.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from pydicom.dataset import Dataset
from pydicom.pixels.decoders.base import Decoder, get_decoder
from pydicom.uid import (
    HTJ2K,
    JPEG2000,
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    HTJ2KLossless,
    HTJ2KLosslessRPCL,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    JPEGLossless,
    JPEGLosslessSV1,
    JPEGLSLossless,
    JPEGLSNearLossless,
    RLELossless,
)

GDCM = "gdcm"
PYLIBJPEG = "pylibjpeg"
PYDICOM = "pydicom"

Pixels = npt.NDArray[np.integer]

# Transfer syntax -> the pydicom decoder plugin that decodes it; None: uncompressed, no plugin.
DECODING_PLUGINS: dict[UID, str | None] = {
    ImplicitVRLittleEndian: None,
    ExplicitVRLittleEndian: None,
    DeflatedExplicitVRLittleEndian: None,
    ExplicitVRBigEndian: None,
    JPEGBaseline8Bit: GDCM,
    JPEGExtended12Bit: GDCM,
    JPEGLossless: GDCM,
    JPEGLosslessSV1: GDCM,
    JPEGLSLossless: GDCM,
    JPEGLSNearLossless: GDCM,
    JPEG2000Lossless: PYLIBJPEG,
    JPEG2000: PYLIBJPEG,
    HTJ2KLossless: PYLIBJPEG,
    HTJ2KLosslessRPCL: PYLIBJPEG,
    HTJ2K: PYLIBJPEG,
    RLELossless: PYDICOM,
}

_INSTALL = {
    GDCM: "python-gdcm",
    PYLIBJPEG: "pylibjpeg and pylibjpeg-openjpeg",
    PYDICOM: "numpy (pydicom's RLE decoder needs it)",
}


def missing_decoders() -> list[str]:
    """What is missing to decode every transfer syntax of DECODING_PLUGINS; [] when all is."""
    missing = []
    for syntax, plugin in DECODING_PLUGINS.items():
        decoder = get_decoder(syntax)
        if plugin is None:
            if not decoder.is_available:
                missing.append(f"pydicom's decoder of {syntax.name}")
        elif plugin not in decoder.available_plugins:
            reasons = "; ".join(_missing_dependencies(decoder, plugin)) or "not installed"
            missing.append(
                f"pydicom's '{plugin}' decoder of {syntax.name} ({syntax}): {reasons}; "
                f"install {_INSTALL[plugin]}"
            )
    return missing


def transfer_syntax(ds: Dataset) -> UID:
    """The dataset's Transfer Syntax UID ('' when its file meta has none)."""
    return UID(str(ds.file_meta.get("TransferSyntaxUID", "")))


def decode_frame(ds: Dataset, index: int) -> Pixels:
    """The stored values of frame `index` (0-based), decoded by the plugin named for the
    file's transfer syntax, which must be one of DECODING_PLUGINS (KeyError otherwise)."""
    syntax = transfer_syntax(ds)
    plugin = DECODING_PLUGINS[syntax]
    # The decoder itself rather than `ds.pixel_array`: no array cached on the dataset, so a
    # multi-frame object holds one decoded frame at a time.
    decoded, _ = get_decoder(syntax).as_array(ds, index=index, decoding_plugin=plugin or "")
    pixels: Pixels = np.ascontiguousarray(decoded)
    return pixels


def _missing_dependencies(decoder: Decoder, plugin: str) -> list[str]:
    """pydicom's own words for what the plugin lacks ("gdcm - requires gdcm>=3.0.10")."""
    return [m for m in decoder.missing_dependencies if m.startswith(f"{plugin} ")]
