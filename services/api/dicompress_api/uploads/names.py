"""The object name of an upload, from the client's file name.

The client's name is shown back to people (and carried in `ArchiveUploaded.file_name`), but
only a safe form of it ever reaches an S3 key: no folders (the last path segment is kept, so
`../../x.zip` and `C:\\exports\\x.zip` are `x.zip`), letters without accents, digits, '.', '_'
and '-' only, no leading dot or dash, at most `MAX_NAME` characters with the extension kept.
Control and format characters (newlines, NUL, right-to-left overrides) are refused outright:
no honest file name holds them.
"""

from __future__ import annotations

import re
import unicodedata

from dicompress_api.web.errors import FieldProblem, InvalidRequest

MAX_NAME = 100
_MAX_EXTENSION = 16
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_RUNS = re.compile(r"_{2,}")
_FALLBACK = {"application/zip": "upload.zip", "application/dicom": "upload.dcm"}


def base_name(file_name: str, field: str = "fileName") -> str:
    """The client's name without its folders (they may name the person's account), as shown
    back and carried in the event; InvalidRequest (422) for control or format characters."""
    if any(unicodedata.category(c) in ("Cc", "Cf") for c in file_name):
        detail = "control or format characters are not allowed in a file name"
        raise InvalidRequest([FieldProblem(field, "control_characters", detail)])
    return re.split(r"[/\\]", file_name.strip())[-1]


def object_name(file_name: str, content_type: str, field: str = "fileName") -> str:
    """The safe name an upload is stored under; InvalidRequest (422) for control characters."""
    base = base_name(file_name, field)
    decomposed = unicodedata.normalize("NFKD", base)
    ascii_only = "".join(c for c in decomposed if not unicodedata.combining(c))
    safe = _RUNS.sub("_", _UNSAFE.sub("_", ascii_only)).lstrip("._-").rstrip(". ")
    if not safe.strip("_"):
        return _FALLBACK.get(content_type, "upload.bin")
    return _shortened(safe)


def _shortened(name: str) -> str:
    if len(name) <= MAX_NAME:
        return name
    stem, dot, extension = name.rpartition(".")
    if not dot or len(extension) > _MAX_EXTENSION:
        return name[:MAX_NAME]
    return stem[: MAX_NAME - len(extension) - 1] + "." + extension
