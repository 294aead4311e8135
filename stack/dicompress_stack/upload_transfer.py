"""Sending an upload to the API: presigned parts straight to S3 (resumable), or the whole body
streamed through the API.

Presigned: POST /uploads plans the parts and signs a URL for each; the upload id is kept in a
resume file, so after an interruption the same command asks GET /uploads/{id} what S3 already
holds and sends only the rest. A folder's ZIP is rebuilt identically; the parts it skips are
checked against S3's ETags (the MD5 of a part) where S3 gives them, so a ZIP that came out
different is never completed from mixed parts. Streamed: one PUT /uploads/stream; not
resumable (an interrupted one is aborted by the API and starts over).
"""

from __future__ import annotations

import hashlib
import json
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from dicompress_stack.client import ClientError, api_request
from dicompress_stack.upload_source import Source, cut
from dicompress_stack.upload_state import (
    UploadState,
    forget_state,
    load_state,
    save_state,
    state_path,
)

_SLICE = 256 * 1024  # progress is reported per slice of a part
_ATTEMPTS = 4
_MD5_ETAG = re.compile(r'^"?([0-9a-f]{32})"?$')
# How long the API may take to answer a streamed upload after the last byte (it completes the
# multipart upload in S3 and waits for the broker) and to complete a presigned one.
_FINISH_TIMEOUT_S = 300

Progress = Callable[[int], None]


