"""The API process's one boto3 S3 client, shared by the presigner and the source lister."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dicompress_infra.s3 import make_s3_client
from dicompress_infra.settings import CommonSettings

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


class S3Connection:
    """Built by the first `start` (lifespan), closed by the first `close`; both idempotent, so
    every adapter using it may start and close it."""

    def __init__(self, settings: CommonSettings) -> None:
        self._settings = settings
        self._client: S3Client | None = None

    async def start(self) -> None:
        if self._client is None:
            self._client = make_s3_client(self._settings)

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()

    @property
    def client(self) -> S3Client | None:
        """None before `start` or after `close`."""
        return self._client
