"""Inputs as scanners send them: a DICOM file re-encoded, in memory, in another transfer syntax.

GDCM (python-gdcm, the decoder the compressor names for the JPEG family) encodes JPEG Lossless,
JPEG-LS and JPEG Baseline/Extended; pydicom's encoders write RLE and JPEG 2000 (pylibjpeg; GDCM's
JPEG 2000 coder aborts the process when driven in memory); pydicom writes deflated and implicit
VR files itself. Each returns Part 10 bytes with every other element unchanged.
"""

from __future__ import annotations

import io

import gdcm
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate
from pydicom.filewriter import dcmwrite
from pydicom.uid import (
    UID,
    DeflatedExplicitVRLittleEndian,
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

_GDCM_SYNTAX = {
    JPEGLosslessSV1: gdcm.TransferSyntax.JPEGLosslessProcess14_1,
    JPEGLossless: gdcm.TransferSyntax.JPEGLosslessProcess14,
    JPEGLSLossless: gdcm.TransferSyntax.JPEGLSLossless,
    JPEGLSNearLossless: gdcm.TransferSyntax.JPEGLSNearLossless,
    JPEGBaseline8Bit: gdcm.TransferSyntax.JPEGBaselineProcess1,
    JPEGExtended12Bit: gdcm.TransferSyntax.JPEGExtendedProcess2_4,
}
_PYDICOM_ENCODER = {RLELossless: "pydicom", JPEG2000Lossless: "pylibjpeg"}


def transcode(data: bytes, syntax: UID, near: int = 2) -> bytes:
    """`data` (an uncompressed Part 10 file, one or more frames) in transfer syntax `syntax`;
    `near` is JPEG-LS near-lossless' largest error per pixel."""
    ds = dcmread(io.BytesIO(data))
    if syntax in _GDCM_SYNTAX:
        frames = _gdcm_frames(ds, _GDCM_SYNTAX[syntax], near)
        ds.PixelData = encapsulate(frames, has_bot=True)
        ds["PixelData"].VR = "OB"
        ds["PixelData"].is_undefined_length = True
        ds.file_meta.TransferSyntaxUID = syntax
    elif syntax in _PYDICOM_ENCODER:
        ds.compress(syntax, encoding_plugin=_PYDICOM_ENCODER[syntax])
    elif syntax in (DeflatedExplicitVRLittleEndian, ImplicitVRLittleEndian):
        ds.file_meta.TransferSyntaxUID = syntax
    else:
        raise ValueError(f"no test encoder for {syntax.name}")
    out = io.BytesIO()
    dcmwrite(out, ds, enforce_file_format=True)
    return out.getvalue()


def _gdcm_frames(ds: Dataset, target: int, near: int) -> list[bytes]:
    """One GDCM-encoded fragment per frame of `ds`'s native pixel data."""
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    image = gdcm.Image()
    # The filter keeps a reference GDCM counts itself; Python deleting the image then aborts the
    # whole process ("ReferenceCount > 0"). A test helper can afford to leak it.
    image.thisown = False
    image.SetNumberOfDimensions(3 if frames > 1 else 2)
    image.SetDimensions((int(ds.Columns), int(ds.Rows), frames))
    image.SetPixelFormat(
        gdcm.PixelFormat(1, ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation)
    )
    monochrome = gdcm.PhotometricInterpretation.MONOCHROME2
    image.SetPhotometricInterpretation(gdcm.PhotometricInterpretation(monochrome))
    image.SetTransferSyntax(gdcm.TransferSyntax(gdcm.TransferSyntax.ExplicitVRLittleEndian))
    element = gdcm.DataElement(gdcm.Tag(0x7FE0, 0x0010))
    element.SetByteStringValue(ds.PixelData)
    image.SetDataElement(element)
    change = gdcm.ImageChangeTransferSyntax()
    change.SetTransferSyntax(gdcm.TransferSyntax(target))
    change.SetInput(image)
    if target == gdcm.TransferSyntax.JPEGLSNearLossless:
        codec = gdcm.JPEGLSCodec()
        codec.SetLossless(False)
        codec.SetLossyError(near)
        change.SetUserCodec(codec)
    if not change.Change():
        raise ValueError(f"GDCM could not encode to {target}")
    fragments = change.GetOutput().GetDataElement().GetSequenceOfFragments()
    # GDCM hands buffers back as str; pydicom's GDCM decoder undoes it the same way
    return [
        fragments.GetFragment(i).GetByteValue().GetBuffer().encode("utf-8", "surrogateescape")
        for i in range(fragments.GetNumberOfFragments())
    ]
