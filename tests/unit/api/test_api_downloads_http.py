"""GET /studies/{id}/download on a fake study index and an in-memory object store: the ZIP's
entries, names and bytes, its Content-Length, ranges, and what is refused (the same on real S3:
tests/integration/api/test_api_downloads_live.py)."""

from __future__ import annotations

import hashlib
import io
import zipfile
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import asdict

import httpx
import pytest
from api_app import serving, study_app
from api_fakes import FakeProductIndex, FakePublisher, FakeSources, FakeStudyIndex, bearer
from test_api_http import assert_problem

from dicompress_api.downloads.archive import ObjectChanged, SizedZip
from dicompress_api.downloads.selection import Entry
from dicompress_api.settings import ApiSettings
from dicompress_progress.study_rows import instance_row
from dicompress_schemas import InstanceKind
from dicompress_schemas.histories.ingests import AXIAL, BASIC_TEXT_SR, STUDY, IngestHistory


def content(key: str, size: int) -> bytes:
    """Bytes of the object at `key`: its size, and different from any other object's."""
    seed = hashlib.sha256(key.encode()).digest()
    return (seed * (size // len(seed) + 1))[:size]


class MemoryObjects:
    """The bucket's objects, read in small chunks; remembers what was opened."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.opened: list[tuple[str, str]] = []

    def of(self, bucket: str) -> Callable[[str], Iterator[bytes]]:
        def chunks(key: str) -> Iterator[bytes]:
            self.opened.append((bucket, key))
            data = self.objects[key]
            for start in range(0, len(data), 100):
                yield data[start : start + 100]

        return chunks


@pytest.fixture
def objects() -> MemoryObjects:
    return MemoryObjects()


@pytest.fixture
async def client(
    settings: ApiSettings,
    index: FakeStudyIndex,
    products: FakeProductIndex,
    objects: MemoryObjects,
    publisher: FakePublisher,
    sources: FakeSources,
) -> AsyncIterator[httpx.AsyncClient]:
    app = study_app(settings, publisher, sources, index, products, object_chunks=objects.of)
    async with serving(app) as http:
        yield http


def _stored(index: FakeStudyIndex, objects: MemoryObjects, tenant: str = "acme") -> str:
    """The fake study (axial slices at z 5, -5, 0 mm) and a report, with their bytes stored."""
    sid = index.add_study(tenant, STUDY)
    report = IngestHistory(tenant).instance(
        f"{STUDY}.900",
        series_uid=AXIAL,
        kind=InstanceKind.NON_IMAGE,
        sop_class_uid=BASIC_TEXT_SR,
        modality="SR",
        image=None,
    )
    index.instance_rows.append(asdict(instance_row(report)))
    for n, row in enumerate(index.instance_rows):
        row["bytes"] = 300 + 37 * n
        objects.objects[row["key"]] = content(row["key"], row["bytes"])
    return str(sid)


def _keys_by_z(index: FakeStudyIndex) -> list[str]:
    """The image keys in anatomical order (z -5, 0, 5: instance numbers 2, 3, 1)."""
    by_number = {
        r["instance_number"]: r["key"] for r in index.instance_rows if r["kind"] == "image"
    }
    return [by_number[2], by_number[3], by_number[1]]


async def test_a_study_streams_as_a_zip_of_its_originals_with_its_length(
    client: httpx.AsyncClient, settings: ApiSettings, index: FakeStudyIndex, objects: MemoryObjects
) -> None:
    sid = _stored(index, objects)
    answer = await client.get(f"/studies/{sid}/download", headers=bearer(settings, "acme"))
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/zip"
    assert int(answer.headers["content-length"]) == len(answer.content)
    assert answer.headers["content-disposition"] == f'attachment; filename="{STUDY}.zip"'
    archive = zipfile.ZipFile(io.BytesIO(answer.content))
    assert archive.testzip() is None
    images = [f"{AXIAL}/{i:05d}.dcm" for i in range(3)]
    assert archive.namelist() == [*images, f"{AXIAL}/{STUDY}.900.dcm"]
    for name, key in zip(images, _keys_by_z(index), strict=True):
        assert archive.read(name) == objects.objects[key]
    assert {bucket for bucket, _ in objects.opened} == {"dicompress-data"}


async def test_a_slice_range_of_a_series_keeps_the_slices_names(
    client: httpx.AsyncClient, settings: ApiSettings, index: FakeStudyIndex, objects: MemoryObjects
) -> None:
    sid = _stored(index, objects)
    answer = await client.get(
        f"/studies/{sid}/download?series={AXIAL}&zStart=1&zEnd=2",
        headers=bearer(settings, "acme"),
    )
    assert answer.status_code == 200, answer.text
    assert int(answer.headers["content-length"]) == len(answer.content)
    assert answer.headers["x-files"] == "2"
    archive = zipfile.ZipFile(io.BytesIO(answer.content))
    assert archive.namelist() == [f"{AXIAL}/00001.dcm", f"{AXIAL}/00002.dcm"]
    assert archive.read(f"{AXIAL}/00001.dcm") == objects.objects[_keys_by_z(index)[1]]
    whole = await client.get(
        f"/studies/{sid}/download?series={AXIAL}", headers=bearer(settings, "acme")
    )
    assert len(zipfile.ZipFile(io.BytesIO(whole.content)).namelist()) == 4  # with the report


@pytest.mark.parametrize(
    ("query", "status", "detail"),
    [
        ("?zStart=1", 422, "give series= as well"),
        (f"?series={AXIAL}&zEnd=3", 422, "zEnd 3 is not a slice of the series: valid 0..2"),
        (f"?series={AXIAL}&zStart=-1", 422, "zStart -1 is not a slice"),
        (f"?series={AXIAL}&zStart=2&zEnd=1", 422, "zEnd 1 is before zStart 2: valid 0..2"),
        ("?series=1.2.9", 404, "no series 1.2.9"),
        ("?series=nope", 422, "series"),
    ],
)
async def test_what_is_not_in_the_study_is_refused(
    client: httpx.AsyncClient,
    settings: ApiSettings,
    index: FakeStudyIndex,
    objects: MemoryObjects,
    query: str,
    status: int,
    detail: str,
) -> None:
    sid = _stored(index, objects)
    answer = await client.get(f"/studies/{sid}/download{query}", headers=bearer(settings, "acme"))
    assert detail in answer.text
    assert_problem(answer, status)
    assert objects.opened == []


async def test_only_the_tenants_own_study_is_read(
    client: httpx.AsyncClient, settings: ApiSettings, index: FakeStudyIndex, objects: MemoryObjects
) -> None:
    sid = _stored(index, objects, tenant="globex")
    assert_problem(
        await client.get(f"/studies/{sid}/download", headers=bearer(settings, "acme")), 404
    )
    index.bucket = None  # the upload is not projected yet: where the objects are is unknown
    own = await client.get(f"/studies/{sid}/download", headers=bearer(settings, "globex"))
    assert_problem(own, 409)
    assert objects.opened == []


def test_the_zip_reads_each_object_only_when_it_reaches_it() -> None:
    objects = MemoryObjects()
    entries = []
    for n in range(3):
        key = f"acme/studies/1/2/{n}.dcm"
        objects.objects[key] = content(key, 1000)
        entries.append(Entry(f"2/{n:05d}.dcm", key, 1000))
    archive = SizedZip(entries, objects.of("b"))
    assert objects.opened == []  # the length is known without reading anything
    stream = iter(archive)
    sent = len(next(stream))
    while len(objects.opened) < 2:
        sent += len(next(stream))
    assert sent < 2 * 1000 + 200  # the first object and the second's header, no more
    sent += sum(len(chunk) for chunk in stream)
    assert sent == archive.length


def test_an_object_that_changed_size_breaks_the_stream_off() -> None:
    objects = MemoryObjects()
    objects.objects["k"] = b"x" * 500
    archive = SizedZip([Entry("a.dcm", "k", 400)], objects.of("b"))
    with pytest.raises(ObjectChanged, match="the index says 400"):
        b"".join(archive)
