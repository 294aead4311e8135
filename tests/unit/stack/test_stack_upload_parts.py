"""`dicompress upload` without a stack: the folder's ZIP is the same bytes every time, the
stream is cut into the API's parts, the resume file, and the sources it accepts."""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import pytest
from stream_unzip import stream_unzip

from dicompress_stack.cli import build_parser
from dicompress_stack.errors import StackError
from dicompress_stack.folder_zip import fingerprint, folder_members, zip_size, zip_stream
from dicompress_stack.progressbar import render_bytes
from dicompress_stack.upload_source import DICOM, ZIP, cut, source_of
from dicompress_stack.upload_state import (
    UploadState,
    cache_dir,
    forget_state,
    load_state,
    save_state,
    state_path,
)


def study(root: Path) -> Path:
    (root / "CT" / "s1").mkdir(parents=True)
    (root / "CT" / "s1" / "b.dcm").write_bytes(os.urandom(200_000))
    (root / "CT" / "s1" / "a.dcm").write_bytes(b"dicom" * 50_000)
    (root / "DICOMDIR").write_bytes(b"dir" * 10)
    (root / ".DS_Store").write_bytes(b"junk")
    (root / ".hidden").mkdir()
    (root / ".hidden" / "x.dcm").write_bytes(b"x")
    (root / "link.dcm").symlink_to(root / "DICOMDIR")
    return root


def test_a_folder_zips_the_same_bytes_every_time(tmp_path: Path) -> None:
    root = study(tmp_path / "study")
    members = folder_members(root)
    assert [m.name for m in members] == ["CT/s1/a.dcm", "CT/s1/b.dcm", "DICOMDIR"]
    first = b"".join(zip_stream(members))
    os.utime(root / "DICOMDIR", ns=(1, 1))  # a touch changes the fingerprint, not the bytes
    again = folder_members(root)
    assert b"".join(zip_stream(again)) == first
    assert fingerprint(again) != fingerprint(members)
    assert zip_size(members) == len(first)
    with zipfile.ZipFile(io.BytesIO(first)) as archive:
        assert archive.testzip() is None
        infos = archive.infolist()
    assert {(i.date_time, i.compress_type) for i in infos} == {
        ((1980, 1, 1, 0, 0, 0), zipfile.ZIP_DEFLATED)
    }
    # the ingest service reads it as a stream (data descriptors, deflate)
    unzipped = {name.decode(): b"".join(chunks) for name, _, chunks in stream_unzip([first])}
    assert unzipped["CT/s1/a.dcm"] == b"dicom" * 50_000
    assert len(unzipped["CT/s1/b.dcm"]) == 200_000


def test_reading_counts_the_folders_bytes(tmp_path: Path) -> None:
    members = folder_members(study(tmp_path / "study"))
    read: list[int] = []
    for _ in zip_stream(members, read.append):
        pass
    assert sum(read) == sum(m.size for m in members) == 450_030


def test_the_stream_is_cut_into_the_planned_parts() -> None:
    chunks = [b"a" * 3, b"b" * 10, b"c" * 2]
    assert [(n, len(p)) for n, p in cut(chunks, 4)] == [(1, 4), (2, 4), (3, 4), (4, 3)]
    assert b"".join(p for _, p in cut(chunks, 4)) == b"".join(chunks)
    assert [(n, len(p)) for n, p in cut([b"x" * 8], 4)] == [(1, 4), (2, 4)]


def test_sources_a_folder_a_zip_or_a_dicom_file(tmp_path: Path) -> None:
    folder = source_of(study(tmp_path / "ct study"))
    assert (folder.file_name, folder.content_type, folder.is_folder) == (
        "ct study.zip",
        ZIP,
        True,
    )
    archive = tmp_path / "s.zip"
    archive.write_bytes(b"PK" + b"0" * 10)
    zipped = source_of(archive)
    assert (zipped.content_type, zipped.size(), zipped.part(1, 5)) == (ZIP, 12, b"PK000")
    single = tmp_path / "one"
    single.write_bytes(b"\0" * 128 + b"DICM" + b"rest")
    assert source_of(single).content_type == DICOM
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(StackError, match=r"not a \.zip"):
        source_of(tmp_path / "notes.txt")
    (tmp_path / "empty").mkdir()
    with pytest.raises(StackError, match="no files"):
        source_of(tmp_path / "empty")


def test_the_resume_file_is_per_api_path_and_fingerprint(tmp_path: Path) -> None:
    directory = cache_dir({"XDG_CACHE_HOME": str(tmp_path)})
    assert directory == tmp_path / "dicompress" / "uploads"
    path = state_path(directory, "http://api", Path("/data/s.zip"), "10:1")
    assert path != state_path(directory, "http://api", Path("/data/s.zip"), "10:2")
    assert path != state_path(directory, "http://other", Path("/data/s.zip"), "10:1")
    assert load_state(path) is None
    save_state(path, UploadState("u-1", 10, 5))
    assert load_state(path) == UploadState("u-1", 10, 5)
    path.write_text("{garbage")
    assert load_state(path) is None
    forget_state(path)
    forget_state(path)
    assert not path.exists()


def test_upload_arguments() -> None:
    args, rest = build_parser().parse_known_args(["upload", "study/", "--stream", "--tenant", "x"])
    assert rest == []
    assert (args.command, args.path, args.stream, args.no_follow, args.tenant) == (
        "upload",
        Path("study/"),
        True,
        False,
        "x",
    )


def test_the_byte_bar() -> None:
    line = render_bytes(84_000_000, 200_300_000, 0, 41_200_000.0, 3.0, width=10)
    assert line == "84.0/200.3 MB [####......] 41.2 MB/s, ETA 3 s"
    assert render_bytes(0, 10, 2, 0.0, float("inf"), width=4).endswith("ETA ?, 2 retried")
