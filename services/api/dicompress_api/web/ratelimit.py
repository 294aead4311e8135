"""Per-tenant rate limit: a token bucket per tenant, in this process's memory.

Each API instance limits on its own (N instances allow N times the rate): good enough to stop a
runaway client without a shared store on the request path. A tenant's bucket holds `burst`
tokens and refills at `rate_per_s`; a request takes one, or gets a 429 with Retry-After.
"""

# No `from __future__ import annotations`: FastAPI must see the closure's real annotations.

import math
import time
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends

from dicompress_api.web.auth import TenantDependency
from dicompress_api.web.errors import RateLimited

# Forget the buckets of idle tenants beyond this many, so memory stays bounded.
MAX_TRACKED = 10_000


class TokenBuckets:
    """One bucket per tenant; `take` spends a token or raises RateLimited."""

    def __init__(
        self, rate_per_s: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._rate = rate_per_s
        self._burst = float(burst)
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # tenant -> (tokens, last refill)

    def take(self, tenant: str) -> None:
        now = self._clock()
        tokens, then = self._buckets.get(tenant, (self._burst, now))
        tokens = min(self._burst, tokens + (now - then) * self._rate)
        if tokens < 1:
            self._buckets[tenant] = (tokens, now)
            wait = math.ceil((1 - tokens) / self._rate)
            raise RateLimited(
                f"tenant {tenant} sent more than {self._rate:g} requests/s "
                f"(bursts up to {self._burst:g})",
                retry_after_s=max(1, wait),
            )
        self._buckets[tenant] = (tokens - 1, now)
        if len(self._buckets) > MAX_TRACKED:
            self._forget_full(now)

    def _forget_full(self, now: float) -> None:
        # A bucket that has refilled is the same as no bucket.
        full = [
            name
            for name, (tokens, then) in self._buckets.items()
            if tokens + (now - then) * self._rate >= self._burst
        ]
        for name in full:
            del self._buckets[name]


def rate_limited(tenant_of: TenantDependency, buckets: TokenBuckets) -> TenantDependency:
    """`tenant_of`, spending one of the tenant's tokens per request (429 when none is left)."""

    async def tenant(name: Annotated[str, Depends(tenant_of)]) -> str:
        buckets.take(name)
        return name

    return tenant