class Presigned:
    """One presigned upload of `source` to the API at `api_url`."""

    def __init__(self, api_url: str, token: str, source: Source, cache: Path) -> None:
        self.api_url = api_url
        self.token = token
        self.source = source
        self.state_file = state_path(cache, api_url, source.path, source.fingerprint)
        self.resumed = False

    def prepare(self, size: int) -> dict[str, Any]:
        """The upload to send to: the one this source was being sent as, if the API still
        has it open, else a new one."""
        state = load_state(self.state_file)
        if state is not None and state.size == size:
            view = self._view(state.upload_id)
            if view is not None and view["state"] in ("open", "completed"):
                self.resumed = True
                return view
        forget_state(self.state_file)
        view = api_request(
            "POST",
            f"{self.api_url}/uploads",
            self.token,
            {
                "fileName": self.source.file_name,
                "size": size,
                "contentType": self.source.content_type,
            },
        )
        save_state(self.state_file, UploadState(view["uploadId"], size, view["partSize"]))
        return dict(view)

    def send(
        self, view: dict[str, Any], progress: Progress, skipped: Progress, retried: Progress
    ) -> None:
        """Send every part S3 lacks; `progress` hears of every byte sent, `skipped` of every
        byte S3 already held, `retried` of every part sent again."""
        if view["state"] != "open":
            return
        held = {p["partNumber"]: p["etag"] for p in view["parts"]}
        urls = {p["partNumber"]: p["url"] for p in view["missingParts"]}
        for number, size, data in self._parts(view["partSize"], set(held)):
            if number in held:
                if data is not None:
                    self._check_held(view["uploadId"], number, data, held[number])
                skipped(size)
                continue
            assert data is not None  # only held parts are skipped unread
            try:
                put_part(urls[number], data, progress, retried)
            except _Expired:
                fresh = self._view(view["uploadId"]) or {"missingParts": []}
                urls = {p["partNumber"]: p["url"] for p in fresh["missingParts"]}
                put_part(urls[number], data, progress, retried)

    def complete(self, upload_id: str) -> dict[str, Any]:
        """Complete the upload (a retry is harmless) and forget the resume file."""
        answer = api_request(
            "POST",
            f"{self.api_url}/uploads/{upload_id}/complete",
            self.token,
            timeout_s=_FINISH_TIMEOUT_S,
        )
        forget_state(self.state_file)
        return dict(answer)

    def _parts(self, part_size: int, held: set[int]) -> Iterator[tuple[int, int, bytes | None]]:
        """(number, size, bytes) of every part; the bytes are None for a part of an unchanged
        file that S3 holds (skipped without reading it). A folder's ZIP is rebuilt in order,
        so its held parts come with their bytes, to be checked."""
        if self.source.is_folder:
            for number, built in cut(self.source.chunks(), part_size):
                yield number, len(built), built
            return
        size = self.source.file_size
        for number in range(1, max(1, -(-size // part_size)) + 1):
            length = min(part_size, size - (number - 1) * part_size)
            read = None if number in held else self.source.part(number, part_size)
            yield number, length, read

    def _check_held(self, upload_id: str, number: int, data: bytes, etag: str) -> None:
        expected = _MD5_ETAG.match(etag)
        if expected is None:  # not a plain MD5 (e.g. SSE-KMS): nothing to compare
            return
        if hashlib.md5(data, usedforsecurity=False).hexdigest() != expected[1]:
            api_request("DELETE", f"{self.api_url}/uploads/{upload_id}", self.token)
            forget_state(self.state_file)
            raise ClientError(
                f"part {number} of the rebuilt ZIP differs from the one S3 holds (the folder "
                "changed, or another zlib built it); the upload was aborted: run again to start "
                "over"
            )

    def _view(self, upload_id: str) -> dict[str, Any] | None:
        try:
            return dict(api_request("GET", f"{self.api_url}/uploads/{upload_id}", self.token))
        except ClientError as exc:
            if exc.status == 404:
                return None
            raise


class _Expired(Exception):
    """S3 refused a part URL (403): it expired; sign fresh ones."""


def put_part(url: str, data: bytes, progress: Progress, retried: Progress) -> None:
    """PUT one part to its presigned URL, retrying what a retry can fix."""
    for attempt in range(1, _ATTEMPTS + 1):
        sent = 0

        def slices() -> Iterator[bytes]:
            nonlocal sent
            view = memoryview(data)
            for start in range(0, len(data), _SLICE):
                piece = view[start : start + _SLICE]
                yield bytes(piece)
                sent += len(piece)
                progress(len(piece))

        request = urllib.request.Request(  # noqa: S310 (the API's presigned URL)
            url,
            data=slices(),
            method="PUT",
            headers={"Content-Length": str(len(data)), "Content-Type": "application/octet-stream"},
        )
        try:
            with urllib.request.urlopen(request, timeout=120):  # noqa: S310
                return
        except urllib.error.HTTPError as exc:
            if exc.code == 403:
                progress(-sent)
                raise _Expired from exc
            if exc.code < 500 or attempt == _ATTEMPTS:
                raise ClientError(f"S3 refused a part: {exc.code} {exc.reason}") from exc
        except (urllib.error.URLError, OSError) as exc:
            if attempt == _ATTEMPTS:
                raise ClientError(f"cannot reach S3: {exc}") from exc
        progress(-sent)  # it is sent again
        retried(1)
        time.sleep(2 ** (attempt - 1))


def stream(api_url: str, token: str, source: Source, progress: Progress) -> dict[str, Any]:
    """PUT /uploads/stream with the source as the body; `progress` hears of every block read
    (a folder: its files' bytes, before zipping)."""
    query = urllib.parse.urlencode({"fileName": source.file_name})
    headers = {"Authorization": f"Bearer {token}", "Content-Type": source.content_type}
    if not source.is_folder:
        headers["Content-Length"] = str(source.file_size)
    request = urllib.request.Request(  # noqa: S310 (http URL of the API)
        f"{api_url}/uploads/stream?{query}",
        data=source.chunks(progress),
        method="PUT",
        headers=headers,
    )
    return dict(_json_answer(request, f"PUT {api_url}/uploads/stream"))


def _json_answer(request: urllib.request.Request, what: str) -> Any:
    try:
        with urllib.request.urlopen(request, timeout=_FINISH_TIMEOUT_S) as answer:  # noqa: S310
            return json.loads(answer.read() or b"null")
    except urllib.error.HTTPError as exc:
        body = exc.read()
        try:
            detail = json.loads(body).get("detail", body.decode(errors="replace"))
        except ValueError:
            detail = body.decode(errors="replace")
        raise ClientError(f"{what} -> {exc.code}: {detail}", status=exc.code) from exc
    except (urllib.error.URLError, OSError) as exc:
        raise ClientError(f"{what}: {exc}; is the stack up?") from exc
