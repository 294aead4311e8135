"""tune_gc: the young threshold is raised and the start-up objects frozen, nothing disabled."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from dicompress_notifier.gctune import tune_gc
from dicompress_notifier.settings import NotifierSettings


@pytest.fixture
def restored_gc() -> Iterator[None]:
    """The test process's collector as it was, afterwards."""
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


def test_tune_gc_raises_the_young_threshold_and_freezes_what_is_alive(restored_gc: None) -> None:
    _, middle, old = gc.get_threshold()
    tune_gc(50_000)
    assert gc.get_threshold() == (50_000, middle, old)
    assert gc.get_freeze_count() > 0
    assert gc.isenabled()


def test_the_young_threshold_setting_refuses_less_than_cpythons_default() -> None:
    with pytest.raises(ValueError, match="notifier_gc_young_threshold"):
        NotifierSettings(notifier_gc_young_threshold=100)
