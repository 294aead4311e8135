"""The upload settings the two ways in share, read once from ApiSettings."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from dicompress_api.settings import ApiSettings
from dicompress_api.uploads.errors import UploadTooLarge


@dataclass(frozen=True)
class UploadPolicy:
    bucket: str
    max_bytes: int
    part_bytes: int
    stream_part_bytes: int
    max_streams: int
    abandon_after: timedelta

    @classmethod
    def of(cls, settings: ApiSettings) -> UploadPolicy:
        return cls(
            bucket=settings.api_upload_bucket or settings.api_allowed_buckets[0],
            max_bytes=settings.api_upload_max_bytes,
            part_bytes=settings.api_upload_part_bytes,
            stream_part_bytes=settings.api_upload_stream_part_bytes,
            max_streams=settings.api_upload_max_streams,
            abandon_after=timedelta(seconds=settings.api_upload_abandon_after_s),
        )

    def check_size(self, size: int) -> None:
        """UploadTooLarge (413) past the cap."""
        if size > self.max_bytes:
            raise UploadTooLarge(f"the upload has {size} bytes", limit=self.max_bytes)

    @staticmethod
    def key(tenant: str, upload_id: str, name: str) -> str:
        """Where an upload is stored: under the tenant's prefix, in a folder of its own."""
        return f"{tenant}/uploads/{upload_id}/{name}"
