"""A job as its tenant may see it: another tenant's job is answered exactly as an unknown one."""

from __future__ import annotations

import uuid
from typing import Any

from dicompress_api.ports import JobStore
from dicompress_api.web.errors import JobNotFound


async def owned_job(store: JobStore, job_id: uuid.UUID, tenant: str) -> dict[str, Any]:
    """The tenant's job's projected row; JobNotFound (404) for anyone else's or none."""
    row = await store.get(job_id, tenant)
    if row is None:
        raise JobNotFound(f"no job {job_id} for this tenant (it may not be projected yet)")
    return dict(row)
