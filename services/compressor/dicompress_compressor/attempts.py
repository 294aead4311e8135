"""The markers of a compressor job's runs in S3, `{tenant}/jobs/{id}/attempts/<n>` in its target
bucket, through the `ObjectStore`: the I/O of the contract's attempts rule
(`dicompress_schemas.attempts`) for compressions, previews and Mini CTs alike.

A run registers itself before it reads its source (so a re-run that finds the source gone
knows how far the earlier runs may have got), and records its ceiling once its layout says how
many slices it makes, before JobStarted.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from dicompress_compressor.storage import ObjectStore
from dicompress_infra.s3 import S3Uri
from dicompress_schemas.attempts import (
    Attempt,
    AttemptMarker,
    decode_marker,
    encode_marker,
    job_attempts_folder,
    job_ceiling,
    next_attempt,
)


@dataclass(frozen=True)
class RunMarkers:
    """The attempt markers of one job, written as `worker`."""

    store: ObjectStore
    folder: S3Uri
    worker: str

    @classmethod
    def of(
        cls, store: ObjectStore, bucket: str, tenant: str, job_id: uuid.UUID, worker: str
    ) -> RunMarkers:
        return cls(store, S3Uri(bucket, job_attempts_folder(tenant, job_id)), worker)

    async def register(self) -> Attempt:
        """This run's number and floor, from the earlier runs' markers (a GET each: a job has
        a few); then its own marker, without a ceiling yet."""
        listed = await self.store.list_ours(self.folder)
        earlier = [decode_marker(await self.store.get_bytes(obj)) for obj in listed]
        attempt = next_attempt(earlier)
        await self._write(attempt.number, None)
        return attempt

    async def record_ceiling(self, number: int, items: int) -> None:
        """The highest seq run `number` may use, making `items` slices: before its JobStarted."""
        await self._write(number, job_ceiling(items))

    async def _write(self, number: int, ceiling: int | None) -> None:
        body = encode_marker(AttemptMarker(self.worker, ceiling))
        await self.store.put_bytes(self.folder.child(str(number)), body, {"worker": self.worker})
