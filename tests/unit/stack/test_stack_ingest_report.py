"""After `dicompress upload`: following the ingest by polling (against a fake API) and what is
printed of the studies it became."""

from __future__ import annotations

import io
from typing import Any

import pytest

from dicompress_stack.client import ClientError
from dicompress_stack.ingest_report import describe, follow_ingest, study_ids

INGEST = "7d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6"
STUDY = "a0c5d3c9-1f34-5a6b-9c7d-0e1f2a3b4c5d"


def ingest(status: str, members: int, rejected: int = 0, **more: Any) -> dict[str, Any]:
    return {
        "ingestId": INGEST,
        "status": status,
        "counts": {
            "members": members,
            "instances": members - rejected,
            "images": members - rejected - 1 if members > rejected else 0,
            "nonImages": 1 if members > rejected else 0,
            "rejected": rejected,
            "skipped": 2,
        },
        "rejections": [],
        "studies": [],
        **more,
    }


class FakeApi:
    """Answers GET /ingests/{id} from a script, one answer per poll (an exception is raised)."""

    def __init__(self, answers: list[Any]) -> None:
        self.answers = answers
        self.paths: list[str] = []

    def get(self, path: str) -> Any:
        self.paths.append(path)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


def test_polls_until_the_ingest_ends_printing_each_change_once() -> None:
    done = ingest("completed", 6, 1, studies=[{"id": STUDY}])
    api = FakeApi(
        [
            ClientError("not projected yet", status=404),
            ingest("queued", 0),
            ingest("running", 3),
            ingest("running", 3),
            done,
        ]
    )
    out = io.StringIO()
    naps: list[float] = []
    assert follow_ingest(api.get, INGEST, out, sleep=naps.append) == done
    assert api.paths == [f"/ingests/{INGEST}"] * 5
    assert out.getvalue().splitlines() == [
        "ingest queued: 0 members, 0 stored (0 images, 0 non-image)",
        "ingest running: 3 members, 3 stored (2 images, 1 non-image)",
        "ingest completed: 6 members, 5 stored (4 images, 1 non-image), 1 rejected",
    ]
    assert naps == [1.0] * 4
    assert study_ids(done) == [STUDY]


def test_gives_up_after_the_timeout_and_passes_other_errors_on() -> None:
    clock = iter(range(100))
    api = FakeApi([ingest("running", 1)])
    with pytest.raises(ClientError, match="did not end within 3 s"):
        follow_ingest(
            api.get,
            INGEST,
            io.StringIO(),
            timeout_s=3,
            sleep=lambda _: None,
            clock=lambda: next(clock),
        )
    broken = FakeApi([ClientError("boom", status=500)])
    with pytest.raises(ClientError, match="boom"):
        follow_ingest(broken.get, INGEST, io.StringIO(), sleep=lambda _: None)


def test_describes_series_non_images_and_rejections() -> None:
    done = ingest(
        "completed",
        9,
        2,
        rejections=[
            {"member": "notes.txt", "reason": "not a DICOM file", "errorCode": "not-dicom"},
            {"member": "cut.dcm", "reason": "the file ends early", "errorCode": "truncated"},
        ],
    )
    study = {
        "id": STUDY,
        "studyDescription": "CT HEAD",
        "studyDate": "20261206",
        "patientId": "P-1",
        "instanceCount": 7,
        "series": [
            {
                "seriesNumber": 2,
                "modality": "CT",
                "seriesDescription": "axial",
                "imageCount": 5,
                "nonImageCount": 0,
                "rows": 512,
                "columns": 512,
                "spacing": {"mean": 1.25, "min": 1.25, "max": 1.25, "uniform": True},
            },
            {"seriesNumber": None, "modality": "SR", "imageCount": 0, "nonImageCount": 1},
        ],
        "nonImages": [
            {"member": "DICOMDIR", "modality": None, "sopClassUid": "1.2.840.10008.1.3.10"}
        ],
    }
    assert describe(done, [study]) == [
        f"ingest {INGEST} completed: 7 objects stored from 9 members, 2 rejected, 2 skipped",
        f"study {STUDY} CT HEAD 20261206: 2 series, 7 objects (patient P-1)",
        "  series 2 CT 'axial': 5 images, 512x512, spacing 1.25 mm",
        "  series - SR: 0 images, 1 non-image",
        "  non-image objects (1):",
        "    DICOMDIR (-, Media Storage Directory Storage)",
        "rejected (2):",
        "  notes.txt: not a DICOM file [not-dicom]",
        "  cut.dcm: the file ends early [truncated]",
    ]
    failed = ingest("failed", 0, errorCode="not-an-archive", reason="this is not a ZIP")
    assert describe(failed, []) == [f"ingest {INGEST} failed: this is not a ZIP [not-an-archive]"]
