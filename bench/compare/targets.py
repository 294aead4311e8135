"""Issue 3's benchmark targets, checked against the rows of one run."""

from __future__ import annotations

from collections.abc import Sequence

from bench.compare.report import Row

GDCM, DCMJS, ENCODE, PIPELINE = "gdcmconv", "dcmjs-codecs", "ours: encode path", "ours: pipeline"
J2K, HTJ2K = "j2k-lossy", "htj2k-lossy"


def _find(rows: Sequence[Row], tool: str, codec: str, rate: float, workers: int) -> Row | None:
    for row in rows:
        if (row.tool, row.codec, row.rate, row.workers) == (tool, codec, rate, workers):
            return row if not row.skipped and row.quality is not None else None
    return None


def _verdict(met: bool) -> str:
    return "MET" if met else "MISSED"


def check_targets(rows: Sequence[Row], rate: float = 100.0, workers: int = 2) -> list[str]:
    """One line per target: MET, MISSED, or why it could not be judged."""
    lines = []
    ours = _find(rows, PIPELINE, J2K, rate, workers)
    where = f"rate {rate:g}, {workers} workers"
    if ours is None:
        lines.append(f"pipeline speed and quality: no pipeline j2k row at {where}")
    else:
        for tool in (GDCM, DCMJS):
            other = _find(rows, tool, J2K, rate, workers)
            if other is None:
                lines.append(f"faster than {tool}: no {tool} row at {where}")
                continue
            lines.append(
                f"{_verdict(ours.seconds < other.seconds)}: pipeline faster than {tool} at "
                f"{where}: {ours.seconds:.2f} s vs {other.seconds:.2f} s"
            )
        encode = _find(rows, ENCODE, J2K, rate, workers)
        if encode is None:
            lines.append(f"within 1.2x of the encode path: no encode row at {where}")
        else:
            factor = ours.seconds / encode.seconds
            lines.append(
                f"{_verdict(factor <= 1.2)}: pipeline within 1.2x of our raw encode time at "
                f"{where}: {factor:.2f}x ({ours.seconds:.2f} s vs {encode.seconds:.2f} s)"
            )
    for row in rows:
        if row.tool != PIPELINE or row.codec != J2K or row.workers != workers:
            continue
        mine = _find(rows, PIPELINE, J2K, row.rate, workers)
        for tool in (GDCM, DCMJS):
            other = _find(rows, tool, J2K, row.rate, workers)
            if mine is None or other is None or mine.quality is None or other.quality is None:
                continue
            q, o = mine.quality, other.quality
            close = abs(q.ratio - o.ratio) / o.ratio <= 0.05
            better = q.mean_psnr >= o.mean_psnr
            if close or (q.ratio > o.ratio and better) or (q.ratio < o.ratio and not better):
                verdict = _verdict(better)  # same size, or one side wins on both counts
            else:  # one side buys its PSNR with bytes: not comparable
                verdict = "NOT JUDGED (ratios more than 5% apart)"
            lines.append(
                f"{verdict}: PSNR vs {tool} at rate {row.rate:g}: {q.mean_psnr:.2f} dB at "
                f"{q.ratio:.1f}:1 vs {o.mean_psnr:.2f} dB at {o.ratio:.1f}:1"
            )
    ht = _find(rows, PIPELINE, HTJ2K, rate, workers)
    slices = max((r.expected_slices for r in rows), default=0)
    if ht is None:
        lines.append(f"HTJ2K end to end under 3 s: no pipeline htj2k row at {where}")
    else:
        scope = "" if slices == 399 else f" (this run has {slices} slices, the target 399)"
        lines.append(
            f"{_verdict(ht.seconds < 3.0)}: HTJ2K series end to end in under 3 s: "
            f"{ht.seconds:.2f} s{scope}"
        )
    peaks = [r.peak_rss_bytes for r in rows if r.tool == PIPELINE and not r.skipped]
    if peaks:
        lines.append(
            f"{_verdict(max(peaks) < 500e6)}: compressor peak RSS under 500 MB: "
            f"{max(peaks) / 1e6:.0f} MB at most; the same within 10% at 399 and 1,200 slices "
            "is judged by comparing this with a `--slices 1200 --tools pipeline` run"
        )
    return lines
