"""The broker's Java classpath, resolved by Maven once and cached under the pom's hash."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from dicompress_stack import maven
from dicompress_stack.maven import require_java, require_tool

__all__ = ["pom_bytes", "require_java", "require_tool", "resolve_classpath"]


def pom_bytes() -> bytes:
    return resources.files("dicompress_stack.kafka").joinpath("pom.xml").read_bytes()


def resolve_classpath(cache_dir: Path) -> str:
    """The broker's ':'-joined jar list (see `maven.resolve_classpath`; ~20 s the first time)."""
    return maven.resolve_classpath(pom_bytes(), cache_dir, "the Kafka jars")
