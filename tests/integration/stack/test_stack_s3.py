"""The embedded S3 (S3Proxy) keeps its objects across a restart, and refuses every request
whose signature does not hold: a tenant's presigned URL cannot be bent to another tenant's
key, and nothing unsigned reads, writes or lists. It also does what the services ask of it
(user metadata, ranges, multipart, presigned PUT, obstore's requests)."""

from __future__ import annotations

import asyncio
import secrets
import shutil
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from dicompress_compressor.storage import FastS3ObjectStore
from dicompress_infra.s3 import S3Uri, make_s3_client
from dicompress_infra.settings import CommonSettings
from dicompress_stack import s3
from dicompress_stack.config import S3_ACCESS_KEY, S3_SECRET_KEY
from dicompress_stack.net import free_port
from dicompress_stack.testing import s3_client

pytestmark = pytest.mark.integration


def status_of(url: str, method: str = "GET", data: bytes | None = None) -> int:
    """The HTTP status a plain (unsigned unless the URL is presigned) request gets."""
    request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 (test URLs)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return int(response.status)
    except urllib.error.HTTPError as exc:
        exc.close()
        return int(exc.code)


def exists(client: Any, bucket: str, key: str) -> bool:
    return bool(client.list_objects_v2(Bucket=bucket, Prefix=key).get("KeyCount", 0))


def test_a_presigned_url_edited_to_another_tenants_key_is_refused(
    test_env: dict[str, str],
) -> None:
    client = s3_client(test_env)
    bucket = test_env["S3_BUCKET"]
    client.put_object(Bucket=bucket, Key="acme/scan/00001.dcm", Body=b"acme's slice")
    client.put_object(Bucket=bucket, Key="globex/scan/00001.dcm", Body=b"globex's slice")

    get = client.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "acme/scan/00001.dcm"}, ExpiresIn=300
    )
    with urllib.request.urlopen(get, timeout=10) as response:  # noqa: S310 (our S3)
        assert response.read() == b"acme's slice"
    assert status_of(get.replace("/acme/", "/globex/")) == 403

    put = client.generate_presigned_url(
        "put_object", Params={"Bucket": bucket, "Key": "acme/upload.zip"}, ExpiresIn=300
    )
    assert status_of(put.replace("/acme/", "/globex/"), "PUT", b"planted") == 403
    assert not exists(client, bucket, "globex/upload.zip")
    assert status_of(put, "PUT", b"the upload") == 200
    assert client.get_object(Bucket=bucket, Key="acme/upload.zip")["Body"].read() == b"the upload"


def test_forged_and_unsigned_requests_are_refused(test_env: dict[str, str]) -> None:
    client = s3_client(test_env)
    bucket = test_env["S3_BUCKET"]
    client.put_object(Bucket=bucket, Key="acme/secret.dcm", Body=b"x")
    endpoint = test_env["S3_ENDPOINT_URL"]

    url = client.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "acme/secret.dcm"}, ExpiresIn=300
    )
    parts = urllib.parse.urlsplit(url)
    query = dict(urllib.parse.parse_qsl(parts.query))
    query["X-Amz-Signature"] = secrets.token_hex(32)  # a signature made up from scratch
    forged = parts._replace(query=urllib.parse.urlencode(query)).geturl()
    assert status_of(forged) == 403
    wrong_key = make_s3_client(
        CommonSettings(
            s3_endpoint_url=endpoint,
            aws_access_key_id=test_env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key="not-the-secret",
        )
    )
    signed_wrongly = wrong_key.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "acme/secret.dcm"}, ExpiresIn=300
    )
    assert status_of(signed_wrongly) == 403

    assert status_of(f"{endpoint}/{bucket}/acme/secret.dcm") == 403
    assert status_of(f"{endpoint}/{bucket}?list-type=2") == 403  # no listing of every tenant
    assert status_of(f"{endpoint}/{bucket}") == 403
    assert status_of(f"{endpoint}/") == 403  # nor of the buckets
    assert status_of(f"{endpoint}/{bucket}/globex/planted.dcm", "PUT", b"planted") == 403
    assert status_of(f"{endpoint}/{bucket}/acme/secret.dcm", "DELETE") == 403
    assert not exists(client, bucket, "globex/planted.dcm")
    assert exists(client, bucket, "acme/secret.dcm")


