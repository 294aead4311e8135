"""A range download of the originals, `GET /studies/{id}/download?series=&zStart=&zEnd=`,
streamed and counted (nothing kept), while the API process's RSS (with any children) is
sampled every 0.1 s."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import httpx
from bench.ingest.watch import RssSampler

RSS_INTERVAL_S = 0.1


@dataclass(frozen=True)
class Ranged:
    """What the range download did."""

    z_start: int
    z_end: int
    status: int
    content_length: int | None  # the header
    received: int
    files: str  # the X-Files header
    first_byte_s: float  # headers received
    seconds: float  # request start to last byte
    rss_idle: int  # the API's RSS just before the request
    rss_peak: int  # the largest sample from the request's start to its last byte
    rss_after: int
    samples: int

    @property
    def mb_per_s(self) -> float:
        return self.received / 1e6 / self.seconds if self.seconds > 0 else 0.0

    @property
    def length_matches(self) -> bool:
        return self.content_length == self.received


async def range_download(
    http: httpx.AsyncClient, study: str, series: str, z_start: int, z_end: int, api_pid: int
) -> Ranged:
    params: dict[str, str | int] = {"series": series, "zStart": z_start, "zEnd": z_end}
    with RssSampler(api_pid, RSS_INTERVAL_S) as rss:
        await asyncio.sleep(3 * RSS_INTERVAL_S)  # a few samples of the API at rest
        idle = rss.peak_bytes
        received = 0
        started = time.perf_counter()
        async with http.stream("GET", f"/studies/{study}/download", params=params) as answer:
            first_byte = time.perf_counter() - started
            async for chunk in answer.aiter_raw():
                received += len(chunk)
        ended = time.perf_counter()
        await asyncio.sleep(3 * RSS_INTERVAL_S)
    length = answer.headers.get("content-length")
    return Ranged(
        z_start,
        z_end,
        answer.status_code,
        int(length) if length is not None else None,
        received,
        answer.headers.get("x-files", ""),
        first_byte,
        ended - started,
        idle,
        rss.peak_between(started, ended + RSS_INTERVAL_S),
        rss.samples[-1][1] if rss.samples else 0,
        sum(1 for at, _ in rss.samples if started <= at <= ended),
    )
