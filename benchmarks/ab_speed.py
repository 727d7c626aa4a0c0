"""A/B of detection cadences on one clip: file fps, e2e/ceiling, live drops and latency.

    python -m benchmarks.ab_speed CLIP ROUNDS N [N ...]

Per round and per N (``detect.every_n_frames``, the rest of the default config): the
default pipeline to a file, then the same clip paced as a live camera, interleaved so a
shared machine's load hits all alike. The ceiling is decode + encode of the clip once.
"""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path
from tempfile import TemporaryDirectory

from benchmarks import measure
from benchmarks.paced import PacedSource
from streamproc.core.config import config_from_dict
from streamproc.io.sources import open_source
from streamproc.run.job import Job


def main(argv: list[str]) -> None:
    clip, rounds, values = Path(argv[0]), int(argv[1]), [int(v) for v in argv[2:]]
    base = config_from_dict({})
    ceiling = measure.decode_encode_fps(clip, base)["fps"]
    with TemporaryDirectory() as work:
        for round_ in range(rounds):
            for every in values:
                config = replace(base, detect=replace(base.detect, every_n_frames=every))
                run = measure.run_job(Job([str(clip)], config, Path(work) / "file.mp4"))
                source = PacedSource(open_source(str(clip), config.source))
                live_job = Job([str(clip)], config, Path(work) / "live.mp4", sources=[source])
                live = measure.run_job(live_job)
                offered = live["frames"] + live["dropped"]
                row = {
                    "clip": clip.stem,
                    "round": round_,
                    "every_n_frames": every,
                    "e2e_fps": round(run["fps"], 1),
                    "e2e_over_ceiling": round(run["fps"] / ceiling, 3),
                    "stage_ms": {k: round(v, 1) for k, v in run["stage_ms_per_frame"].items()},
                    "live_dropped_pct": round(100 * live["dropped"] / max(1, offered), 1),
                    "live_p50_ms": round(live["latency_ms_p50"]),
                    "live_p95_ms": round(live["latency_ms_p95"]),
                }
                print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
