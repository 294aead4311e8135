"""From a ProductRequested (thumbnails or snapshot) to its terminal event.

Events follow the job sequence of every product: JobStarted at seq 1 (total_slices = the number
of images), image i's ImageRendered at 2+i, each emitted only once its image is stored at its
deterministic key, then JobCompleted right after the last image, or JobFailed at the next seq.
Ids come from (job_id, seq), so a re-run (a redelivery, a duplicate request) overwrites the same
keys with the same bytes and re-emits the same ids. Each run registers itself, with its ceiling
(2+N: the images are planned from the request alone), in `{tenant}/jobs/{id}/attempts/` before
it reads the series; a re-run's JobFailed goes past the earlier runs' ceilings (the contract's
attempts rule), so a re-run failing earlier than a crashed run had got is not dropped.

The image work is CPU-bound: it runs in threads (numpy, Pillow and vtk release the GIL) and vtk
in a child process when one is given, so the event loop keeps Kafka's heartbeats going.

Thumbnails of a request naming its key image (`key_instance_uid`): that one object is read
first (while the series is listed), and when it is an axial slice the KEY images, first in the
plan, are made of it, stored and announced before the rest of the series is read; they are the
images the whole volume would give (`key_image`), so the path taken never changes the facts.

The series read whole is kept in memory (`volume_cache`, keyed by what it was read from), so
the snapshot that follows the thumbnails bins it (`binned`: the voxels a binned read would
give) instead of reading the series again.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import psutil

from dicompress_infra.attempt_markers import register_attempt
from dicompress_infra.s3 import LocationRefused, S3Uri, request_locations
from dicompress_renderer.binned import binned_volume
from dicompress_renderer.errors import RenderAborted
from dicompress_renderer.items import Item, Made, ThumbnailMaker, plan
from dicompress_renderer.key_image import key_slice, key_slice_of_volume
from dicompress_renderer.snapshot import make_snapshots
from dicompress_renderer.source import (
    GetObject,
    ReadImage,
    SourceObject,
    boto3_get,
    list_objects,
    load_volume,
    read_one,
)
from dicompress_renderer.volume import Volume
from dicompress_renderer.volume_cache import SeriesContent, VolumeCache
from dicompress_schemas import (
    EventBase,
    ImageRendered,
    JobCompleted,
    JobFailed,
    JobStarted,
    ProductRequested,
    TerminalEvent,
    new_event_id,
)
from dicompress_schemas.attempts import (
    Attempt,
    job_attempts_folder,
    job_ceiling,
    terminal_seq,
)
from dicompress_schemas.products import (
    MIN_PRODUCT_IMAGES,
    SnapshotParams,
    ThumbnailView,
    image_key,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

log = logging.getLogger(__name__)

Emit = Callable[[EventBase], Awaitable[None]]
_REASON_MAX = 1000
_CONTENT_TYPES = {"png": "image/png", "webp": "image/webp"}


@dataclass(frozen=True)
class RenderRunner:
    """Runs products with the adapters it was built with (the composition root is `service`).

    `allowed_buckets` None lets any bucket through (unit tests); the service always sets it.
    `render_pool` runs vtk (a one-process pool, so a crash there is not ours); None renders in
    a thread of this process. `volumes` keeps the last series read for the next product of the
    same series; by default none (the service sizes it from its settings). `get_object` reads
    the series' objects; None reads them through `client` (the service passes obstore's).
    """

    client: S3Client
    emit: Emit
    worker: str
    allowed_buckets: frozenset[str] | None = None
    read_threads: int = 8
    render_pool: Executor | None = None
    volumes: VolumeCache = field(default_factory=VolumeCache)
    get_object: GetObject | None = None

    @property
    def get(self) -> GetObject:
        return self.get_object or boto3_get(self.client)

    async def run(self, request: ProductRequested) -> TerminalEvent:
        """Make the product; return its terminal event, already emitted. Only a failure to
        emit propagates (the caller must then not commit the request)."""
        return await _Job(self, request).run()


class _Job:
    """One run of one product."""

    def __init__(self, runner: RenderRunner, request: ProductRequested) -> None:
        self.runner = runner
        self.request = request
        self.next_seq = 1
        self.attempt = Attempt(1)  # which run this is, and its floor, once registered
        self.started = time.perf_counter()
        self.cpu_started = sum(psutil.Process().cpu_times()[:2])
        self.extra: dict[str, Any] = {"job_id": str(request.job_id), "tenant": request.tenant}
        self.download_ms = self.encode_ms = self.upload_ms = 0.0
        self.bytes_out = 0

    def envelope(self, seq: int) -> dict[str, Any]:
        job_id = self.request.job_id
        return {
            "event_id": new_event_id(job_id, seq),  # attempt 1 always: a re-run's ids match
            "job_id": job_id,
            "seq": seq,
            "attempt": self.attempt.number,
            "tenant": self.request.tenant,
        }

    async def send(self, event: EventBase) -> None:
        self.next_seq = event.seq + 1
        await self.runner.emit(event)

    async def run(self) -> TerminalEvent:
        try:
            terminal: TerminalEvent = await self._run()
        except RenderAborted as exc:
            terminal = self._failed(exc.error_code, exc.reason)
        except Exception as exc:  # anything unexpected still closes the job, with its cause
            log.exception("product failed unexpectedly", extra=self.extra)
            terminal = self._failed(
                "internal", f"internal error: {type(exc).__name__}: {exc}; request it again"
            )
        await self.send(terminal)
        log.info("product finished", extra={**self.extra, "event_type": terminal.type})
        return terminal

    def _failed(self, error_code: str, reason: str) -> JobFailed:
        seq = terminal_seq(self.next_seq, self.attempt.floor)
        return JobFailed(**self.envelope(seq), error_code=error_code, reason=reason[:_REASON_MAX])

    async def _run(self) -> JobCompleted:
        params = self.request.params
        if not isinstance(params, SnapshotParams) and params.kind != "thumbnails":
            raise RenderAborted("wrong-service", f"the renderer does not make {params.kind}s")
        source, target = self._locations()
        items = plan(params)
        request = self.request
        self.attempt = await asyncio.to_thread(
            register_attempt,
            self.runner.client,
            target.bucket,
            job_attempts_folder(request.tenant, request.job_id),
            self.runner.worker,
            job_ceiling(len(items)),
        )
        hint = None if isinstance(params, SnapshotParams) else self.request.key_instance_uid
        # The key image's object is read while the series is listed (both are needed before
        # the first image: JobStarted, with the series' size, comes first).
        listed, first = await asyncio.gather(
            asyncio.to_thread(list_objects, self.runner.client, source.bucket, source.prefix),
            self._read_key(source, hint),
        )
        _enough(len(listed), params)
        await self.send(
            JobStarted(
                **self.envelope(1),
                total_slices=len(items),
                total_bytes=sum(o.size for o in listed),
                worker=self.runner.worker,
            )
        )
        key = key_slice(first.image) if first is not None else None
        done = 0
        if key is not None:
            # The key images first, from the one slice already read: the first picture of
            # the series is visible before the rest of it is read (KEY items lead the plan).
            maker = ThumbnailMaker(None, key)
            while done < len(items) and items[done].view is ThumbnailView.KEY:
                made = await asyncio.to_thread(maker.make, items[done])
                self.encode_ms += made.render_ms
                await self._store(target, done, len(items), items[done], made)
                done += 1
        volume = await self._load(source, listed, params, first)
        # Snapshots are rendered together (one trip to the vtk process, which builds the
        # volume's gradients once); thumbnails one at a time, each stored and announced as soon
        # as it is made, so the first is visible while the others are still being made.
        rendered = (
            await make_snapshots(volume, params, self.runner.render_pool)
            if isinstance(params, SnapshotParams)
            else None
        )
        maker = ThumbnailMaker(
            volume, key if key is not None else key_slice_of_volume(volume, hint)
        )
        for index in range(done, len(items)):
            item = items[index]
            made = (
                rendered[index]
                if rendered is not None
                else await asyncio.to_thread(maker.make, item)
            )
            self.encode_ms += made.render_ms
            await self._store(target, index, len(items), item, made)
        cpu_s = max(0.0, sum(psutil.Process().cpu_times()[:2]) - self.cpu_started)
        return JobCompleted(
            **self.envelope(2 + len(items)),
            slices_encoded=len(items),
            slices_failed=0,
            bytes_in=volume.bytes_in,
            bytes_out=self.bytes_out,
            ratio=0.0,
            artifact_uri=str(target),
            artifact_bytes=self.bytes_out,
            download_ms=self.download_ms,
            encode_ms=self.encode_ms,
            upload_ms=self.upload_ms,
            wall_ms=(time.perf_counter() - self.started) * 1000,
            cpu_s=cpu_s,
            peak_rss_bytes=_peak_rss_bytes(),
        )

    async def _read_key(self, source: S3Uri, hint: str | None) -> ReadImage | None:
        """The key image's object, read and decoded; None without a hint, or when it cannot be
        read or used (the whole series is then read as without the hint, and any error in it
        reported from there)."""
        if hint is None:
            return None
        key = f"{source.prefix}{hint}.dcm"
        started = time.perf_counter()
        try:
            first = await asyncio.to_thread(read_one, self.runner.get, source.bucket, key, 1)
        except Exception as exc:  # a missing object (boto3's ClientError), an unusable image
            log.info(
                "key image not read first",
                extra={**self.extra, "key": key, "reason": f"{type(exc).__name__}: {exc}"},
            )
            return None
        self.download_ms += (time.perf_counter() - started) * 1000
        return first

    async def _load(
        self,
        source: S3Uri,
        objects: list[SourceObject],
        params: Any,
        first: ReadImage | None,
    ) -> Volume:
        """The series' volume at the product's binning: from memory when this renderer read
        these very objects last (`volume_cache`; the snapshot after the thumbnails), else read
        from S3, and kept when read whole. Either way its time is the run's download phase."""
        bin_xy = params.bin_xy if isinstance(params, SnapshotParams) else 1
        cache = self.runner.volumes
        content = SeriesContent.of(source, self.request.source_version, objects)
        started = time.perf_counter()
        kept = cache.get(content)
        volume = None if kept is None else await asyncio.to_thread(binned_volume, kept, bin_xy)
        from_memory = volume is not None
        if volume is None:
            if bin_xy == 1:
                cache.make_room()
            volume = await asyncio.to_thread(
                load_volume,
                self.runner.get,
                source.bucket,
                objects,
                bin_xy,
                self.runner.read_threads,
                first,
            )
            if bin_xy == 1:
                cache.put(content, volume)
        self.download_ms += (time.perf_counter() - started) * 1000
        _enough(len(volume.positions), params, images=True)
        log.info(
            "series loaded",
            extra={
                **self.extra,
                "images": len(volume.positions),
                "ms": self.download_ms,
                "from_memory": from_memory,
            },
        )
        return volume

    async def _store(self, target: S3Uri, index: int, total: int, item: Item, made: Made) -> None:
        key = image_key(target.prefix, item.view, item.preset, item.size, item.format)
        started = time.perf_counter()
        await asyncio.to_thread(
            self.runner.client.put_object,
            Bucket=target.bucket,
            Key=key,
            Body=made.image.data,
            ContentType=_CONTENT_TYPES[item.format.value],
        )
        self.upload_ms += (time.perf_counter() - started) * 1000
        self.bytes_out += len(made.image.data)
        await self.send(
            ImageRendered(
                **self.envelope(2 + index),
                item_index=index,
                total_items=total,
                view=item.view,
                preset=item.preset,
                window_center=made.window.center if made.window else None,
                window_width=made.window.width if made.window else None,
                size=item.size,
                width=made.image.width,
                height=made.image.height,
                format=item.format,
                key=key,
                bytes=len(made.image.data),
                render_ms=made.render_ms,
                fallback=made.fallback[:500] if made.fallback else None,
            )
        )

    def _locations(self) -> tuple[S3Uri, S3Uri]:
        """Source and target, validated: allowed buckets, under the tenant's own prefix."""
        request, allowed = self.request, self.runner.allowed_buckets
        try:
            source, target = request_locations(
                request.source_uri, request.target_uri, allowed, "RENDERER_ALLOWED_BUCKETS"
            )
        except LocationRefused as exc:
            raise RenderAborted(exc.error_code, exc.reason) from exc
        for uri in (source, target):
            if not uri.prefix.startswith(f"{request.tenant}/"):
                raise RenderAborted(
                    "not-allowed",
                    f"{uri} is outside this clinic's storage ({request.tenant}/): request the "
                    "product again through the API",
                )
        return source, target


def _enough(count: int, params: Any, images: bool = False) -> None:
    """Refuse a series too small to be a volume, in words."""
    if count >= MIN_PRODUCT_IMAGES:
        return
    what = "a 3D view" if isinstance(params, SnapshotParams) else "reformatted thumbnails"
    if count == 0:
        raise RenderAborted(
            "source-empty",
            "the series has no images in storage (deleted, or never stored): upload it again",
        )
    noun = "image" if count == 1 else "images"
    found = noun if images else f"stored {noun}"
    raise RenderAborted(
        "too-few-images",
        f"this series has {count} {found}; {what} needs at least {MIN_PRODUCT_IMAGES}",
    )


def _peak_rss_bytes() -> int:
    """Peak resident memory of this process (and of its largest child, the vtk process),
    since it started: ru_maxrss is in KiB on Linux."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, child) * 1024
