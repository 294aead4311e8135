"""Products: what is made from a received series so that a viewer can show it at once.

A product is a job on the job event log, like a compression: `ProductRequested` is its seq 0
(instead of `CompressionRequested`), then `JobStarted`, one event per item made and a terminal
`JobCompleted` / `JobFailed` / `JobCancelled`, so progress, the notifier and SSE follow it as
they follow any job. The items are:

- `preview`: a derived DICOM series, binned and encoded lossy (one `SliceEncoded` per slice of
  the preview series, stored at `preview_slice_key`); made by the compressor.
- `thumbnails`: key image, coronal and sagittal reformats, windowed, as PNG/WebP
  (`ImageRendered`); made by the renderer.
- `snapshot`: a frontal volume rendering with CT presets (`ImageRendered`); made by the renderer.
- `mini-ct`: a region of a series (slice range, pixel box, downsampling) as a derived series or
  one multi-frame object (one `SliceEncoded` per slice or frame); made by the compressor, only
  when a user asks.

A product is identified by what it is made of: the hash of its parameters and of its source's
version (`product_key`). Its job id and its S3 prefix derive from that key, so asking twice for
the same product (the process manager on upload, then a user) names one job and one prefix:
never duplicate work.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Final, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, model_validator

from dicompress_schemas.envelope import Codec, DicomUid, EventBase, S3Uri, new_event_id, utc_now
from dicompress_schemas.topics import Topics

_PRODUCT_NAMESPACE = uuid.UUID("5f0c2a6e-8b1d-4e3f-9c7a-2d4b6e8f0a13")


class ProductKind(StrEnum):
    PREVIEW = "preview"
    THUMBNAILS = "thumbnails"
    SNAPSHOT = "snapshot"
    MINI_CT = "mini-ct"  # a region of a series, asked for by a user (never made on upload)


# What the process manager makes on upload when the tenant's policy says nothing else, and for
# which series: CT (a CBCT is stored with Modality CT too).
DEFAULT_PRODUCTS: Final = (ProductKind.PREVIEW, ProductKind.THUMBNAILS, ProductKind.SNAPSHOT)
PRODUCT_MODALITIES: Final = frozenset({"CT"})
# A "series" of fewer images is no volume: no reformat, no rendering, no binned preview of it.
MIN_PRODUCT_IMAGES: Final = 3

Binning = Literal[1, 2, 4]
Size = Annotated[int, Field(ge=32, le=1024)]


class Window(StrEnum):
    """How a thumbnail maps stored values to grey: `default` is the series' own window, or an
    automatic one from the histogram when it has none (a CBCT without calibrated HU)."""

    DEFAULT = "default"
    AUTO = "auto"
    SOFT_TISSUE = "soft-tissue"
    BONE = "bone"
    LUNG = "lung"


# (center, width) in Hounsfield units, as radiology teaching gives them (W 400 L 40 and so on).
WINDOW_PRESETS: Final[dict[Window, tuple[float, float]]] = {
    Window.SOFT_TISSUE: (40.0, 400.0),
    Window.BONE: (400.0, 1800.0),
    Window.LUNG: (-600.0, 1500.0),
}


class RenderPreset(StrEnum):
    """The volume-rendering presets of 3D Slicer / cornerstone3D (`CT-Bone`, `CT-Soft-Tissue`)."""

    BONE = "bone"
    SOFT_TISSUE = "soft-tissue"


class ImageFormat(StrEnum):
    PNG = "png"
    WEBP = "webp"


class ThumbnailView(StrEnum):
    KEY = "key"  # the axial slice in the middle of the series, by position
    CORONAL = "coronal"
    SAGITTAL = "sagittal"
    ANTERIOR = "anterior"  # the 3D snapshot's point of view: from the front


class _Params(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PreviewParams(_Params):
    """A derived series binned `bin_xy` x `bin_xy` in-plane and `bin_z` along the slices,
    encoded lossy at `rate` (pixel bytes / codestream bytes, as for a compression).

    HTJ2K by default: a preview is for the viewer, whose OpenJPEG (2.5) decodes it, and a slice
    costs about half the CPU of a JPEG 2000 one (the encode itself ~10x less) at the same size
    and ~0.3 dB less PSNR; ask for j2k-lossy for a reader that knows only JPEG 2000 Part 1."""

    kind: Literal["preview"] = "preview"
    bin_xy: Binning = 2
    bin_z: Binning = 1
    codec: Literal[Codec.J2K_LOSSY, Codec.HTJ2K_LOSSY] = Codec.HTJ2K_LOSSY
    rate: float = Field(default=10.0, gt=1, le=1000)


class ThumbnailParams(_Params):
    """Key image, coronal and sagittal reformats, each window at each size and format."""

    kind: Literal["thumbnails"] = "thumbnails"
    sizes: tuple[Size, ...] = Field(default=(256, 512), min_length=1, max_length=4)
    formats: tuple[ImageFormat, ...] = Field(
        default=(ImageFormat.PNG, ImageFormat.WEBP), min_length=1, max_length=2
    )
    windows: tuple[Window, ...] = Field(
        default=(Window.DEFAULT, Window.BONE), min_length=1, max_length=5
    )


class SnapshotParams(_Params):
    """Frontal volume renderings of the series binned `bin_xy` in-plane, one per preset and
    size (PNG)."""

    kind: Literal["snapshot"] = "snapshot"
    presets: tuple[RenderPreset, ...] = Field(
        default=(RenderPreset.BONE, RenderPreset.SOFT_TISSUE), min_length=1, max_length=2
    )
    sizes: tuple[Annotated[int, Field(ge=128, le=1024)], ...] = Field(
        default=(256, 512), min_length=1, max_length=4
    )
    bin_xy: Binning = 2


class MiniCtFormat(StrEnum):
    SERIES = "series"  # one single-frame object per slice, as the source
    MULTIFRAME = "multiframe"  # one Legacy Converted Enhanced CT object


class RoiBox(_Params):
    """A pixel box of the source's slices: rows `row`..`row + rows - 1`, same for columns."""

    row: int = Field(ge=0)
    column: int = Field(ge=0)
    rows: int = Field(ge=1)
    columns: int = Field(ge=1)


