"""What the figures were measured on: the machine, its load, and the versions of every tool."""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
from importlib.metadata import PackageNotFoundError, version

import psutil
from bench.compare.tools import NODE_DIR


def _package(name: str) -> str:
    try:
        return f"{name} {version(name)}"
    except PackageNotFoundError:
        return f"{name} (not installed)"


def _command(argv: list[str]) -> str:
    if shutil.which(argv[0]) is None:
        return f"{argv[0]} (not installed)"
    done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=30)
    return (
        (done.stdout or done.stderr).strip().splitlines()[0]
        if (done.stdout or done.stderr)
        else "?"
    )


def _dcmjs_version() -> str:
    manifest = NODE_DIR / "node_modules" / "dcmjs-codecs" / "package.json"
    if not manifest.is_file():
        return "dcmjs-codecs (not installed)"
    return f"dcmjs-codecs {json.loads(manifest.read_text())['version']}"


def describe_machine() -> list[str]:
    """Markdown lines: cores, memory, load at start, and versions."""
    cpu = platform.processor() or platform.machine()
    try:
        model = next(
            line.split(":", 1)[1].strip()
            for line in open("/proc/cpuinfo").read().splitlines()  # noqa: SIM115 (read once)
            if line.startswith("model name")
        )
    except (OSError, StopIteration):
        model = cpu
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    memory_gb = psutil.virtual_memory().total / 1e9
    tools = [
        f"Python {platform.python_version()}",
        _package("pydicom"),
        _package("pylibjpeg-openjpeg"),
        _package("imagecodecs"),
        _command(["gdcmconv", "--version"]),
        _command(["node", "--version"]).replace("v", "node ", 1),
        _dcmjs_version(),
    ]
    return [
        f"Machine: {os.cpu_count()} cores ({model}), {memory_gb:.1f} GB RAM, "
        f"load average {load} at start.",
        f"Versions: {'; '.join(tools)}.",
    ]
