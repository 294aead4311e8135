"""ResourceMeter: a job's CPU and peak memory include the encoder processes it started."""

from __future__ import annotations

import asyncio
import sys

import psutil

from dicompress_compressor.metrics import ResourceMeter

# burns 0.4 s of CPU, then idles until killed, as a pool process does between slices
BURN = (
    "import time\nt = time.process_time()\n"
    "while time.process_time() - t < 0.4: pass\n"
    "print('burnt', flush=True)\ntime.sleep(60)\n"
)


async def test_cpu_and_memory_of_a_child_process_count_in_the_job() -> None:
    own_rss = psutil.Process().memory_info().rss
    async with ResourceMeter(interval_s=0.05) as meter:
        child = await asyncio.create_subprocess_exec(
            sys.executable, "-c", BURN, stdout=asyncio.subprocess.PIPE
        )
        try:
            assert child.stdout is not None
            assert (await asyncio.wait_for(child.stdout.readline(), 10)).strip() == b"burnt"
            cpu, rss = meter.measure()
        finally:
            child.kill()
            await child.wait()
    # the child burned 0.4 s while it was ours; the parent mostly waited on its pipe
    assert cpu >= 0.3
    assert rss > own_rss
