"""Scraping a service's /metrics in integration tests."""

from __future__ import annotations

from collections.abc import Mapping

import httpx
from prometheus_client.parser import text_string_to_metric_families


def sample_key(name: str, labels: Mapping[str, str]) -> str:
    """'name' for an unlabelled sample, else 'name,key=value,...' with the keys sorted."""
    return name + "".join(f",{key}={value}" for key, value in sorted(labels.items()))


async def scrape(url: str) -> dict[str, float]:
    """Every sample of the endpoint, by `sample_key`; asserts the Prometheus text format."""
    async with httpx.AsyncClient() as client:
        answer = await client.get(url, timeout=5)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain; version=")
    return {
        sample_key(sample.name, sample.labels): sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
    }