async def test_it_does_what_the_services_ask(
    settings_for: Callable[..., Any], test_env: dict[str, str]
) -> None:
    settings: CommonSettings = settings_for(CommonSettings)
    client = make_s3_client(settings)
    bucket = test_env["S3_BUCKET"]
    store = FastS3ObjectStore(client, settings)
    metadata = {"source_key": "acme/in/1.dcm", "slice-index": "7", "psnr_db": "44.1"}

    slice_uri = S3Uri(bucket, "jobs/j1/slices/00007.dcm")
    await store.put_bytes(slice_uri, b"encoded slice", metadata)  # obstore's PUT
    assert await store.head_metadata(slice_uri) == metadata  # boto3's HEAD
    found = await store.get_with_metadata(slice_uri)  # obstore's GET, its metadata boto3's way
    assert found == (b"encoded slice", metadata)
    assert await store.get_with_metadata(S3Uri(bucket, "jobs/j1/slices/00008.dcm")) is None
    folder = S3Uri(bucket, "jobs/j1/slices/")
    listed = await store.list_objects(folder)
    assert [o.key for o in listed] == [slice_uri.key]
    assert await store.list_ours(folder) == listed  # obstore's listing
    assert await store.get_bytes(listed[0]) == b"encoded slice"  # obstore's GET

    zip_uri = S3Uri(bucket, "acme/out/series.zip")
    upload = await store.start_multipart(zip_uri, {"job_id": "j1"})
    pending = client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    assert [u["Key"] for u in pending] == [zip_uri.key]
    first, last = b"a" * (5 * 1024 * 1024), b"the end"
    etags = [
        await store.upload_part(zip_uri, upload, 1, first),
        await store.upload_part(zip_uri, upload, 2, last),
    ]
    await store.complete_multipart(zip_uri, upload, etags)
    head = client.head_object(Bucket=bucket, Key=zip_uri.key)
    assert (head["ContentLength"], head["Metadata"]) == (len(first) + len(last), {"job_id": "j1"})
    assert head["ContentType"] == "application/zip"
    tail = client.get_object(Bucket=bucket, Key=zip_uri.key, Range="bytes=-7")
    assert tail["Body"].read() == b"the end"
    assert tail["ResponseMetadata"]["HTTPStatusCode"] == 206

    # moto stored an empty body for a presigned PUT sent with a form content type
    put = client.generate_presigned_url(
        "put_object", Params={"Bucket": bucket, "Key": "acme/form.bin"}, ExpiresIn=300
    )
    request = urllib.request.Request(  # noqa: S310 (our S3)
        put,
        data=b"form body",
        method="PUT",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    await asyncio.to_thread(urllib.request.urlopen, request, timeout=10)
    assert client.get_object(Bucket=bucket, Key="acme/form.bin")["Body"].read() == b"form body"

    # an operation that always sends a checksum header (DeleteObjects) is not refused with 501
    deleted = client.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "acme/form.bin"}]})
    assert [d["Key"] for d in deleted.get("Deleted", [])] == ["acme/form.bin"]


@pytest.fixture
def s3_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="dicompress-s3-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_objects_and_pending_uploads_survive_a_restart(
    s3_dir: Path, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> None:
    cache = getattr(request.config, "cache", None)  # absent under -p no:cacheprovider
    classpath_cache = (
        cache.mkdir("dicompress-kafka-classpath")
        if cache is not None
        else tmp_path_factory.mktemp("classpath")
    )
    classpath = s3.resolve_classpath(classpath_cache)
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    began = time.monotonic()
    server = s3.start_s3(s3_dir, classpath, port, S3_ACCESS_KEY, S3_SECRET_KEY)
    print(f"\nS3Proxy answered {time.monotonic() - began:.1f} s after its start")
    try:
        s3.create_bucket(endpoint, S3_ACCESS_KEY, S3_SECRET_KEY, "kept")
        client = make_s3_client(s3.s3_settings(endpoint, S3_ACCESS_KEY, S3_SECRET_KEY))
        for n in range(20):
            client.put_object(
                Bucket="kept", Key=f"acme/{n:05d}.dcm", Body=b"%d" % n, Metadata={"job_id": "j"}
            )
        upload = client.create_multipart_upload(Bucket="kept", Key="acme/half.zip")["UploadId"]
        part = client.upload_part(
            Bucket="kept", Key="acme/half.zip", UploadId=upload, PartNumber=1, Body=b"z" * 100
        )
    finally:
        server.stop()
    assert not server.alive()

    server = s3.start_s3(s3_dir, classpath, port, S3_ACCESS_KEY, S3_SECRET_KEY)
    try:
        client = make_s3_client(s3.s3_settings(endpoint, S3_ACCESS_KEY, S3_SECRET_KEY))
        listed = client.list_objects_v2(Bucket="kept", Prefix="acme/")["Contents"]
        assert [o["Key"] for o in listed] == [f"acme/{n:05d}.dcm" for n in range(20)]
        got = client.get_object(Bucket="kept", Key="acme/00013.dcm")
        assert (got["Body"].read(), got["Metadata"]) == (b"13", {"job_id": "j"})
        parts = client.list_parts(Bucket="kept", Key="acme/half.zip", UploadId=upload)["Parts"]
        assert [(p["PartNumber"], p["ETag"]) for p in parts] == [(1, part["ETag"])]
        client.complete_multipart_upload(
            Bucket="kept",
            Key="acme/half.zip",
            UploadId=upload,
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]},
        )
        assert client.get_object(Bucket="kept", Key="acme/half.zip")["Body"].read() == b"z" * 100
        # S3Proxy keeps a pending upload's parts as hidden objects (".mpus-<id>-<key>-<n>",
        # listed beside the bucket's other objects, outside every tenant's prefix) until the
        # upload is completed or aborted
        everything = client.list_objects_v2(Bucket="kept")["Contents"]
        assert len(everything) == 21
    finally:
        server.stop()
