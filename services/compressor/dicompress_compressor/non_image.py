"""DICOM objects without pixel data (DICOMDIR, structured reports and dose reports, presentation
states, key object selections): not slices, so never counted, encoded or failed.

They are copied into the ZIP as they are, under `other/`, unless the request says
`include_non_image: false`, or asks for de-identification: we de-identify only what we encode,
and a report copied as it is would carry the patient's name into an anonymized archive. Each is
listed in the manifest either way, with what became of it.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

from dicompress_compressor.artifact import ArtifactWriter
from dicompress_compressor.layout import OtherObject
from dicompress_compressor.manifest import OtherEntry
from dicompress_compressor.storage import ObjectStore

log = logging.getLogger(__name__)

LEFT_OUT_BY_REQUEST = "left out: the request asked for include_non_image=false"
LEFT_OUT_ANONYMIZED = (
    "left out: the job de-identifies what it encodes, and this object would be copied as it is"
)


async def copy_others(
    store: ObjectStore,
    writer: ArtifactWriter,
    others: list[OtherObject],
    *,
    include: bool,
    anonymize: bool,
    log_extra: dict[str, Any],
) -> list[OtherEntry]:
    """Add each object to the ZIP (or not) and say what became of it, in the given order."""
    reason = LEFT_OUT_ANONYMIZED if anonymize else None if include else LEFT_OUT_BY_REQUEST
    entries = []
    for other in others:
        source = other.header.source
        sop_class = None if anonymize else other.header.sop_class_uid or None
        listed = functools.partial(OtherEntry, source.key, source.size, sop_class)
        if reason is not None:
            entries.append(listed(left_out=reason))
            continue
        try:
            data = other.header.data or await store.get_bytes(source)
        except Exception as exc:  # not a slice: the job goes on, the manifest says so
            log.warning("non-image object not copied", extra={**log_extra, "key": source.key})
            entries.append(listed(left_out=f"left out: download failed: {type(exc).__name__}"))
            continue
        await writer.add(other.entry_name, data)
        entries.append(listed(entry_name=other.entry_name))
    return entries
