"""What the process manager does with one completed ingest: plan its products, publish the new
ones. Adapters (the index, the publisher) are passed in."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from dicompress_products.index import StudyIndex
from dicompress_products.planner import plan
from dicompress_schemas import IngestCompleted, ProductRequested
from dicompress_schemas.products import ProductKind

log = logging.getLogger(__name__)

Publish = Callable[[ProductRequested], Awaitable[None]]


@dataclass(frozen=True)
class ProcessManager:
    index: StudyIndex
    publish: Publish
    policy: Callable[[str], Sequence[ProductKind]]
    projection_wait_s: float

    async def on_ingest_completed(self, event: IngestCompleted) -> list[ProductRequested]:
        """Ask for the products of what the ingest stored; returns the requests published.

        Raises NotProjectedYet (retry later) or what the index or the broker raise."""
        kinds = self.policy(event.tenant)
        extra = {"ingest_id": str(event.ingest_id), "tenant": event.tenant}
        if not kinds or event.images == 0:
            log.info("no products to make", extra={**extra, "images": event.images})
            return []
        bucket = await self.index.wait_projected(
            event.tenant, event.ingest_id, self.projection_wait_s
        )
        series = await self.index.received_series(event.tenant, event.ingest_id, bucket)
        requests = plan(event.tenant, series, kinds, event.ingest_id, event.occurred_at)
        known = await self.index.known_jobs([r.job_id for r in requests]) if requests else set()
        new = [r for r in requests if r.job_id not in known]
        for request in new:
            await self.publish(request)
        log.info(
            "products requested",
            extra={**extra, "series": len(series), "requested": len(new), "known": len(known)},
        )
        return new
