"""The tracker on faces walking faster: the quiet clip with its walkers sped up.

    python -m benchmarks.walkers [SPEED ...]     # default: 1 2 (x the 1, 2, 3 px a frame)

Per speed, a 12 s 768x432 quiet clip (:func:`benchmarks.realtime.quiet_clip`) and:
recall and precision of the default detector + tracker against the detector on every
frame, and against the faces drawn (:func:`benchmarks.realtime.recall`); and from a default
``streamproc run`` manifest, the track ids given, the faces output without a track, and
the faces fused with earlier frames (each new id of the same face restarts its fusion).
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from benchmarks import realtime
from streamproc.core.config import config_from_dict
from streamproc.run.job import Job

SIZE, FPS, FRAMES = realtime.SIZES["432p"], 30, 360


def track_stats(clip: Path) -> dict[str, float]:
    """Ids, untracked and fused faces of a default run, read from its manifest."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "walkers.mp4"
        job = Job([str(clip)], config_from_dict({}), out)
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


def main(argv: list[str]) -> None:
    speeds = [float(a) for a in argv] or [1.0, 2.0]
    config = config_from_dict({})
    with tempfile.TemporaryDirectory() as work:
        for speed in speeds:
            clip = Path(work) / f"walkers-{speed:g}x.mp4"
            realtime.quiet_clip(clip, SIZE, FPS, FRAMES, speed=speed)
            drawn = realtime.quiet_faces(SIZE, FPS, FRAMES, speed=speed)
            lane = realtime.recall(clip, config, FRAMES, drawn)["default"]
            row = {
                "speed": speed,
                "recall_vs_exhaustive": round(lane["recall"], 4),
                "precision_vs_exhaustive": round(lane["precision"], 4),
                "carried_precision": round(lane["carried_precision"], 4),
                "vs_drawn": {k: round(v, 4) for k, v in lane["vs_drawn"].items()},
                **track_stats(clip),
            }
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
