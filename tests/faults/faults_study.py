"""The study fault scenario (issue 16 item 6): one study uploaded, and each service that turns it
into products killed with SIGKILL while it is at work, then started again: the ingest mid-ingest,
the products process manager around the IngestCompleted, the renderer mid-render.

Each kill first freezes the service (SIGSTOP, with its children) and reads the log to its end:
what the frozen process had written is then exactly what the log holds, so the run records, not
guesses, that the harm came before the thing ended (no IngestCompleted yet; no product asked
for yet; not every rendered product ended). The process manager cannot finish before it is
killed: the ingest's row is held locked (SELECT ... FOR UPDATE) from before the ingest's re-run
until the kill, so the projection cannot show the ingest completed, and the manager waits for
that before it asks for anything (a slow projection, not a harm: the lock only delays it).

Then, once every product has ended: the ingest completed, the study index holds every instance
of the export, every product completed with each of its items once (products, product_images,
the images in S3), and the projection equals a replay of the log. Shared by the fault test and
bench/bench_faults.py --study.
"""

from __future__ import annotations

import asyncio
import io
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import psutil
from faults_check import replay_check
from faults_log import LogTail
from faults_rig import TENANT, Rig, wait_for

from dicompress_schemas import (
    IngestCompleted,
    IngestFailed,
    InstanceStored,
    ProductRequested,
    Topics,
    study_id,
)
from dicompress_stack.synthetic_study import StudyManifest, StudySpec, write_study
from dicompress_stack.testing import s3_client
from dicompress_stack.upload import send
from dicompress_stack.upload_source import source_of

SPEC = StudySpec(seed=7, slices=16, size=64, scout_size=64, layout="pacs")
STUDY_SERVICES = ("ingest", "products", "renderer")
KINDS = ("preview", "thumbnails", "snapshot")
RENDERED = frozenset({"thumbnails", "snapshot"})
TERMINAL = frozenset({"JobCompleted", "JobFailed", "JobCancelled"})
ENDED = frozenset({"completed", "failed", "cancelled"})


@dataclass(frozen=True)
class Kill:
    """One SIGKILL: of which service, when, what the log held when it died, and whether that was
    before the thing it was doing had ended."""

    role: str
    at_s: float  # after the upload was accepted
    held: dict[str, int]  # what the log held at the kill (counts)
    mid: bool
    away_s: float  # from the freeze until the new process was healthy


@dataclass(frozen=True)
class ProductOutcome:
    series: str
    kind: str
    status: str
    items_total: int | None
    items_done: int
    items_failed: int
    rows: int  # product_images rows (rendered) or job_slices rows (preview)
    distinct_keys: int
    s3_objects: int | None  # under the product's target prefix (rendered products)


@dataclass(frozen=True)
class StudyOutcome:
    ingest_status: str | None
    index_expected: dict[str, int]  # series uid -> instances in the export
    index_found: dict[str, int]  # series uid -> instances in the study index
    products: list[ProductOutcome]
    volumes: int
    replay_equal: bool
    replay_report: str

    def problems(self) -> list[str]:
        found = [] if self.replay_equal else [f"projection != replay:\n{self.replay_report}"]
        if self.ingest_status != "completed":
            found.append(f"the ingest ended {self.ingest_status}")
        if self.index_found != self.index_expected:
            found.append(f"study index {self.index_found} != export {self.index_expected}")
        pairs = Counter((p.series, p.kind) for p in self.products)
        if sorted(pairs.values()) != [1] * (len(KINDS) * self.volumes):
            found.append(f"products by series and kind: {dict(pairs)}")
        for product in self.products:
            whole = (
                product.status == "completed"
                and product.items_total is not None
                and product.items_done == product.rows == product.distinct_keys
                and product.items_done == product.items_total
                and product.items_failed == 0
                and product.s3_objects in (None, product.items_total)
            )
            if not whole:
                found.append(f"product not whole or doubled: {product}")
        return found

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class StudyFaultRun:
    scenario: str
    what: str
    slices: int
    kills: list[Kill]
    all_ended_s: float  # from the upload until every product had ended in the projection
    services_died: list[str]
    outcome: StudyOutcome

    def problems(self) -> list[str]:
        found = self.outcome.problems()
        found += [
            f"{k.role} killed after its work had ended: {k.held}" for k in self.kills if not k.mid
        ]
        if self.services_died:
            found.append(f"services died: {self.services_died}")
        return found

    def as_dict(self) -> dict[str, Any]:
        data = {k: v for k, v in self.__dict__.items() if k != "outcome"}
        data["kills"] = [asdict(k) for k in self.kills]
        return data | {"outcome": self.outcome.as_dict(), "problems": self.problems()}


