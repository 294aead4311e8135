"""A snapshot waiting behind its series' thumbnails is rendered while they are made
(`RenderRunner.anticipate`): its run then stores those very pictures without rendering again;
pictures made from other objects than its run finds are not used, and a run whose volume was
not kept does not wait for them."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from renderer_phantom import PhantomSpec, series
from test_renderer_volume_cache import (
    PREFIX,
    SNAPSHOT,
    THUMBNAILS,
    snapshot_images,
    stored_series,
)

from dicompress_renderer import runner as runner_module
from dicompress_renderer.runner import RenderRunner
from dicompress_renderer.volume_cache import VolumeCache
from dicompress_schemas import EventBase, JobCompleted, ProductRequested
from dicompress_schemas.products import SnapshotParams, ThumbnailParams, product_request

from renderer_fakes import FakeS3  # isort: skip


def _request(params: ThumbnailParams | SnapshotParams) -> ProductRequested:
    return product_request(
        tenant="acme",
        bucket="bucket",
        study_uid="1.2.3",
        series_uid="1.2.3.4",
        source_version="a" * 64,
        params=params,
        trigger="upload",
    )


async def _emit(event: EventBase) -> None:
    return None


@pytest.fixture
def renders(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """When each rendering of snapshots started (time.monotonic)."""
    started: list[float] = []
    real = runner_module.make_snapshots

    async def counted(*args: Any) -> Any:
        started.append(time.monotonic())
        return await real(*args)

    monkeypatch.setattr(runner_module, "make_snapshots", counted)
    return started


async def _until(condition: Any, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline
        await asyncio.sleep(0.01)


async def test_the_snapshot_rendered_ahead_is_the_one_stored_and_not_rendered_again(
    renders: list[float],
) -> None:
    objects = series(PhantomSpec())
    s3 = stored_series(objects)
    runner = RenderRunner(client=s3, emit=_emit, worker="r-1", volumes=VolumeCache(1))
    snapshot = _request(SNAPSHOT)
    runner.anticipate(snapshot)  # told while the thumbnails' request starts
    assert isinstance(await runner.run(_request(THUMBNAILS)), JobCompleted)
    await _until(lambda: len(renders) == 1)  # rendered from the volume the thumbnails kept
    snapshot_started = time.monotonic()
    assert isinstance(await runner.run(snapshot), JobCompleted)
    assert renders[0] < snapshot_started
    assert len(renders) == 1  # not rendered again
    ahead = snapshot_images(s3)
    assert ahead

    cold = stored_series(objects)  # the same series on a renderer told nothing
    plain = RenderRunner(client=cold, emit=_emit, worker="r-2", volumes=VolumeCache(1))
    await plain.run(_request(THUMBNAILS))
    await plain.run(_request(SNAPSHOT))
    assert snapshot_images(cold) == ahead  # the same pictures, byte for byte


async def test_pictures_of_other_objects_than_the_run_finds_are_not_used(
    renders: list[float],
) -> None:
    objects = series(PhantomSpec())
    s3 = stored_series(objects)
    runner = RenderRunner(client=s3, emit=_emit, worker="r-1", volumes=VolumeCache(1))
    snapshot = _request(SNAPSHOT)
    runner.anticipate(snapshot)
    await runner.run(_request(THUMBNAILS))
    await _until(lambda: len(renders) == 1)
    del s3.objects[f"{PREFIX}0000.dcm"]  # the series changed before the snapshot's turn
    assert isinstance(await runner.run(snapshot), JobCompleted)
    assert len(renders) == 2  # made again, from what is there now


async def test_a_snapshot_whose_volume_was_not_kept_does_not_wait_for_it(
    renders: list[float],
) -> None:
    s3: FakeS3 = stored_series(series(PhantomSpec()))
    runner = RenderRunner(client=s3, emit=_emit, worker="r-1", volumes=VolumeCache(1))
    snapshot = _request(SNAPSHOT)
    runner.anticipate(snapshot)  # but no thumbnails run keeps the volume
    started = time.monotonic()
    assert isinstance(await runner.run(snapshot), JobCompleted)
    assert time.monotonic() - started < runner_module.AHEAD_WAIT_S / 4
    assert len(renders) == 1  # its own
