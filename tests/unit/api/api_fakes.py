"""Fakes of the API's adapters, for pure-validation unit tests (no broker, database or S3),
with a product row as the projection writes it and a tenant's bearer token."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

import orjson

from dicompress_api.adapters.idempotency import KeyRecord
from dicompress_api.jobs.listing import EPOCH, Cursor, JobFilter
from dicompress_api.jobs.queue import TenantLoad, Throughput
from dicompress_api.jobs.sources import SourceInfo
from dicompress_api.settings import ApiSettings
from dicompress_api.web.errors import (
    FieldProblem,
    InvalidRequest,
    PublishUnavailable,
    StoreUnavailable,
)
from dicompress_infra.auth import issue_token
from dicompress_infra.s3 import S3Uri
from dicompress_progress.study_rows import instance_row
from dicompress_schemas import (
    ArchiveUploaded,
    CompressionRequested,
    Lane,
    ProductRequested,
    study_id,
)
from dicompress_schemas.commands import Command
from dicompress_schemas.histories.ingests import AXIAL, T0, IngestHistory

SECRET = "unit-test-secret-0123456789abcdef0123"


class FakePublisher:
    def __init__(self) -> None:
        self.events: list[CompressionRequested] = []
        self.lanes: list[Lane] = []
        self.products: list[ProductRequested] = []
        self.commands: list[Command] = []
        self.unavailable: str | None = None

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def publish(self, event: CompressionRequested, lane: Lane) -> None:
        if self.unavailable:
            raise PublishUnavailable(self.unavailable)
        self.events.append(event)
        self.lanes.append(lane)

    async def publish_product(self, event: ProductRequested) -> None:
        if self.unavailable:
            raise PublishUnavailable(self.unavailable)
        self.products.append(event)

    async def send_command(self, command: Command) -> None:
        if self.unavailable:
            raise PublishUnavailable(self.unavailable)
        self.commands.append(command)

    async def problem(self) -> str | None:
        return self.unavailable


class FakeArchives:
    """The ingest publisher of the uploads (their routes are tested against real backends)."""

    def __init__(self) -> None:
        self.events: list[ArchiveUploaded] = []

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def publish_ingest(self, event: ArchiveUploaded) -> None:
        self.events.append(event)


class FakeStore:
    def __init__(self) -> None:
        self.rows: dict[uuid.UUID, dict[str, Any]] = {}
        self.slice_rows: dict[uuid.UUID, list[dict[str, Any]]] = {}
        self.down: str | None = None

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def get(self, job_id: uuid.UUID, tenant: str) -> Mapping[str, Any] | None:
        if self.down:
            raise StoreUnavailable(self.down)
        row = self.rows.get(job_id)
        return row if row is not None and row["tenant"] == tenant else None

    async def list_jobs(self, tenant: str, where: JobFilter) -> list[Mapping[str, Any]]:
        def key(row: Mapping[str, Any]) -> tuple[Any, uuid.UUID]:
            return (row.get("requested_at") or EPOCH, row["job_id"])

        rows = [
            row
            for row in self.rows.values()
            if row["tenant"] == tenant
            and where.status in (None, row.get("status"))
            and where.codec in (None, row.get("codec"))
            and (where.after is None or key(row) < (where.after.requested_at, where.after.job_id))
        ]
        return sorted(rows, key=key, reverse=True)[: where.limit]

    async def slices(self, job_id: uuid.UUID, tenant: str) -> list[Mapping[str, Any]]:
        owned = await self.get(job_id, tenant)
        return list(self.slice_rows.get(job_id, [])) if owned else []

    async def problem(self) -> str | None:
        return self.down


class FakeSources:
    """Every prefix holds `files` objects of `size` bytes, except those listed in `empty`."""

    def __init__(self, files: int = 3, size: int = 1000) -> None:
        self.files, self.size = files, size
        self.empty: set[str] = set()
        self.down: str | None = None
        self.slow: dict[str, float] = {}  # prefix -> seconds its listing takes

    async def start(self) -> None: ...

    async def problem(self) -> str | None:
        return self.down

    async def close(self) -> None: ...

    async def inspect(self, uri: S3Uri, field: str) -> SourceInfo:
        await asyncio.sleep(self.slow.get(str(uri), 0.0))
        if str(uri) in self.empty:
            raise InvalidRequest([FieldProblem(field, "no_objects", f"nothing under {uri}")])
        return SourceInfo(file_count=self.files, total_bytes=self.files * self.size)


class FakeStats:
    def __init__(self) -> None:
        self.queued = 0
        self.load: dict[str, TenantLoad] = {}

    async def queue(self) -> list[Mapping[str, Any]]:
        return []

    async def queued_count(self) -> int:
        return self.queued

    async def tenant_load(self, tenant: str) -> TenantLoad:
        return self.load.get(tenant, TenantLoad(0, 0))

    async def throughput(self, window: int) -> Throughput:
        return Throughput(0, None, None)

    async def benchmark(self, tenant: str) -> list[Mapping[str, Any]]:
        return []


class FakeKeys:
    """Idempotency records in a dict (the real table is tested in integration)."""

    def __init__(self) -> None:
        self.records: dict[tuple[str, str], KeyRecord] = {}

    async def find(self, tenant: str, key: str) -> KeyRecord | None:
        return self.records.get((tenant, key))

    async def claim(
        self, tenant: str, key: str, print_: str, job_id: uuid.UUID, response: Mapping[str, Any]
    ) -> KeyRecord | None:
        if (tenant, key) in self.records:
            return self.records[(tenant, key)]
        self.records[(tenant, key)] = KeyRecord(print_, job_id, dict(response), published=False)
        return None

    async def take_over(
        self, tenant: str, key: str, print_: str, response: Mapping[str, Any]
    ) -> bool:
        old = self.records.get((tenant, key))
        if old is None or old.published or not old.abandoned or old.fingerprint != print_:
            return False
        self.records[(tenant, key)] = KeyRecord(print_, old.job_id, dict(response), False)
        return True

    async def published(self, tenant: str, key: str) -> None:
        old = self.records[(tenant, key)]
        self.records[(tenant, key)] = KeyRecord(old.fingerprint, old.job_id, old.response, True)

    async def release(self, tenant: str, key: str) -> None:
        self.records.pop((tenant, key), None)


class FakeProductIndex:
    """Products and images as the progress service projects them; volumes from the instance
    rows of a study index fake (`instance_rows`, shared with it)."""

    def __init__(self, instance_rows: list[dict[str, Any]], bucket: str = "dicompress-data"):
        self.instance_rows = instance_rows
        self.bucket = bucket
        self.product_rows: list[dict[str, Any]] = []
        self.image_rows: list[dict[str, Any]] = []

    async def products(self, tenant: str, study_uid: str) -> list[Mapping[str, Any]]:
        rows = [
            r
            for r in self.product_rows
            if (r["tenant"], r["study_instance_uid"]) == (tenant, study_uid)
        ]
        return sorted(rows, key=lambda r: (r["requested_at"], r["job_id"]), reverse=True)

    async def images(self, job_ids: Any) -> list[Mapping[str, Any]]:
        return [r for r in self.image_rows if r["job_id"] in set(job_ids)]

    async def volumes(self, tenant: str, study_uid: str) -> list[Mapping[str, Any]]:
        by_series: dict[str, list[dict[str, Any]]] = {}
        for row in self.instance_rows:
            if (row["tenant"], row["study_instance_uid"], row["kind"]) == (
                tenant,
                study_uid,
                "image",
            ):
                by_series.setdefault(row["series_instance_uid"], []).append(row)
        return [
            {
                "series_instance_uid": uid,
                "modality": rows[0]["modality"],
                "uids": [r["sop_instance_uid"] for r in sorted(rows, key=_by_uid)],
                "digests": [r["sha256"] for r in sorted(rows, key=_by_uid)],
                "positions": [r["position"] for r in sorted(rows, key=_by_uid)],
                "bucket": self.bucket,
            }
            for uid, rows in sorted(by_series.items())
        ]


def _by_uid(row: Mapping[str, Any]) -> str:
    return str(row["sop_instance_uid"])


def product_row(
    event: ProductRequested,
    status: str,
    requested_at: datetime,
    slices: int,
    **more: Any,
) -> dict[str, Any]:
    """The row the progress worker projects for `event` once it is `status`, its `slices` all
    done when completed; `more` sets the other columns (an artifact, an error)."""
    return {
        "tenant": event.tenant,
        "study_instance_uid": event.study_instance_uid,
        "job_id": event.job_id,
        "kind": event.kind.value,
        "series_instance_uid": event.series_instance_uid,
        "params": orjson.dumps(event.params.model_dump(mode="json")).decode(),
        "product_key": event.product_key,
        "trigger": event.trigger,
        "target_uri": event.target_uri,
        "requested_at": requested_at,
        "status": status,
        "slices_total": slices,
        "slices_done": slices if status == "completed" else 0,
        "slices_failed": 0,
        "started_at": None,
        "finished_at": None,
        "wall_ms": None,
        "error_code": None,
        "reason": None,
        **more,
    }


class FakeStudyIndex:
    """Rows as the progress service writes them, for two tenants."""

    def __init__(self) -> None:
        self.studies_rows: list[dict[str, Any]] = []
        self.series_rows: list[dict[str, Any]] = []
        self.instance_rows: list[dict[str, Any]] = []
        self.ingest_rows: list[dict[str, Any]] = []
        self.bucket: str | None = "dicompress-data"

    def add_study(self, tenant: str, uid: str, received: int = 0) -> uuid.UUID:
        sid = study_id(tenant, uid)
        self.studies_rows.append(
            {
                "tenant": tenant,
                "study_id": sid,
                "study_instance_uid": uid,
                "patient_name": "Doe^Jane",
                "modalities": ["CT"],
                "series_count": 1,
                "instance_count": 3,
                "image_count": 3,
                "non_image_count": 0,
                "bytes": 30,
                "received_at": T0 + timedelta(minutes=received),
                "last_stored_at": T0 + timedelta(minutes=received),
            }
        )
        self.series_rows.append(
            {
                "tenant": tenant,
                "study_instance_uid": uid,
                "series_instance_uid": AXIAL,
                "modality": "CT",
                "series_number": 2,
                "series_description": "Axial",
                "sop_class_uids": ["1.2.840.10008.5.1.4.1.1.2"],
                "instance_count": 3,
                "image_count": 3,
                "non_image_count": 0,
                "frame_count": 3,
                "bytes": 30,
            }
        )
        history = IngestHistory(tenant)
        for n, z in ((1, 5.0), (2, -5.0), (3, 0.0)):
            row = asdict(instance_row(history.image(z=z, number=n, study_uid=uid)))
            self.instance_rows.append(row)
        return sid

    async def studies(
        self, tenant: str, limit: int, after: Cursor | None
    ) -> list[Mapping[str, Any]]:
        def key(row: Mapping[str, Any]) -> tuple[Any, uuid.UUID]:
            return (row["received_at"], row["study_id"])

        rows = [
            r
            for r in self.studies_rows
            if r["tenant"] == tenant
            and (after is None or key(r) < (after.requested_at, after.job_id))
        ]
        return sorted(rows, key=key, reverse=True)[:limit]

    async def study(self, tenant: str, sid: uuid.UUID) -> Mapping[str, Any] | None:
        found = [r for r in self.studies_rows if (r["tenant"], r["study_id"]) == (tenant, sid)]
        return found[0] if found else None

    async def series(self, tenant: str, study_uid: str) -> list[Mapping[str, Any]]:
        return [
            r
            for r in self.series_rows
            if (r["tenant"], r["study_instance_uid"]) == (tenant, study_uid)
        ]

    async def instances(
        self, tenant: str, study_uid: str, series_uid: str | None = None
    ) -> list[Mapping[str, Any]]:
        return [
            r
            for r in self.instance_rows
            if (r["tenant"], r["study_instance_uid"]) == (tenant, study_uid)
            and series_uid in (None, r["series_instance_uid"])
        ]

    async def study_ingests(self, tenant: str, study_uid: str) -> list[Mapping[str, Any]]:
        return []

    async def rejections(
        self, tenant: str, ingest_ids: Sequence[uuid.UUID]
    ) -> list[Mapping[str, Any]]:
        return []

    async def ingest(self, tenant: str, ingest_id: uuid.UUID) -> Mapping[str, Any] | None:
        found = [
            r for r in self.ingest_rows if (r["tenant"], r["ingest_id"]) == (tenant, ingest_id)
        ]
        return found[0] if found else None

    async def ingest_studies(self, tenant: str, ingest_id: uuid.UUID) -> list[Mapping[str, Any]]:
        return []

    async def unfiled(self, tenant: str, ingest_id: uuid.UUID) -> list[Mapping[str, Any]]:
        return []

    async def source_bucket(
        self, tenant: str, study_uid: str, series_uid: str | None
    ) -> str | None:
        return self.bucket


def bearer(settings: ApiSettings, tenant: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(SECRET, tenant, settings.jwt_audience)}"}
