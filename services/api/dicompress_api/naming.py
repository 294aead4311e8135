"""Naming rules for what a job writes: the artifact's file name and where it lands."""

from __future__ import annotations

import re
import uuid

from dicompress_infra.s3 import S3Uri

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


def artifact_uri(target: S3Uri, job_id: uuid.UUID, filename: str | None) -> str:
    """Where the compressor writes the ZIP: the target prefix + the name (default '<job>.zip')."""
    return str(target.child(filename or f"{job_id}.zip"))
