"""A job's source: the objects under its prefix (less what the job itself writes there), their
headers read (`headers`) and laid out in anatomical order (`layout`)."""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import Any

from dicompress_compressor.errors import CompressorError
from dicompress_compressor.headers import read_headers
from dicompress_compressor.layout import Layout, plan
from dicompress_compressor.storage import ObjectStore
from dicompress_infra.s3 import S3Uri

log = logging.getLogger(__name__)


class SourceUnreadable(CompressorError):
    """An object's header could not be fetched: an order built without it would not be the
    order a re-run builds, so the job cannot start."""


async def lay_out_source(
    store: ObjectStore,
    source: S3Uri,
    own: S3Uri,
    log_extra: dict[str, Any],
    anonymize: bool = False,
) -> Layout:
    """The source's objects laid out; `own` is the job's prefix, left out when the source
    holds it (a source at the bucket's root). An anonymizing job's layout knows no Series
    Description (free text the profile removes): its folders and manifest cannot carry it."""
    started = time.perf_counter()
    objects = [
        o
        for o in await store.list_objects(source)
        if not (o.bucket == own.bucket and o.key.startswith(own.prefix))
    ]
    try:
        headers = await read_headers(store, objects)
    except Exception as exc:  # the store retried already; what it raises varies by client
        raise SourceUnreadable(
            f"could not read the DICOM headers under {source} ({type(exc).__name__}: {exc}): "
            "check that S3 is reachable, then request the job again"
        ) from exc
    if anonymize:
        headers = [dataclasses.replace(h, series_description="") for h in headers]
    layout = plan(headers, source.prefix)
    header_ms = (time.perf_counter() - started) * 1000.0
    log.info("source laid out", extra={**log_extra, "objects": len(objects), "ms": header_ms})
    return layout
