"""The per-tenant token bucket (pure, with a fake clock)."""

import pytest

from dicompress_api.web.errors import RateLimited
from dicompress_api.web.ratelimit import TokenBuckets


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_passes_then_429_until_tokens_refill_per_tenant() -> None:
    clock = Clock()
    buckets = TokenBuckets(rate_per_s=0.5, burst=3, clock=clock)
    for _ in range(3):
        buckets.take("acme")
    with pytest.raises(RateLimited) as caught:
        buckets.take("acme")
    assert caught.value.retry_after_s == 2  # one token at 0.5/s
    buckets.take("globex")  # another tenant has its own bucket
    clock.now += 2
    buckets.take("acme")
    with pytest.raises(RateLimited):
        buckets.take("acme")


def test_refill_never_exceeds_the_burst() -> None:
    clock = Clock()
    buckets = TokenBuckets(rate_per_s=100, burst=2, clock=clock)
    clock.now += 3600
    buckets.take("acme")
    buckets.take("acme")
    with pytest.raises(RateLimited):
        buckets.take("acme")
