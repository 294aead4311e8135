"""The streamed ZIP: exact parts, a bounded buffer, and an archive any reader opens."""

from __future__ import annotations

import io
import random
import zipfile

import pytest

from dicompress_compressor.zipstream import StreamingZip


def test_parts_are_full_except_the_last_and_join_into_a_valid_zip() -> None:
    part_size, entry_max = 64 * 1024, 20 * 1024
    rng = random.Random(5)  # noqa: S311  # reproducible test data, not a secret
    entries = {f"{i:05d}.dcm": rng.randbytes(rng.randint(1, entry_max)) for i in range(200)}
    streaming = StreamingZip(part_size)
    parts: list[bytes] = []
    for name, data in entries.items():
        parts.extend(streaming.add(name, data))
        # never more than one part plus the entry just added (and its headers)
        assert streaming.max_buffered < part_size + entry_max + 1024
    parts.extend(streaming.finish())

    assert len(parts) > 10
    assert all(len(p) == part_size for p in parts[:-1])
    assert 0 < len(parts[-1]) <= part_size
    assert sum(map(len, parts)) == streaming.size
    with zipfile.ZipFile(io.BytesIO(b"".join(parts))) as archive:
        assert archive.testzip() is None  # every CRC checks out
        assert archive.namelist() == list(entries)
        assert all(archive.read(n) == d for n, d in entries.items())
        assert {i.compress_type for i in archive.infolist()} == {zipfile.ZIP_STORED}


def test_a_small_zip_is_one_short_part() -> None:
    streaming = StreamingZip()
    assert streaming.add("a", b"x") == []
    [only] = streaming.finish()
    with zipfile.ZipFile(io.BytesIO(only)) as archive:
        assert archive.read("a") == b"x"


def test_a_part_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        StreamingZip(0)
