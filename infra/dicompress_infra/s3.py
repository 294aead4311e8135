"""S3 plumbing: URIs, a boto3 client built from settings (boto3 is sync: call it in threads), and
an obstore (Rust object_store) client for the requests made once per object."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

import boto3
from botocore.config import Config
from obstore.store import S3Store

from dicompress_schemas.envelope import BUCKET_PATTERN

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from obstore.store import S3Config

    from dicompress_infra.settings import CommonSettings

# The contract's bucket rule; `fullmatch` with DOTALL, so a trailing newline is part of the key
# (and refused there), never silently dropped as `$` would.
_URI = re.compile(rf"s3://(?P<bucket>{BUCKET_PATTERN})(?:/(?P<key>.*))?", re.DOTALL)


class S3UriError(ValueError):
    """An S3 URI that is malformed or tries to escape its prefix."""


@dataclass(frozen=True)
class S3Uri:
    """`s3://bucket/key-or-prefix`, with no '..', '.' or empty segments and no control chars.

    Narrower than the contract's `S3Uri` (it also refuses those segments), never wider.
    """

    bucket: str
    key: str

    @classmethod
    def parse(cls, uri: str) -> S3Uri:
        match = _URI.fullmatch(uri)
        if match is None:
            raise S3UriError(f"{uri!r} is not of the form s3://bucket/prefix")
        key = match["key"] or ""
        # the contract's S3Uri refuses these too: whatever parses here is a valid event field
        if any(ord(c) < 32 or c in "\x7f\\" for c in key):
            raise S3UriError(f"{uri!r} has control characters or backslashes")
        segments = key.rstrip("/").split("/") if key.rstrip("/") else []
        if any(s in ("", ".", "..") for s in segments):
            raise S3UriError(f"{uri!r} has empty, '.' or '..' path segments")
        return cls(match["bucket"], key)

    @property
    def prefix(self) -> str:
        """The key as a folder prefix: '' or ending with '/'."""
        return self.key if not self.key or self.key.endswith("/") else self.key + "/"

    def child(self, name: str) -> S3Uri:
        return S3Uri(self.bucket, self.prefix + name)

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


class LocationRefused(ValueError):
    """A request's source or target this service will not use; `error_code` and `reason`
    (what to do, in words) are what the service's JobFailed carries."""

    def __init__(self, error_code: str, reason: str) -> None:
        super().__init__(reason)
        self.error_code = error_code
        self.reason = reason


def request_locations(
    source_uri: str, target_uri: str, allowed: frozenset[str] | None, settings_to_ask: str
) -> tuple[S3Uri, S3Uri]:
    """A worker's source and target parsed (no '..' escapes) and in an allowed bucket (None:
    any). `settings_to_ask` names the setting(s) an operator adds a bucket to.
    Raises LocationRefused ('invalid-uri' or 'bucket-not-allowed')."""
    try:
        source, target = S3Uri.parse(source_uri), S3Uri.parse(target_uri)
    except S3UriError as exc:
        raise LocationRefused("invalid-uri", f"{exc}; fix the request and send it again") from exc
    for uri in (source, target):
        if allowed is not None and uri.bucket not in allowed:
            raise LocationRefused(
                "bucket-not-allowed",
                f"bucket {uri.bucket!r} is not one this service may use ({sorted(allowed)}): "
                f"use one of those, or ask the operator to add it to {settings_to_ask}",
            )
    return source, target


def make_s3_client(settings: CommonSettings) -> S3Client:
    """A thread-safe boto3 S3 client with bounded retries and path-style addressing.

    Checksums only where an operation requires one: since 1.36 boto3 sends a CRC header with
    every upload by default, which S3-compatible servers that predate those headers refuse with
    501 NotImplemented (S3Proxy 2.6 does unless told to ignore unknown headers), and the CRC
    costs CPU on every slice. Over plain HTTP, SigV4 still signs a hash of each payload.
    """
    client: S3Client = boto3.client(
        "s3",
        endpoint_url=settings.s3_endpoint_url,
        region_name=settings.s3_region,
        aws_access_key_id=settings.aws_access_key_id,
        aws_secret_access_key=settings.aws_secret_access_key.get_secret_value(),
        config=Config(
            # 10 tries with exponential backoff: enough to outlast an S3 restart (~3 s of
            # refused connections), which 5 often were not
            retries={"max_attempts": 10, "mode": "standard"},
            s3={"addressing_style": "path"},
            signature_version="s3v4",  # presigned URLs in SigV2 are refused by AWS S3
            max_pool_connections=16,
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        ),
    )
    return client


class ObstoreBuckets:
    """One `obstore_bucket` client per bucket, made on first use and kept."""

    def __init__(self, settings: CommonSettings) -> None:
        self._settings = settings
        self._stores: dict[str, S3Store] = {}

    def __call__(self, bucket: str) -> S3Store:
        store = self._stores.get(bucket)
        if store is None:
            store = self._stores[bucket] = obstore_bucket(self._settings, bucket)
        return store


def obstore_bucket(settings: CommonSettings, bucket: str) -> S3Store:
    """An obstore client for one bucket, configured as `make_s3_client` configures boto3's."""
    endpoint = settings.s3_endpoint_url
    config: S3Config = {
        # The payload is not hashed into the signature (as AWS's SDKs do over HTTPS): hashing
        # 0.5 MB costs the client little but S3Proxy ~20 ms of CPU per PUT (its JIT has no
        # SHA-256 intrinsic); measured on the embedded S3, 100 PUTs of 512 KiB took 21 ms each
        # signed and 4.4 ms unsigned. Headers, key and query stay signed.
        "unsigned_payload": True,
        "region": settings.s3_region,
        "access_key_id": settings.aws_access_key_id,
        "secret_access_key": settings.aws_secret_access_key.get_secret_value(),
        "virtual_hosted_style_request": False,
    }
    if endpoint:
        config["endpoint"] = endpoint
    return S3Store(
        bucket,
        config=config,
        client_options={
            "allow_http": bool(endpoint and endpoint.startswith("http://")),
            "connect_timeout": timedelta(seconds=5),
            "timeout": timedelta(seconds=60),
        },
        # A restarted S3 refuses connections for a few seconds (S3Proxy: ~3 s): at least 1 s
        # between tries, doubling to 8 s, so a slice in flight outlasts it rather than fail.
        retry_config={
            "max_retries": 10,
            "retry_timeout": timedelta(seconds=120),
            "backoff": {
                "init_backoff": timedelta(seconds=1),
                "max_backoff": timedelta(seconds=8),
                "base": 2,
            },
        },
    )
