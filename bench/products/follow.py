"""A study's products as a viewer sees them: `GET /studies/{id}/products` polled every
`POLL_S` from the upload's completion answer, each change of each product timed.

A product's image counts as available when the listing names it AND its presigned URL serves
it (a GET answering 200 with a body): that is when a viewer can show it. The first image of
each product is fetched once listed (again at the next poll if it did not serve yet).
Times are `time.perf_counter()` values; the caller subtracts the upload's completion.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx

POLL_S = 0.05
TERMINAL = frozenset({"completed", "failed", "cancelled"})
KINDS = ("preview", "thumbnails", "snapshot")


@dataclass
class ProductSeen:
    """One product (one job) as the listing showed it over time."""

    id: str
    kind: str
    series: str
    params: dict[str, Any]
    listed_at: float
    status: str = "requested"
    running_at: float | None = None  # first listed with a status other than requested/queued
    ended_at: float | None = None  # first listed with a terminal status
    first_image_listed_at: float | None = None
    first_image_served_at: float | None = None
    first_image: str | None = None  # view-preset-size.format of the image that served first
    last: dict[str, Any] = field(default_factory=dict)  # the latest listing of it
    timings: dict[str, Any] = field(default_factory=dict)  # GET /jobs/{id}'s, once it ended

    @property
    def wall_ms(self) -> float | None:
        value = self.last.get("wallMs")
        return float(value) if value is not None else None

    @property
    def items(self) -> dict[str, Any]:
        counts: dict[str, Any] = self.last.get("items") or {}
        return counts

    @property
    def images(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.last.get("images") or []
        return found

    def event_time(self, name: str) -> datetime | None:
        """`requestedAt`, `startedAt` or `finishedAt` as the projection recorded it."""
        value = self.last.get(name)
        return datetime.fromisoformat(value) if value else None


@dataclass
class Followed:
    """What one upload's products did, and how the polling went."""

    products: dict[str, ProductSeen]
    polls: int
    not_found: int  # answers 404: the study was not indexed yet
    throttled: int  # answers 429: the API's rate limit (the bench raises it; see the module)
    finished_at: float
    timed_out: bool

    def of_series(self) -> dict[str, dict[str, ProductSeen]]:
        """Products by series, then by kind (the latest requested if a kind is there twice)."""
        found: dict[str, dict[str, ProductSeen]] = {}
        for product in sorted(self.products.values(), key=lambda p: p.listed_at):
            found.setdefault(product.series, {})[product.kind] = product
        return found


def _all_ended(products: Iterable[ProductSeen]) -> bool:
    by_series: dict[str, set[str]] = {}
    for product in products:
        if product.status not in TERMINAL:
            return False
        by_series.setdefault(product.series, set()).add(product.kind)
    return bool(by_series) and all(set(KINDS) <= kinds for kinds in by_series.values())


async def _serves(s3: httpx.AsyncClient, url: str) -> bool:
    try:
        answer = await s3.get(url)
    except httpx.HTTPError:
        return False
    return answer.status_code == 200 and len(answer.content) > 0


async def follow_products(
    http: httpx.AsyncClient, study_id: str, timeout_s: float, poll_s: float = POLL_S
) -> Followed:
    """Poll until every series listed has its preview, thumbnails and snapshot ended (or
    `timeout_s`)."""
    products: dict[str, ProductSeen] = {}
    polls = not_found = throttled = 0
    deadline = time.perf_counter() + timeout_s
    async with httpx.AsyncClient(timeout=httpx.Timeout(30.0)) as s3:
        while time.perf_counter() < deadline:
            polls += 1
            answer = await http.get(f"/studies/{study_id}/products")
            now = time.perf_counter()
            if answer.status_code == 404:
                not_found += 1
            elif answer.status_code == 429:
                throttled += 1
            elif answer.status_code != 200:
                raise RuntimeError(
                    f"GET /studies/{study_id}/products: {answer.status_code} {answer.text[:300]}"
                )
            else:
                for item in answer.json()["items"]:
                    await _update(products, item, now, s3)
                if _all_ended(products.values()):
                    await _timings(http, products.values())
                    return Followed(products, polls, not_found, throttled, now, False)
            await asyncio.sleep(max(0.0, poll_s - (time.perf_counter() - now)))
    await _timings(http, products.values())
    return Followed(products, polls, not_found, throttled, time.perf_counter(), True)


async def _timings(http: httpx.AsyncClient, products: Iterable[ProductSeen]) -> None:
    """Each product's phases as its worker reported them (GET /jobs/{id}: timings), read once
    all have ended, so the reads cost the products nothing."""
    for product in products:
        answer = await http.get(f"/jobs/{product.id}")
        if answer.status_code == 200:
            product.timings = answer.json().get("timings") or {}


async def _update(
    products: dict[str, ProductSeen], item: dict[str, Any], now: float, s3: httpx.AsyncClient
) -> None:
    seen = products.get(item["id"])
    if seen is None:
        seen = products[item["id"]] = ProductSeen(
            id=item["id"],
            kind=item["kind"],
            series=item["seriesInstanceUid"],
            params=item.get("params") or {},
            listed_at=now,
        )
    seen.last = item
    seen.status = item["status"]
    if seen.running_at is None and seen.status not in {"requested", "queued"}:
        seen.running_at = now
    if seen.ended_at is None and seen.status in TERMINAL:
        seen.ended_at = now
    images = seen.images
    if images and seen.first_image_listed_at is None:
        seen.first_image_listed_at = now
    if images and seen.first_image_served_at is None:
        image = images[0]
        if await _serves(s3, image["url"]):
            seen.first_image_served_at = time.perf_counter()
            seen.first_image = (
                f"{image['view']}-{image['preset']}-{image['size']}.{image['format']}"
            )
