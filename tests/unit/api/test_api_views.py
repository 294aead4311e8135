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


@pytest.mark.parametrize(
    ("status", "total", "done", "failed", "expected"),
    [
        ("running", 141, 6, 0, None),
        ("completed", 141, 141, 0, "completed"),
        ("completed", 141, 138, 3, "completed-with-failures"),
        ("completed", 141, 6, 0, "completed-with-failures"),  # 135 never handled: not a success
        ("failed", 141, 6, 0, "failed"),
        ("cancelled", 141, 6, 0, "cancelled"),
    ],
)
def test_the_answer_says_how_the_job_ended(
    status: str, total: int, done: int, failed: int, expected: str | None
) -> None:
    row = {"job_id": uuid.uuid4(), "status": status, "slices_total": total}
    answer = job_answer({**row, "slices_done": done, "slices_failed": failed})
    assert answer.model_dump(mode="json", by_alias=True)["outcome"] == expected
