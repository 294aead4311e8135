"""A stand-in for the three S3 calls the renderer makes (list, get, put), on a dict, that
records every call and every emitted event in one log, in the order they happened."""

from __future__ import annotations

import hashlib
import io
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from dicompress_schemas import EventBase


class NoSuchKey(Exception):
    """What the fake raises for a missing object (boto3 raises a ClientError)."""


@dataclass
class FakeS3:
    objects: dict[str, bytes] = field(default_factory=dict)
    log: list[tuple[str, str]] = field(default_factory=list)  # (call, key or event type)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, call: str, what: str) -> None:
        with self._lock:
            self.log.append((call, what))

    def get_paginator(self, name: str) -> FakeS3:
        assert name == "list_objects_v2"
        return self

    def paginate(self, Bucket: str, Prefix: str) -> Iterator[dict[str, Any]]:  # boto3's names
        self.record("list", Prefix)
        found = [
            {"Key": k, "Size": len(v), "ETag": _etag(v)}
            for k, v in sorted(self.objects.items())
            if k.startswith(Prefix)
        ]
        yield {"Contents": found}

    def get_object(self, Bucket: str, Key: str) -> dict[str, Any]:
        self.record("get", Key)
        if Key not in self.objects:
            raise NoSuchKey(Key)
        return {"Body": io.BytesIO(self.objects[Key])}

    def put_object(self, Bucket: str, Key: str, Body: bytes, ContentType: str) -> dict[str, Any]:
        self.record("put", Key)
        self.objects[Key] = Body
        return {}

    async def emit(self, event: EventBase) -> None:
        self.record("emit", event.type)


def _etag(data: bytes) -> str:
    """What S3 answers for an object put in one part: the MD5 of its content, quoted."""
    return f'"{hashlib.md5(data, usedforsecurity=False).hexdigest()}"'
