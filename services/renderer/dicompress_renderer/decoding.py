"""Decode what scanners send, with the pydicom plugin named for each transfer syntax in the
shared table (`dicompress_infra.dicom_decoding`, the compressor's too).

JPEG Extended (.4.51) is refused here whatever its depth: GDCM decodes dark 12-bit pixels as
white, and the renderer never asked for the 8-bit case apart.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from pydicom.dataset import Dataset
from pydicom.uid import JPEGExtended12Bit

from dicompress_infra.dicom_decoding import DECODING_PLUGINS, decode_frame, transfer_syntax
from dicompress_renderer.errors import RenderAborted


def decode_pixels(ds: Dataset) -> npt.NDArray[np.integer]:
    """The stored values of a single-frame image, by the plugin named for its syntax."""
    syntax = transfer_syntax(ds)
    if syntax not in DECODING_PLUGINS or syntax == JPEGExtended12Bit:
        raise RenderAborted(
            "unsupported-input",
            f"the images are stored in transfer syntax {syntax or '(none)'}, which the renderer "
            "does not read: export the series uncompressed, JPEG Lossless, JPEG-LS or JPEG 2000",
        )
    return decode_frame(ds, 0)