class MiniCtParams(_Params):
    """A region of one series: slices `z_start`..`z_end` (indexes in anatomical order, both
    included), cropped to `roi` (None: whole slices), downsampled `downsample` x `downsample`
    in-plane (block means, like the preview), as a series or one multi-frame object, lossless by
    default or lossy at `rate`. Millimetre requests are turned into these indexes by the API, so
    one region has one identity however it was asked for."""

    kind: Literal["mini-ct"] = "mini-ct"
    z_start: int = Field(ge=0)
    z_end: int = Field(ge=0)
    roi: RoiBox | None = None
    downsample: Binning = 1
    format: MiniCtFormat = MiniCtFormat.SERIES
    codec: Codec = Codec.J2K_LOSSLESS
    rate: float | None = Field(default=None, gt=1, le=1000)

    @model_validator(mode="after")
    def _consistent(self) -> MiniCtParams:
        if self.z_end < self.z_start:
            raise ValueError(f"z_end {self.z_end} is before z_start {self.z_start}")
        if self.codec.lossless and self.rate is not None:
            raise ValueError(f"codec {self.codec.value} is lossless: give no rate")
        if not self.codec.lossless and self.rate is None:
            raise ValueError(f"codec {self.codec.value} is lossy: a rate is required")
        return self


ProductParams = Annotated[
    PreviewParams | ThumbnailParams | SnapshotParams | MiniCtParams, Field(discriminator="kind")
]

# The products a policy may name for uploads, with the parameters they are made with then.
DEFAULT_PARAMS: Final[dict[ProductKind, ProductParams]] = {
    ProductKind.PREVIEW: PreviewParams(),
    ProductKind.THUMBNAILS: ThumbnailParams(),
    ProductKind.SNAPSHOT: SnapshotParams(),
}


class ProductRequested(EventBase):
    """A product of one series was asked for: by the process manager when the study was
    received (`trigger` upload) or by a user (`trigger` request)."""

    type: Literal["ProductRequested"] = "ProductRequested"
    version: Literal[1] = 1
    params: ProductParams
    study_instance_uid: DicomUid
    series_instance_uid: DicomUid
    source_uri: S3Uri = Field(description="S3 prefix of the series' instances")
    target_uri: S3Uri = Field(description="S3 prefix of this product (its key's own folder)")
    source_version: str = Field(
        pattern=r"^[0-9a-f]{64}$", description="series_version() of the instances it is made of"
    )
    product_key: str = Field(pattern=r"^[0-9a-f]{32}$", description="product_key(): its identity")
    trigger: Literal["upload", "request"] = "request"
    ingest_id: uuid.UUID | None = Field(default=None, description="The upload that triggered it")
    key_instance_uid: DicomUid | None = Field(
        default=None,
        description="The series' middle image by position (key_instance()), from the study "
        "index: lets the renderer make the key image before it has read the whole series. A "
        "hint, not part of the product's identity",
    )

    @property
    def kind(self) -> ProductKind:
        return ProductKind(self.params.kind)


class ImageRendered(EventBase):
    """One image of a thumbnails or snapshot product is stored at `key`, readable now."""

    type: Literal["ImageRendered"] = "ImageRendered"
    version: Literal[1] = 1
    item_index: int = Field(ge=0)
    total_items: int = Field(ge=1)
    view: ThumbnailView
    preset: str = Field(max_length=32, description="The Window or RenderPreset applied")
    window_center: float | None = Field(default=None, description="Applied, modality units")
    window_width: float | None = Field(default=None, gt=0)
    size: int = Field(ge=1, description="The long side asked for, px")
    width: int = Field(ge=1)
    height: int = Field(ge=1)
    format: ImageFormat
    key: str = Field(description="S3 key of the image, in the product's bucket")
    bytes: int = Field(ge=0)
    render_ms: float = Field(ge=0)
    fallback: str | None = Field(
        default=None,
        max_length=500,
        description="Set when the image is not what was asked for and why (e.g. a maximum "
        "intensity projection because volume rendering was not available)",
    )


