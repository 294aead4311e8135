"""What the demo shows a person: the progress line and the closing report."""

from __future__ import annotations

import io

from dicompress_stack.demo import report
from dicompress_stack.progressbar import ProgressBar, render


def test_render_shows_counts_rate_and_eta() -> None:
    line = render(212, 399, 0, rate=40.0, eta=4.7, width=10)
    assert line == "212/399 slices [#####.....] 40.0 slices/s, ETA 5 s"


def test_render_mentions_failures_and_unknown_eta() -> None:
    line = render(0, 20, 2, rate=0.0, eta=float("inf"), width=4)
    assert line == "0/20 slices [....] 0.0 slices/s, ETA ?, 2 failed"


def test_non_terminal_stream_prints_one_line_per_decile() -> None:
    out = io.StringIO()
    bar = ProgressBar(stream=out)
    for done in range(21):
        bar.update(done, 20)
    lines = out.getvalue().splitlines()
    assert [line.split(" ")[0] for line in lines] == [f"{d}/20" for d in range(0, 21, 2)]


def test_report_of_a_completed_job() -> None:
    event = {
        "type": "JobCompleted",
        "job_id": "j1",
        "slices_encoded": 399,
        "slices_failed": 0,
        "bytes_in": 209_934_546,
        "bytes_out": 2_097_152,
        "artifact_bytes": 2_200_000,
        "ratio": 99.6,
        "download_ms": 1840.0,
        "encode_ms": 17512.0,
        "upload_ms": 61.0,
        "wall_ms": 9947.0,
        "artifact_uri": "s3://dicompress-data/demo/results/j1.zip",
    }
    job = {"status": "completed", "slicesDone": 399, "slicesTotal": 399}
    text = report(event, job, 10.25)
    assert "399 slices encoded, 0 failed" in text
    assert "200.2 MiB -> 2.00 MiB" in text
    assert "99.6:1" in text
    assert "10.25 s from submit" in text
    assert "status=completed 399/399" in text
    assert text.endswith("s3://dicompress-data/demo/results/j1.zip")


def test_report_of_a_failed_job_gives_the_reason() -> None:
    event = {"type": "JobFailed", "job_id": "j2", "reason": "no object under s3://b/p/"}
    assert report(event, {}, 1.0) == "job j2 JobFailed: no object under s3://b/p/"
