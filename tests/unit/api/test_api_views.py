import uuid

import pytest

from dicompress_api.jobs.answers import job_answer, progress


@pytest.mark.parametrize(
    ("status", "handled", "total", "expected"),
    [
        ("queued", 0, None, 0.0),
        ("running", 0, 0, 0.0),
        ("running", 3, 4, 0.75),
        ("running", 9, 4, 1.0),
        ("completed", 0, 0, 1.0),
        ("failed", 1, 4, 0.25),
    ],
)
def test_progress_is_a_share_of_handled_slices(
    status: str, handled: int, total: int | None, expected: float
) -> None:
    assert progress(status, handled, total) == expected


def test_a_sparse_row_still_makes_a_view() -> None:
    job = uuid.uuid4()
    view = job_answer({"job_id": job, "status": "queued", "slices_done": None}).model_dump(
        by_alias=True
    )
    assert view["jobId"] == job
    assert (view["slicesDone"], view["slicesFailed"], view["progress"]) == (0, 0, 0.0)
    assert view["timings"] == {
        "downloadMs": None,
        "encodeMs": None,
        "uploadMs": None,
        "wallMs": None,
    }