STUDY_SCENARIO = "study-kill9"
STUDY_WHAT = (
    "one study: SIGKILL the ingest mid-ingest, the products manager around the "
    "IngestCompleted, the renderer mid-render; each started again"
)


@dataclass
class _Study:
    """What the log says about the study's ingest and products so far."""

    ingest_id: uuid.UUID
    study_uid: str
    tail: LogTail
    expected_products: int
    kills: list[Kill] = field(default_factory=list)

    def ingest(self, kind: type) -> list[Any]:
        return [
            e
            for e in self.tail.events
            if isinstance(e, kind) and getattr(e, "ingest_id", None) == self.ingest_id
        ]

    def ingest_ended(self) -> bool:
        return bool(self.ingest(IngestCompleted) or self.ingest(IngestFailed))

    def requests(self, kinds: frozenset[str] = frozenset(KINDS)) -> dict[uuid.UUID, str]:
        """Product job id -> kind, of the study's ProductRequested on the log."""
        return {
            e.job_id: e.kind.value
            for e in self.tail.events
            if isinstance(e, ProductRequested)
            and e.study_instance_uid == self.study_uid
            and e.kind.value in kinds
        }

    def of_jobs(
        self, jobs: set[uuid.UUID] | dict[uuid.UUID, str], types: frozenset[str]
    ) -> list[Any]:
        return [
            e
            for e in self.tail.events
            if getattr(e, "job_id", None) in jobs and getattr(e, "type", None) in types
        ]

    def ended(self, jobs: set[uuid.UUID] | dict[uuid.UUID, str]) -> set[uuid.UUID]:
        return {e.job_id for e in self.of_jobs(jobs, TERMINAL)}


def freeze(rig: Rig, role: str) -> None:
    """SIGSTOP the service of `role` and its children: from now on it writes nothing."""
    process = psutil.Process(rig.services[role].process.pid)
    for victim in [process, *process.children(recursive=True)]:
        victim.suspend()


