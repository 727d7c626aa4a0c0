"""The tracker on faces walking faster: the quiet clip with its walkers sped up.

    python -m benchmarks.walkers [SPEED ...] [--set KEY=VALUE ...]   # default speeds: 1 2

Per speed, a 12 s 768x432 quiet clip (:func:`benchmarks.realtime.quiet_clip`) and:
recall and precision of the default detector + tracker against the detector on every
frame, and against the faces drawn (:func:`benchmarks.realtime.recall`); and from a default
``streamproc run`` manifest, the track ids given, the faces output without a track, and
the faces fused with earlier frames (each new id of the same face restarts its fusion).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from benchmarks import realtime
from streamproc.core.config import Config, apply_overrides, config_from_dict
from streamproc.run.job import Job

SIZE, FPS, FRAMES = realtime.SIZES["432p"], 30, 360


def track_stats(clip: Path, config: Config) -> dict[str, float]:
    """Ids, untracked and fused faces of a run, read from its manifest."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "walkers.mp4"
        job = Job([str(clip)], config, out)
        job.start()
        job.finish("finished")
        manifest = json.loads(Path(f"{out}.manifest.json").read_text())
    faces = [face for frame in manifest["frames"] for face in frame["faces"]]
    return {
        "faces": len(faces),
        "track_ids": len({f["track_id"] for f in faces if f["track_id"] >= 0}),
        "untracked": sum(f["track_id"] < 0 for f in faces),
        "fused": sum(f["fused_frames"] > 1 for f in faces),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("speeds", nargs="*", type=float, default=[1.0, 2.0])
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args()
    speeds = args.speeds
    config = config_from_dict(apply_overrides({}, args.overrides))
    with tempfile.TemporaryDirectory() as work:
        for speed in speeds:
            clip = Path(work) / f"walkers-{speed:g}x.mp4"
            realtime.quiet_clip(clip, SIZE, FPS, FRAMES, speed=speed)
            drawn = realtime.quiet_faces(SIZE, FPS, FRAMES, speed=speed)
            lane = realtime.recall(clip, config, FRAMES, drawn)["default"]
            row = {
                "speed": speed,
                "set": args.overrides,
                "detections": sum(lane["passes"].values()),
                "recall_vs_exhaustive": round(lane["recall"], 4),
                "precision_vs_exhaustive": round(lane["precision"], 4),
                "carried_precision": round(lane["carried_precision"], 4),
                "vs_drawn": {k: round(v, 4) for k, v in lane["vs_drawn"].items()},
                **track_stats(clip, config),
            }
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
