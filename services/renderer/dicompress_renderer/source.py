"""The series under a product's source prefix: list its instances, read them into a Volume.

GETs run in a small thread pool (S3 waits overlap, and pydicom's decoders and numpy release the
GIL for much of their work); each instance is decoded, rescaled and binned as soon as it
arrives, and only its pixels are kept (see `volume`). A GET is a `GetObject`: boto3's
(`boto3_get`, the unit tests' fake S3) or obstore's (`obstore_get`, the service's): 399 GETs of
a series took 0.55 s of client CPU through boto3 and 0.17 s through obstore, whose Rust client
holds no GIL while it waits or copies.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

import obstore

from dicompress_infra.s3 import ObstoreBuckets
from dicompress_renderer.instances import read_image
from dicompress_renderer.volume import SliceImage, Volume, VolumeBuilder

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


GetObject = Callable[[str, str], bytes]  # (bucket, key) -> the object's bytes


def boto3_get(client: S3Client) -> GetObject:
    """GETs through a boto3 client."""

    def get(bucket: str, key: str) -> bytes:
        return client.get_object(Bucket=bucket, Key=key)["Body"].read()

    return get


def obstore_get(buckets: ObstoreBuckets) -> GetObject:
    """GETs through obstore (one client per bucket); a missing object raises its
    FileNotFoundError."""

    def get(bucket: str, key: str) -> bytes:
        return bytes(obstore.get(buckets(bucket), key).bytes())

    return get


@dataclass(frozen=True)
class SourceObject:
    key: str
    size: int
    etag: str = ""  # what S3 says of its content: a replaced object gets another


def list_objects(client: S3Client, bucket: str, prefix: str) -> list[SourceObject]:
    """Every object under `prefix`, in key order."""
    found: list[SourceObject] = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        found.extend(
            SourceObject(o["Key"], o["Size"], o.get("ETag", "")) for o in page.get("Contents", [])
        )
    return sorted(found, key=lambda o: o.key)


@dataclass(frozen=True)
class ReadImage:
    """One object already read and decoded (the key image, read first)."""

    key: str
    size: int
    image: SliceImage


def read_one(get: GetObject, bucket: str, key: str, bin_xy: int) -> ReadImage | None:
    """The image stored at `key`; None when the object holds no image of a volume. Raises
    what `get` raises for a missing object and RenderAborted for an unusable image."""
    data = get(bucket, key)
    image = read_image(data, bin_xy, key.rsplit("/", 1)[-1])
    return ReadImage(key, len(data), image) if image is not None else None


def load_volume(
    get: GetObject,
    bucket: str,
    objects: list[SourceObject],
    bin_xy: int,
    threads: int,
    already: ReadImage | None = None,
) -> Volume:
    """The series' images as one volume (objects that are no image are left out). `already`
    (read at the same binning) is taken as it is, not read again."""
    builder = VolumeBuilder(expected=len(objects))
    if already is not None and any(o.key == already.key for o in objects):
        builder.bytes_in += already.size
        builder.add(already.image)
        objects = [o for o in objects if o.key != already.key]

    def read(item: SourceObject) -> tuple[int, SliceImage | None]:
        data = get(bucket, item.key)
        return len(data), read_image(data, bin_xy, item.key.rsplit("/", 1)[-1])

    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="render-read") as pool:
        for size, image in pool.map(read, objects):
            builder.bytes_in += size
            if image is not None:
                builder.add(image)
    return builder.build()
