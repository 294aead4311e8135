"""Naming rules for what a job writes: the artifact's file name and where it lands.

The default name is the contract's rule (`dicompress_schemas.naming.default_name`), the one the
compressor names the ZIP with, so the name the API announces is the one the compressor writes.
A caller's own name is held to the contract's rule too (`dicompress_schemas.envelope.zip_filename`).
"""

from __future__ import annotations

from dicompress_infra.s3 import S3Uri
from dicompress_schemas import CompressionRequested
from dicompress_schemas.naming import default_name


def planned_artifact(request: CompressionRequested) -> str:
    """Where the compressor writes the ZIP: the target prefix + the given name, or by default
    `{source folder}-rate{rate}-{YYYYMMDD-HHMMSS}.zip` (the request's time, UTC)."""
    source = S3Uri.parse(request.source_uri)
    name = request.output_filename or default_name(request, source.key)
    return str(S3Uri.parse(request.target_uri).child(name))
