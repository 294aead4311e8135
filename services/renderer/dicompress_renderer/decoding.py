"""Decode what scanners send, with the pydicom plugin named for each transfer syntax.

The same choice as the compressor's (services must not import one another, so the idea is
copied, not the module): pydicom picks among whichever plugins are installed, so we name one per
syntax. The JPEG family goes through python-gdcm (BSD; JPEG Lossless and JPEG-LS fail without
it), JPEG 2000 and HTJ2K through pylibjpeg-openjpeg, RLE through pydicom itself.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from pydicom.dataset import Dataset
from pydicom.pixels.decoders.base import get_decoder
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
    JPEGLossless,
    JPEGLosslessSV1,
    JPEGLSLossless,
    JPEGLSNearLossless,
    RLELossless,
)

from dicompress_renderer.errors import RenderAborted

# Transfer syntax -> pydicom decoder plugin; None: uncompressed, no plugin. 12-bit JPEG
# Extended (.4.51) is left out on purpose: GDCM decodes dark 12-bit pixels as white.
DECODING_PLUGINS: dict[UID, str | None] = {
    ImplicitVRLittleEndian: None,
    ExplicitVRLittleEndian: None,
    DeflatedExplicitVRLittleEndian: None,
    ExplicitVRBigEndian: None,
    JPEGBaseline8Bit: "gdcm",
    JPEGLossless: "gdcm",
    JPEGLosslessSV1: "gdcm",
    JPEGLSLossless: "gdcm",
    JPEGLSNearLossless: "gdcm",
    JPEG2000Lossless: "pylibjpeg",
    JPEG2000: "pylibjpeg",
    HTJ2KLossless: "pylibjpeg",
    HTJ2KLosslessRPCL: "pylibjpeg",
    HTJ2K: "pylibjpeg",
    RLELossless: "pydicom",
}


def decode_pixels(ds: Dataset) -> npt.NDArray[np.integer]:
    """The stored values of a single-frame image, by the plugin named for its syntax."""
    syntax = UID(str(ds.file_meta.get("TransferSyntaxUID", "")))
    if syntax not in DECODING_PLUGINS:
        raise RenderAborted(
            "unsupported-input",
            f"the images are stored in transfer syntax {syntax or '(none)'}, which the renderer "
            "does not read: export the series uncompressed, JPEG Lossless, JPEG-LS or JPEG 2000",
        )
    plugin = DECODING_PLUGINS[syntax]
    decoded, _ = get_decoder(syntax).as_array(ds, index=0, decoding_plugin=plugin or "")
    pixels: npt.NDArray[np.integer] = np.ascontiguousarray(decoded)
    return pixels
