"""Naming rules for what a job writes: the artifact's file name and where it lands.

The default name is the contract's rule (`dicompress_schemas.naming.default_name`), the one the
compressor names the ZIP with, so the name the API announces is the one the compressor writes.
"""

from __future__ import annotations

import re

from dicompress_infra.s3 import S3Uri
from dicompress_schemas import CompressionRequested
from dicompress_schemas.naming import default_name

MAX_FILENAME = 128
_FILENAME = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]*$")


class UnsafeFilename(ValueError):
    """An output file name that could escape its prefix or confuse a file system."""


def output_filename(name: str) -> str:
    """Check a caller's artifact name and give it a '.zip' suffix if it has none.

    Only letters, digits, '.', '_' and '-' are allowed (so no slash, backslash, control character
    or space), no leading dot (no hidden files, no '..') and no '..' anywhere; the final name,
    suffix included, has at most 128 characters.
    """
    if not _FILENAME.match(name):
        raise UnsafeFilename(
            "use only letters, digits, '.', '_' and '-', and do not start with a dot"
        )
    if ".." in name:
        raise UnsafeFilename("'..' is not allowed in a file name")
    final = name if name.lower().endswith(".zip") else name + ".zip"
    if len(final) > MAX_FILENAME:
        raise UnsafeFilename(f"at most {MAX_FILENAME} characters, '.zip' included")
    return final


def planned_artifact(request: CompressionRequested) -> str:
    """Where the compressor writes the ZIP: the target prefix + the given name, or by default
    `{source folder}-rate{rate}-{YYYYMMDD-HHMMSS}.zip` (the request's time, UTC)."""
    source = S3Uri.parse(request.source_uri)
    name = request.output_filename or default_name(request, source.key)
    return str(S3Uri.parse(request.target_uri).child(name))