async def crash(
    rig: Rig,
    study: _Study,
    role: str,
    began: float,
    held: Callable[[], tuple[dict[str, int], bool]],
    before_restart: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """Freeze `role`, read the log to its end, note what it held (`held`: counts, and whether
    the work was still unfinished), SIGKILL it with its children and start it again."""
    frozen = time.monotonic()
    freeze(rig, role)
    await study.tail.caught_up()
    counts, mid = held()
    rig.kill9(role)
    if before_restart is not None:
        await before_restart()
    await asyncio.to_thread(rig.start, role)
    study.kills.append(
        Kill(role, round(frozen - began, 2), counts, mid, round(time.monotonic() - frozen, 2))
    )


async def run_study_faults(rig: Rig, workdir: Path, timeout_s: float = 120.0) -> StudyFaultRun:
    """Upload SPEC's study with the three kills on the way; wait until every product has ended;
    gather the outcome."""
    missing = [role for role in STUDY_SERVICES if role not in rig.services]
    # one store thread: the first run of the ingest stores one member at a time, so it is still
    # at work well after its first InstanceStored reaches the log (its restart has the default)
    slow = {"ingest": {"INGEST_STORE_THREADS": "1"}}
    await asyncio.gather(*(asyncio.to_thread(rig.start, r, slow.get(r)) for r in missing))
    topics = Topics(prefix=rig.env["TOPIC_PREFIX"])
    tail = LogTail(
        rig.env["KAFKA_BOOTSTRAP_SERVERS"],
        [topics.ingest_events, *topics.compressor_requests, topics.render_requests, topics.events],
        frozenset({topics.ingest_events}),
    )
    await tail.start()
    try:
        manifest = await asyncio.to_thread(write_study, SPEC, workdir / "export")
        return await _run(rig, workdir, manifest, tail, timeout_s)
    finally:
        await tail.close()


async def _run(
    rig: Rig, workdir: Path, manifest: StudyManifest, tail: LogTail, timeout_s: float
) -> StudyFaultRun:
    volumes = {s.series_uid for s in manifest.series if s.role == "ct-slice"}
    api = rig.services["api"].base_url
    began = time.monotonic()
    accepted = await asyncio.to_thread(
        send,
        api,
        rig.token,
        source_of(workdir / "export"),
        err=io.StringIO(),
        environ={"XDG_CACHE_HOME": str(workdir / "cache")},
    )
    study = _Study(
        uuid.UUID(accepted["ingestId"]), manifest.study_uid, tail, len(KINDS) * len(volumes)
    )

    # 1. the ingest, once it has stored an instance and before it has ended
    await wait_for(
        lambda: study.ingest(InstanceStored), "the ingest to store an instance", timeout_s, 0.01
    )

    def ingest_held() -> tuple[dict[str, int], bool]:
        stored = len(study.ingest(InstanceStored))
        return {"instances_stored": stored}, not study.ingest_ended()

    lock = _IngestRowLock(rig.env["DATABASE_URL"], study.ingest_id)
    try:
        await crash(rig, study, "ingest", began, ingest_held, lock.take)

        # 2. the process manager, with the IngestCompleted on its topic, nothing asked for yet
        await wait_for(study.ingest_ended, "the re-run ingest to end", timeout_s, 0.02)

        def manager_held() -> tuple[dict[str, int], bool]:
            asked = len(study.requests())
            return {"products_requested": asked}, asked == 0

        await crash(rig, study, "products", began, manager_held, lock.release)
    finally:
        await lock.release()

    # 3. the renderer, once it has stored an image and before all its products have ended
    await wait_for(
        lambda: study.of_jobs(study.requests(RENDERED), frozenset({"ImageRendered"})),
        "the renderer to store an image",
        timeout_s,
        0.01,
    )

    def renderer_held() -> tuple[dict[str, int], bool]:
        rendered = study.requests(RENDERED)
        ended = len(study.ended(rendered))
        images = len(study.of_jobs(rendered, frozenset({"ImageRendered"})))
        counts = {"rendered_products": len(rendered), "ended": ended, "images": images}
        return counts, ended < len(RENDERED) * len(volumes)

    await crash(rig, study, "renderer", began, renderer_held)

    # every product ends (on the log, then in the projection the API answers from)
    await wait_for(
        lambda: (
            len(study.requests()) == study.expected_products
            and study.ended(study.requests()) == set(study.requests())
        ),
        "every product to end",
        timeout_s,
        0.1,
    )
    study_key = str(study_id(TENANT, manifest.study_uid))
    await _settled(api, rig.token, study_key, study.expected_products, timeout_s)
    ended = time.monotonic()
    outcome = await _outcome(rig, study, manifest, len(volumes))
    return StudyFaultRun(
        scenario=STUDY_SCENARIO,
        what=STUDY_WHAT,
        slices=SPEC.slices,
        kills=study.kills,
        all_ended_s=round(ended - began, 2),
        services_died=rig.dead(),
        outcome=outcome,
    )


class _IngestRowLock:
    """Holds the ingest's row locked (FOR UPDATE) in an open transaction: the progress worker
    cannot mark it completed until `release` (it waits on the lock, then goes on)."""

    def __init__(self, database_url: str, ingest_id: uuid.UUID) -> None:
        self.database_url, self.ingest_id = database_url, ingest_id
        self.conn: asyncpg.Connection | None = None

    async def take(self) -> None:
        conn = await asyncpg.connect(self.database_url, timeout=10)
        self.conn = conn

        async def projected() -> bool:
            row = await conn.fetchval("SELECT 1 FROM ingests WHERE ingest_id = $1", self.ingest_id)
            return row is not None

        await wait_for(projected, "the ingest's row in the projection", 30, 0.05)
        await conn.execute("BEGIN")
        status = await conn.fetchval(
            "SELECT status FROM ingests WHERE ingest_id = $1 FOR UPDATE", self.ingest_id
        )
        if status == "completed":
            raise AssertionError("the ingest was projected completed before its re-run")

    async def release(self) -> None:
        conn, self.conn = self.conn, None
        if conn is not None:
            await conn.close()  # the transaction ends with the session: the lock is gone


async def _settled(api: str, token: str, study: str, count: int, within_s: float) -> None:
    """Until GET /studies/{id} lists `count` products and none is queued or running."""
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=api, headers=headers, timeout=30) as http:

        async def settled() -> bool:
            answer = await http.get(f"/studies/{study}")
            if answer.status_code != 200:
                return False
            products = answer.json()["products"]
            return len(products) >= count and all(p["status"] in ENDED for p in products)

        await wait_for(settled, "the API to show every product ended", within_s, 0.2)


