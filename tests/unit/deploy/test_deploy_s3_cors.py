"""The bucket's CORS rule (deploy/s3/cors.json) lets the viewer do what it does, and nothing else;
compose's S3Proxy is given the same methods (issue 15: the viewer reads and uploads straight to
S3 from its own origin)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from dicompress_api.web.viewer import STATIC_DIR

ROOT = Path(__file__).resolve().parents[3]
RULES = json.loads((ROOT / "deploy/s3/cors.json").read_text())["CORSRules"]


def _viewer_methods() -> set[str]:
    """The HTTP methods the viewer's scripts send to presigned S3 URLs: PUT for upload parts
    (XMLHttpRequest.open), GET for what <img> and fetch read (fetch's default, and HEAD with it)."""
    scripts = "\n".join(p.read_text() for p in STATIC_DIR.glob("*.js"))
    opened = set(re.findall(r'\.open\("([A-Z]+)"', scripts))
    return opened | {"GET", "HEAD"}


def test_the_rule_allows_the_viewers_methods_and_no_more() -> None:
    [rule] = RULES
    assert set(rule["AllowedMethods"]) == _viewer_methods() == {"GET", "HEAD", "PUT"}
    assert "*" not in rule["AllowedOrigins"]  # one origin: the viewer's, not the world
    assert all(origin.startswith("https://") for origin in rule["AllowedOrigins"])
    assert rule["AllowedHeaders"] == ["content-type"]


def test_compose_gives_s3proxy_the_same_rule_for_the_local_api() -> None:
    s3 = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["s3"]
    env = s3["environment"]
    [rule] = RULES
    assert set(env["S3PROXY_CORS_ALLOW_METHODS"].split()) == set(rule["AllowedMethods"])
    assert env["S3PROXY_CORS_ALLOW_HEADERS"].split() == rule["AllowedHeaders"]
    assert set(env["S3PROXY_CORS_ALLOW_ORIGINS"].split()) == {
        "http://127.0.0.1:18000",
        "http://localhost:18000",
    }
    assert "S3PROXY_CORS_ALLOW_ALL" not in env
