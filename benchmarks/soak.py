"""Soak test: a live camera for minutes; memory and latency must stay flat.

A file is replayed in a loop at its real frame rate as a live source (oldest frame
dropped when behind), through the full pipeline into an MP4. Every second the process's
resident memory and the latency of recent frames are sampled. Passes when RSS grows less
than ``--max-rss-growth`` (default 5 %) between the end of the warm-up and the end, and
p95 latency in the last quarter grew by less than a backlog would add: within
``--max-latency-ratio`` of the first quarter's, or less than one frame interval above it.
A frame waiting in a queue adds a whole frame interval to every later frame's latency, so a
rise smaller than that is scheduling jitter (another process on the cores), not a backlog;
a growing backlog or a leak rises by intervals.

    python -m benchmarks.soak --minutes 10 [--clip FILE] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from streamproc.core.config import load_config
from streamproc.core.packet import FramePacket
from streamproc.io.sources import SourceInfo
from streamproc.io.sources.file import FileSource
from streamproc.run.job import SAMPLE_CLIP, Job

LIVE_TIME_BASE = Fraction(1, 90000)


def rss_mb() -> float:
    """Current resident memory of this process (not the peak)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class LoopingLiveSource:
    """Replays a clip forever at its frame rate, stamping frames as a camera would."""

    live = True

    def __init__(self, clip: Path, config) -> None:
        self._clip, self._config = clip, config
        first = FileSource(clip, config.source)
        self.fps = float(first.info.fps) or 25.0  # frames a second it replays at
        info = first.info
        first.close()
        self.info = SourceInfo(
            f"loop:{clip.name}",
            info.width_px,
            info.height_px,
            info.fps,
            LIVE_TIME_BASE,
            0,
            False,
            None,
        )

    def frames(self, stop: threading.Event) -> Iterator[FramePacket]:
        start = time.monotonic()
        index = 0
        while not stop.is_set():
            source = FileSource(self._clip, self._config.source)
            try:
                for packet in source.frames(stop):
                    wait_s = start + index / self.fps - time.monotonic()
                    if wait_s > 0 and stop.wait(wait_s):
                        return
                    now = time.monotonic()
                    packet.index, packet.capture_s = index, now
                    packet.pts, packet.time_base = (
                        round((now - start) / LIVE_TIME_BASE),
                        LIVE_TIME_BASE,
                    )
                    yield packet
                    index += 1
            finally:
                source.close()

    def close(self) -> None:
        """Each loop's file is closed as it ends."""


@dataclass(frozen=True)
class SoakResult:
    seconds: float
    frames_out: int
    dropped: int
    rss_start_mb: float
    rss_end_mb: float
    rss_growth: float
    latency_p95_first_ms: float
    latency_p95_last_ms: float
    frame_interval_ms: float
    latency_ok: bool
    passed: bool


def latency_flat(first_ms: float, last_ms: float, interval_ms: float, max_ratio: float) -> bool:
    """No backlog built up: the last p95 is within ``max_ratio`` of the first, or rose by
    less than one frame interval (what a single queued frame would add)."""
    return last_ms <= max(max_ratio * max(first_ms, 1.0), first_ms + interval_ms)


def soak(
    clip: Path,
    seconds: float,
    out_dir: Path,
    overrides: list[str],
    warmup_s: float = 10.0,
    max_rss_growth: float = 0.05,
    max_latency_ratio: float = 2.0,
) -> SoakResult:
    config = load_config(None, overrides)
    source = LoopingLiveSource(clip, config)
    job = Job([str(clip)], config, out_dir / "soak.mp4", sources=[source])
    job.start()
    samples: list[tuple[float, float, float]] = []  # (t, rss, p95 of recent latency)
    start = time.monotonic()
    try:
        while time.monotonic() - start < seconds:
            time.sleep(1.0)
            recent = list(job.stats.latency_ms)[-50:]
            p95 = float(np.percentile(recent, 95)) if recent else 0.0
            samples.append((time.monotonic() - start, rss_mb(), p95))
    finally:
        job.pipeline.request_stop()
        (summary,) = job.finish("finished")
    after_warmup = [s for s in samples if s[0] >= warmup_s] or samples
    quarter = max(1, len(after_warmup) // 4)
    rss_start, rss_end = after_warmup[0][1], after_warmup[-1][1]
    first_p95 = float(np.median([s[2] for s in after_warmup[:quarter]]))
    last_p95 = float(np.median([s[2] for s in after_warmup[-quarter:]]))
    growth = (rss_end - rss_start) / rss_start
    interval_ms = 1000.0 / source.fps
    latency_ok = latency_flat(first_p95, last_p95, interval_ms, max_latency_ratio)
    passed = growth < max_rss_growth and latency_ok
    return SoakResult(
        round(seconds, 1),
        summary["frames_out"],
        summary["dropped"],
        round(rss_start, 1),
        round(rss_end, 1),
        round(growth, 4),
        round(first_p95, 1),
        round(last_p95, 1),
        round(interval_ms, 1),
        latency_ok,
        passed,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.soak", description=__doc__)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--clip", type=Path, default=SAMPLE_CLIP)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/soak"))
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    result = soak(args.clip, args.minutes * 60, args.out, args.overrides)
    print(json.dumps(asdict(result), indent=1))
    (args.out / "soak.json").write_text(json.dumps(asdict(result), indent=1))
    return 0 if result.passed else 1


if __name__ == "__main__":
    sys.exit(main())