def makes_products(modality: str | None, images: int) -> bool:
    """Whether a received series gets products on upload: a CT volume of enough images."""
    return modality in PRODUCT_MODALITIES and images >= MIN_PRODUCT_IMAGES


def key_instance(positions: Iterable[tuple[str, float | None]]) -> str | None:
    """The key image of a series: of its (SOP Instance UID, position along the normal) pairs,
    the one nearest the middle of the positions' range (the lower UID on a tie); None when no
    image has a position."""
    placed = [(uid, pos) for uid, pos in positions if pos is not None]
    if not placed:
        return None
    low, high = min(p for _, p in placed), max(p for _, p in placed)
    middle = (low + high) / 2.0
    return min(placed, key=lambda item: (abs(item[1] - middle), item[0]))[0]


def request_key(request: ProductRequested) -> bytes:
    """Kafka key of a product's request: its series, so the requests of one series reach one
    worker in the order they were published (the process manager publishes the thumbnails
    before the 3D snapshot: the first picture of a study is not queued behind its slowest)."""
    return f"{request.tenant}/{request.study_instance_uid}/{request.series_instance_uid}".encode()


def series_version(instances: Iterable[tuple[str, str]]) -> str:
    """The version of a series: SHA-256 of its (SOP Instance UID, content SHA-256) pairs in
    UID order. The same instances give the same version whatever order they came in."""
    digest = hashlib.sha256()
    for sop_uid, content in sorted(instances):
        digest.update(f"{sop_uid}:{content}\n".encode())
    return digest.hexdigest()


def product_key(
    tenant: str, study_uid: str, series_uid: str, source_version: str, params: ProductParams
) -> str:
    """What identifies a product: the hash of everything it is made from and with."""
    identity = {
        "tenant": tenant,
        "study": study_uid,
        "series": series_uid,
        "source": source_version,
        "params": params.model_dump(mode="json"),
    }
    return hashlib.sha256(orjson.dumps(identity, option=orjson.OPT_SORT_KEYS)).hexdigest()[:32]


def product_job_id(key: str) -> uuid.UUID:
    return uuid.uuid5(_PRODUCT_NAMESPACE, key)


def product_prefix(
    tenant: str, study_uid: str, series_uid: str, kind: ProductKind, key: str
) -> str:
    """Under the tenant's prefix, beside the study's instances."""
    return f"{tenant}/products/{study_uid}/{series_uid}/{kind.value}-{key[:16]}/"


def preview_slice_key(prefix: str, index: int) -> str:
    """Slice `index` (anatomical order) of a preview series."""
    return f"{prefix}{index:05d}.dcm"


def image_key(prefix: str, view: ThumbnailView, preset: str, size: int, fmt: ImageFormat) -> str:
    return f"{prefix}{view.value}-{preset}-{size}.{fmt.value}"


# Made by the compressor (encoded DICOM series); the renderer makes the images.
COMPRESSOR_PRODUCTS: Final = frozenset({ProductKind.PREVIEW, ProductKind.MINI_CT})


def request_topic(kind: ProductKind, topics: Topics) -> str:
    """Where a product's request goes: the compressor makes DICOM products, in its
    interactive lane (someone is waiting to look at them), the renderer images."""
    return topics.interactive if kind in COMPRESSOR_PRODUCTS else topics.render_requests


def product_request(
    *,
    tenant: str,
    bucket: str,
    study_uid: str,
    series_uid: str,
    source_version: str,
    params: ProductParams,
    trigger: Literal["upload", "request"],
    ingest_id: uuid.UUID | None = None,
    occurred_at: datetime | None = None,
    key_instance_uid: str | None = None,
) -> ProductRequested:
    """The request for one product, with its identity derived from what it is made of."""
    key = product_key(tenant, study_uid, series_uid, source_version, params)
    job_id = product_job_id(key)
    kind = ProductKind(params.kind)
    source = f"{tenant}/studies/{study_uid}/{series_uid}/"
    return ProductRequested(
        event_id=new_event_id(job_id, 0),
        job_id=job_id,
        tenant=tenant,
        seq=0,
        occurred_at=occurred_at or utc_now(),
        params=params,
        study_instance_uid=study_uid,
        series_instance_uid=series_uid,
        source_uri=f"s3://{bucket}/{source}",
        target_uri=f"s3://{bucket}/{product_prefix(tenant, study_uid, series_uid, kind, key)}",
        source_version=source_version,
        product_key=key,
        trigger=trigger,
        ingest_id=ingest_id,
        key_instance_uid=key_instance_uid,
    )
