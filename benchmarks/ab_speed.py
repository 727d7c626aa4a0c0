"""A/B of config variants on one clip: file fps, e2e/ceiling, live drops and latency.

    python -m benchmarks.ab_speed CLIP ROUNDS VARIANT [VARIANT ...] [--file-only]

A variant is a comma-separated list of ``--set`` overrides (``detect.threads=1``,
``detect.every_n_frames=2,detect.small_face_every_n=2``), or ``default``. Per round and
per variant: the pipeline to a file, then the same clip paced as a live camera,
interleaved so a shared machine's load hits all alike. Also the process CPU time per
frame of each run (what two cores have to share). The ceiling is decode + encode of the
clip once. ``--file-only``: no live pass, and the ceiling again before each round (for
quick A/Bs of CPU per frame; stop 30's feature-off rounds in RESULTS.md).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from tempfile import TemporaryDirectory

from benchmarks import measure
from benchmarks.paced import PacedSource
from streamproc.core.config import Config, apply_overrides, config_from_dict
from streamproc.io.sources import open_source
from streamproc.run.job import Job


def variant_overrides(variant: str) -> list[str]:
    return [] if variant == "default" else [s for s in variant.split(",") if s]


def timed_run(job: Job) -> dict:
    cpu = time.process_time()
    run = measure.run_job(job)
    run["cpu_ms_per_frame"] = 1000 * (time.process_time() - cpu) / max(1, run["frames"])
    return run


def main(argv: list[str]) -> None:
    file_only = "--file-only" in argv
    argv = [a for a in argv if a != "--file-only"]
    clip, rounds, variants = Path(argv[0]), int(argv[1]), argv[2:]
    configs = {v: config_from_dict(apply_overrides({}, variant_overrides(v))) for v in variants}
    ceiling = measure.decode_encode_fps(clip, config_from_dict({}))["fps"]
    with TemporaryDirectory() as work:
        for round_ in range(rounds):
            if file_only and round_:
                ceiling = measure.decode_encode_fps(clip, config_from_dict({}))["fps"]
            for variant, config in configs.items():
                run = timed_run(Job([str(clip)], config, Path(work) / "file.mp4"))
                row = {
                    "clip": clip.stem,
                    "round": round_,
                    "variant": variant,
                    "e2e_fps": round(run["fps"], 1),
                    "e2e_over_ceiling": round(run["fps"] / ceiling, 3),
                    "cpu_ms_per_frame": round(run["cpu_ms_per_frame"], 1),
                    "stage_ms": {k: round(v, 1) for k, v in run["stage_ms_per_frame"].items()},
                }
                if not file_only:
                    row |= live_row(clip, config, Path(work))
                print(json.dumps(row), flush=True)


def live_row(clip: Path, config: Config, work: Path) -> dict:
    """The clip paced as a live camera: drops, latency and CPU a frame."""
    source = PacedSource(open_source(str(clip), config.source))
    live = timed_run(Job([str(clip)], config, work / "live.mp4", sources=[source]))
    offered = live["frames"] + live["dropped"]
    return {
        "live_dropped_pct": round(100 * live["dropped"] / max(1, offered), 1),
        "live_p50_ms": round(live["latency_ms_p50"]),
        "live_p95_ms": round(live["latency_ms_p95"]),
        "live_cpu_ms_per_frame": round(live["cpu_ms_per_frame"], 1),
    }


if __name__ == "__main__":
    main(sys.argv[1:])
