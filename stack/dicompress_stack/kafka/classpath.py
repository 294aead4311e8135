"""The broker's Java classpath, resolved by Maven once and cached under the pom's hash."""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import time
from importlib import resources
from pathlib import Path

from dicompress_stack.errors import StackError

log = logging.getLogger(__name__)

MAVEN_TIMEOUT_S = 900


def pom_bytes() -> bytes:
    return resources.files("dicompress_stack.kafka").joinpath("pom.xml").read_bytes()


def require_tool(name: str, install_hint: str) -> str:
    """The path of `name` on PATH, or a StackError that says how to install it."""
    path = shutil.which(name)
    if path is None:
        raise StackError(f"'{name}' is not on PATH; the embedded Kafka needs it ({install_hint})")
    return path


def require_java() -> str:
    return require_tool("java", "a JRE 17 or newer, e.g. apt-get install openjdk-17-jre-headless")


def resolve_classpath(cache_dir: Path) -> str:
    """The ':'-joined jar list of the broker, from the cache if its jars are all still there.

    Otherwise `mvn dependency:build-classpath` downloads the jars into ~/.m2 (about 20 s the
    first time) and writes the list, which we cache as classpath-<pom hash>.txt.
    """
    pom = pom_bytes()
    cached = cache_dir / f"classpath-{hashlib.sha256(pom).hexdigest()[:16]}.txt"
    if cached.exists():
        classpath = cached.read_text().strip()
        if classpath and all(Path(jar).is_file() for jar in classpath.split(os.pathsep)):
            return classpath
    mvn = require_tool("mvn", "e.g. apt-get install maven")
    require_java()
    work = cache_dir / "maven"
    work.mkdir(parents=True, exist_ok=True)
    (work / "pom.xml").write_bytes(pom)
    partial = work / f"classpath.{os.getpid()}.tmp"
    started = time.monotonic()
    log.info("resolving the Kafka jars with Maven (about 20 s the first time)")
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
        raise StackError(f"Maven did not resolve the Kafka jars in {MAVEN_TIMEOUT_S} s") from exc
    if done.returncode != 0 or not partial.exists():
        output = "\n".join((done.stdout + done.stderr).splitlines()[-30:])
        raise StackError(
            f"Maven could not resolve the Kafka jars (exit {done.returncode}); it needs Maven "
            f"Central or a filled ~/.m2. Output:\n{output}"
        )
    partial.replace(cached)
    log.info("Kafka jars resolved in %.1f s", time.monotonic() - started)
    return cached.read_text().strip()
