"""The two tools we must beat, run on the series in a directory: gdcmconv and dcmjs-codecs.

Each returns its wall time and peak memory and leaves its outputs, one file per input with
the same name, in `out_dir`; a missing tool is a reason string, never an exception.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from bench.compare.procwatch import LONG_LIVED_RESCAN, Watched, run_watched

NODE_DIR = Path(__file__).resolve().parent.parent / "node"
DCMJS_SCRIPT = NODE_DIR / "encode.js"


def gdcmconv_missing() -> str | None:
    """Why gdcmconv cannot run here, or None."""
    if shutil.which("gdcmconv") is None:
        return "gdcmconv not found: apt-get install -y libgdcm-tools"
    return None


def run_gdcmconv(
    files: Sequence[Path], out_dir: Path, rate: float, workers: int, timeout_s: float
) -> Watched:
    """`gdcmconv --j2k --lossy --irreversible -r RATE in out` per file, `workers` at a time.

    `-r`, not `--rate`: GDCM 3.0.21 and 3.2.6 parse `--rate` as the tile option and abort.
    xargs -P keeps `workers` processes running, as a shell script driving gdcmconv would.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    pairs = b"".join(f"{path}\0{out_dir / path.name}\0".encode() for path in files)
    argv = [
        "xargs", "-0", "-n", "2", "-P", str(workers),
        "gdcmconv", "--j2k", "--lossy", "--irreversible", "-r", f"{rate:g}",
    ]  # fmt: skip
    return run_watched([argv], out_dir.parent / f"{out_dir.name}-logs", timeout_s, stdin=pairs)


def dcmjs_missing() -> str | None:
    """Why dcmjs-codecs cannot run here, or None."""
    node = shutil.which("node")
    if node is None:
        return "node not found: install Node.js 18+"
    if not (NODE_DIR / "node_modules" / "dcmjs-codecs").is_dir():
        return f"dcmjs-codecs not installed: npm ci --prefix {NODE_DIR}"
    probe = subprocess.run(
        [node, "-e", "require('dcmjs-codecs')"],
        cwd=NODE_DIR,
        capture_output=True,
        text=True,
        check=False,
    )
    if probe.returncode != 0:
        return f"dcmjs-codecs does not load: {probe.stderr.strip()[-200:]}"
    return None


def run_dcmjs(
    files: Sequence[Path], out_dir: Path, rate: float, workers: int, timeout_s: float
) -> Watched:
    """bench/node/encode.js in `workers` node processes, each on a contiguous share of the
    series (the way a Node service would split a job across workers)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    share = -(-len(files) // workers)  # ceiling division: no file left out
    commands = [
        ["node", str(DCMJS_SCRIPT), f"{rate:g}", str(out_dir), *map(str, files[i : i + share])]
        for i in range(0, len(files), share)
    ]
    logs = out_dir.parent / f"{out_dir.name}-logs"
    # node runs the whole share in one process: no need to walk /proc at every sample
    return run_watched(commands, logs, timeout_s, rescan_every=LONG_LIVED_RESCAN)
