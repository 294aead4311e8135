"""GET /metrics of the API: requests by route template, latency, jobs submitted."""

from __future__ import annotations

import uuid

import httpx
from prometheus_client.parser import text_string_to_metric_families

BODY = {
    "s3SourceUri": "s3://dicompress-data/acme/in/ct1",
    "s3TargetUri": "s3://dicompress-data/acme/out",
}


async def scrape(client: httpx.AsyncClient) -> dict[str, float]:
    answer = await client.get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain; version=")
    return {
        sample.name + "".join(f",{k}={v}" for k, v in sorted(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
    }


async def test_requests_are_counted_by_route_template_and_jobs_by_acceptance(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    assert (await client.post("/jobs", json=BODY, headers=auth)).status_code == 202
    assert (await client.post("/jobs", json={}, headers=auth)).status_code == 422
    for _ in range(2):  # two job ids, one route template
        assert (await client.get(f"/jobs/{uuid.uuid4()}", headers=auth)).status_code == 404
    assert (await client.get("/no/such/route")).status_code == 404

    samples = await scrape(client)

    assert samples["dicompress_api_jobs_submitted_total"] == 1
    assert samples["dicompress_api_requests_total,method=POST,route=/jobs,status=202"] == 1
    assert samples["dicompress_api_requests_total,method=POST,route=/jobs,status=422"] == 1
    assert samples["dicompress_api_requests_total,method=GET,route=/jobs/{job_id},status=404"] == 2
    assert samples["dicompress_api_requests_total,method=GET,route=unmatched,status=404"] == 1
    count = "dicompress_api_request_duration_seconds_count,method=GET,route=/jobs/{job_id}"
    assert samples[count] == 2
    assert samples["process_cpu_seconds_total"] > 0


async def test_each_app_counts_on_its_own_registry(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    # a fresh app per test: nothing from the previous test leaks into this one
    samples = await scrape(client)
    assert samples["dicompress_api_jobs_submitted_total"] == 0
