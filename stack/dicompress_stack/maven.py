"""Java classpaths of the embedded stack's JVM parts (Kafka, S3Proxy), resolved by Maven once
and cached under the hash of the pom that names them."""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

from dicompress_stack.errors import StackError

log = logging.getLogger(__name__)

MAVEN_TIMEOUT_S = 900
# Maven 3.8 does not lock ~/.m2: two resolutions at once (the backends start side by side) could
# each download a shared jar into the same file. One at a time; a cached classpath needs no lock.
_MAVEN_LOCK = threading.Lock()


def require_tool(name: str, install_hint: str) -> str:
    """The path of `name` on PATH, or a StackError that says how to install it."""
    path = shutil.which(name)
    if path is None:
        raise StackError(f"'{name}' is not on PATH; the embedded stack needs it ({install_hint})")
    return path


def require_java() -> str:
    return require_tool("java", "a JRE 17 or newer, e.g. apt-get install openjdk-17-jre-headless")


def resolve_classpath(pom: bytes, cache_dir: Path, what: str) -> str:
    """The ':'-joined jar list of the pom's dependencies, from the cache if its jars are all
    still there.

    Otherwise `mvn dependency:build-classpath` downloads the jars into ~/.m2 (20-80 s the first
    time) and writes the list, which we cache as classpath-<pom hash>.txt. `what` names the jars
    in messages ("the Kafka jars").
    """
    digest = hashlib.sha256(pom).hexdigest()[:16]
    cached = cache_dir / f"classpath-{digest}.txt"
    found = _cached_classpath(cached)
    if found is not None:
        return found
    mvn = require_tool("mvn", "e.g. apt-get install maven")
    require_java()
    with _MAVEN_LOCK:
        found = _cached_classpath(cached)  # resolved meanwhile by another thread
        if found is not None:
            return found
        _run_maven(mvn, pom, cache_dir / f"maven-{digest}", cached, what)
    return cached.read_text().strip()


def _cached_classpath(cached: Path) -> str | None:
    if not cached.exists():
        return None
    classpath = cached.read_text().strip()
    if classpath and all(Path(jar).is_file() for jar in classpath.split(os.pathsep)):
        return classpath
    return None


def _run_maven(mvn: str, pom: bytes, work: Path, cached: Path, what: str) -> None:
    work.mkdir(parents=True, exist_ok=True)
    (work / "pom.xml").write_bytes(pom)
    partial = work / f"classpath.{os.getpid()}.tmp"
    started = time.monotonic()
    log.info("resolving %s with Maven (20-80 s the first time)", what)
    try:
        done = subprocess.run(
            [
                mvn,
                "-q",
                "-B",
                "-f",
                str(work / "pom.xml"),
                "dependency:build-classpath",
                f"-Dmdep.outputFile={partial}",
            ],
            capture_output=True,
            text=True,
            timeout=MAVEN_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise StackError(f"Maven did not resolve {what} in {MAVEN_TIMEOUT_S} s") from exc
    if done.returncode != 0 or not partial.exists():
        output = "\n".join((done.stdout + done.stderr).splitlines()[-30:])
        raise StackError(
            f"Maven could not resolve {what} (exit {done.returncode}); it needs Maven "
            f"Central or a filled ~/.m2. Output:\n{output}"
        )
    partial.replace(cached)
    log.info("%s resolved in %.1f s", what, time.monotonic() - started)
