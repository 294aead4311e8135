"""What `dicompress upload` and the demo print about the products made on upload."""

from __future__ import annotations

import io
from typing import Any

from dicompress_stack.products_report import describe_products, follow_products

URL = (
    "http://127.0.0.1:19000/dicompress-data/acme/products/1.2/1.2.3/thumbnails-ab/"
    "key-default-256.png?X-Amz-Signature=secret"
)


def product(kind: str, status: str, done: int, total: int | None, **more: Any) -> dict[str, Any]:
    return {
        "id": kind,
        "kind": kind,
        "seriesInstanceUid": "1.2.3",
        "status": status,
        "items": {"total": total, "done": done, "failed": 0},
        **more,
    }


def test_products_are_followed_to_their_end_a_line_per_state_or_tenth() -> None:
    answers = iter(
        [
            [],
            [product("preview", "queued", 0, None)],
            *[[product("preview", "running", n, 100)] for n in range(0, 101, 5)],
            [product("preview", "completed", 100, 100, wallMs=2500.0)],
        ]
    )
    out = io.StringIO()
    items = follow_products(
        lambda _: {"items": next(answers)}, "s", out, sleep=lambda _: None, clock=lambda: 0.0
    )
    assert items[0]["status"] == "completed"
    lines = out.getvalue().splitlines()
    assert lines[0].split() == ["preview", "series", "...1.2.3", "queued", "waiting"]
    assert len(lines) == 1 + 11 + 1  # queued, one per tenth (0..10), completed
    assert lines[-1].split()[-4:] == ["completed", "100", "of", "100"]


def test_no_product_within_the_wait_means_none_are_made() -> None:
    ticks = iter(range(100))
    items = follow_products(
        lambda _: {"items": []},
        "s",
        io.StringIO(),
        appear_s=3,
        sleep=lambda _: None,
        clock=lambda: float(next(ticks)),
    )
    assert items == []
    assert "none were made" in describe_products([])[0]


def test_the_report_says_where_each_lies_and_never_prints_a_signature() -> None:
    image = {
        "view": "key", "preset": "default", "size": 256, "format": "png",
        "width": 256, "height": 200, "url": URL, "fallback": None,
    }  # fmt: skip
    lines = describe_products(
        [
            product("thumbnails", "completed", 1, 1, wallMs=1200.0, images=[image]),
            product("preview", "failed", 0, 3, reason="the series has 2 images"),
        ]
    )
    text = "\n".join(lines)
    assert "in       s3://dicompress-data/acme/products/1.2/1.2.3/thumbnails-ab/" in text
    assert "key-default-256.png 256x200" in text
    assert "preview    failed    0 made, 0 failed, worker -: the series has 2 images" in text
    assert "Signature" not in text
