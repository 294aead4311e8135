"""Where the benches find the repository, write their results, and find the Kafka classpath."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
# the Maven classpath of the embedded Kafka, as the test suite caches it (tests/conftest.py)
CLASSPATH_CACHE = ROOT / ".pytest_cache/d/dicompress-kafka-classpath"


def classpath_cache() -> Path | None:
    """The cached classpath when the test suite has made it; None: the stack resolves it."""
    return CLASSPATH_CACHE if CLASSPATH_CACHE.is_dir() else None