_PRODUCTS = """
SELECT p.job_id, p.series_instance_uid, p.kind, p.target_uri, j.status, j.slices_total,
       j.slices_done, j.slices_failed,
       CASE WHEN p.kind = 'preview'
            THEN (SELECT count(*) FROM job_slices s WHERE s.job_id = p.job_id)
            ELSE (SELECT count(*) FROM product_images i WHERE i.job_id = p.job_id) END AS rows,
       CASE WHEN p.kind = 'preview'
            THEN (SELECT count(DISTINCT slice_key) FROM job_slices s WHERE s.job_id = p.job_id)
            ELSE (SELECT count(DISTINCT key) FROM product_images i WHERE i.job_id = p.job_id)
       END AS keys
FROM products p JOIN jobs j USING (job_id)
WHERE p.tenant = $1 AND p.study_instance_uid = $2
ORDER BY p.series_instance_uid, p.kind
"""

_INDEX = """
SELECT series_instance_uid, count(*) AS n FROM study_instances
WHERE tenant = $1 AND study_instance_uid = $2 GROUP BY series_instance_uid
"""


async def _outcome(rig: Rig, study: _Study, manifest: StudyManifest, volumes: int) -> StudyOutcome:
    conn = await asyncpg.connect(rig.env["DATABASE_URL"], timeout=10)
    try:
        status = await conn.fetchval(
            "SELECT status FROM ingests WHERE ingest_id = $1", study.ingest_id
        )
        index = {
            r["series_instance_uid"]: r["n"]
            for r in await conn.fetch(_INDEX, TENANT, manifest.study_uid)
        }
        rows = await conn.fetch(_PRODUCTS, TENANT, manifest.study_uid)
    finally:
        await conn.close()
    expected = Counter(
        f.series_uid for f in manifest.files if f.series_uid is not None and f.role != "dicomdir"
    )
    products = [
        ProductOutcome(
            series=r["series_instance_uid"],
            kind=r["kind"],
            status=r["status"],
            items_total=r["slices_total"],
            items_done=r["slices_done"],
            items_failed=r["slices_failed"],
            rows=r["rows"],
            distinct_keys=r["keys"],
            s3_objects=(
                await asyncio.to_thread(_objects, rig, r["target_uri"])
                if r["kind"] in RENDERED
                else None
            ),
        )
        for r in rows
    ]
    equal, report = await replay_check(rig)
    return StudyOutcome(status, dict(expected), index, products, volumes, equal, report)


def _objects(rig: Rig, target_uri: str) -> int:
    """Objects under a product's target prefix (its images: one key per image)."""
    prefix = target_uri.removeprefix(f"s3://{rig.bucket}/")
    pages = s3_client(rig.env).get_paginator("list_objects_v2")
    return sum(
        len(page.get("Contents", [])) for page in pages.paginate(Bucket=rig.bucket, Prefix=prefix)
    )
