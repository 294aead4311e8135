"""One truth for a job's figures (issue 17): at the same seq, `GET /jobs/{id}`, the CLI and the
viewer show the same slices/s, ETA and ratio, because each shows what the projection computed
(dicompress_schemas.figures) as it came: the API from the row, the CLI and the viewer from the
notifier's frame built from the change feed's payload of that very row.

The projected state is made by the contract's fold over a real event history, then carried
along each reader's own path: the API's view of the row; the change-feed payload, parsed as the
notifier parses it, into the notifier's frame; that frame into the CLI's `JobProgress` and into
the viewer's jobstate.js in Chromium (files served from disk), next to the viewer's reading of
the API's JSON."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from playwright.sync_api import sync_playwright
from tests.e2e.test_viewer_browser import _chromium, _serve_static
from tests.unit.progress.test_progress_detail import JOB, REQUESTED, STARTED, T0, encoded, fold

from dicompress_api.jobs.answers import job_answer
from dicompress_notifier.protocol import figures_frame
from dicompress_schemas import changefeed
from dicompress_stack.client import JobProgress
from dicompress_stack.watch import line

# Not marked e2e: no service runs here. The page's code (or the app, in-process) runs in
# Chromium on answers routed in; it lives beside the e2e tests because it needs the browser.
pytestmark = pytest.mark.timeout(120)

VIEWER = """async ([frame, view, now]) => {
  const { newJob, applyFrame, jobFromView, summary } = await import("/viewer/jobstate.js");
  const live = newJob(frame.job_id);
  applyFrame(live, frame);
  const pick = (s) => ({ rate: s.rate, eta: s.eta, ratio: s.ratio });
  return { live: pick(summary(live, now)), listed: pick(summary(jobFromView(view), now)) };
}"""


def _row(view: Any) -> dict[str, Any]:
    """The `jobs` row as Postgres hands it to the API (status as text)."""
    return {**view.__dict__, "status": view.status.value}


def test_api_cli_and_viewer_show_the_same_figures_at_the_same_seq(tmp_path: Path) -> None:
    # a running job: slices of two sizes and ratios, paced unevenly
    big = encoded(2, 4.5).model_copy(update={"bytes_in": 3000, "ratio": 12.5})
    view = fold([REQUESTED, STARTED, encoded(0, 3), encoded(1, 3.25), big])
    seq = view.last_seq
    assert seq is not None
    now = T0 + timedelta(seconds=5)

    api = job_answer(_row(view)).model_dump(mode="json", by_alias=True)
    change = changefeed.parse(changefeed.payload(view))  # what the notifier hears
    assert change.figures is not None
    assert change.last_seq == seq
    frame = orjson.loads(figures_frame(JOB, seq, change.figures))

    cli = JobProgress(str(JOB))
    assert cli.apply(frame)
    rate, eta, ratio = cli.shown(now)

    with sync_playwright() as playwright:
        browser = _chromium(playwright, tmp_path / "chromium-profile")
        try:
            page = browser.new_page()
            page.route("http://viewer.test/**", _serve_static)
            page.goto("http://viewer.test/viewer/blank.html")
            now_ms = now.timestamp() * 1000
            viewer = page.evaluate(VIEWER, [frame, api, now_ms])
        finally:
            browser.close()

    figures = api["figures"]
    assert api["lastSeq"] == seq
    # (1000 + 1000 + 3000) bytes over 1000/20 + 1000/20 + 3000/12.5 codestream bytes
    assert figures["ratio"] == pytest.approx(5000 / 340)
    assert figures["slicesPerSecond"] == pytest.approx(1000 / view.slice_interval_ms)
    api_eta = (datetime.fromisoformat(figures["etaAt"]) - now).total_seconds()
    expected = {"rate": figures["slicesPerSecond"], "eta": api_eta, "ratio": figures["ratio"]}
    assert {"rate": rate, "eta": eta, "ratio": ratio} == expected
    assert viewer["live"] == pytest.approx(expected)  # JSON numbers: float rounding only
    assert viewer["listed"] == pytest.approx(expected)
    # and the words: the CLI's line carries the same numbers
    assert f"{figures['slicesPerSecond']:.1f} slices/s" in line(cli, now)
    assert f"ratio {figures['ratio']:.1f}:1" in line(cli, now)
    assert now.tzinfo is UTC
