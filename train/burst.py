"""Training input for a generator behind the fuse stage: a K-frame burst of one face, fused.

With ``fuse.enabled`` the enhancer is given the fuse stage's crop (streamproc/vision/fuse.py):
K crops of one track, registered and merged, so less noisy than one frame but with the same
blur, tone curve, colour cast and part of the codec error. A generator trained on single
frames only never saw such input (issue #14 measured fusion on - off at about 0 dB after
it). Here the degradation of :func:`train.degrade.degrade` is drawn once per burst (blur,
face size, exposure, colour cast, codec), the face is rendered K times at independent
sub-pixel offsets (the tracker's box error) with fresh sensor noise each, the K crops are
encoded as one H.264 clip (P-frames, as from a camera), and the runtime's own
:func:`~streamproc.vision.fuse.fuse_crop` merges them: train input = runtime input.

Rendering follows benchmarks/eval_fusion.py's ``burst``: each crop is stored padded
(``fuse.STORE_PAD``), as the fuse stage keeps its past crops.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from streamproc.core.config import FuseConfig
from streamproc.vision.fuse import STORE_PAD, StoredCrop, fuse_crop
from train.degrade import (
    DegradeConfig,
    _uniform,
    apply_light,
    disk_kernel,
    draw_light,
    h264_clip,
    jpeg_roundtrip,
    motion_kernel,
    severity_config,
)


@dataclass(frozen=True)
class Burst:
    """A degraded burst: padded low-res RGB uint8 crops, newest (at offset 0) last."""

    crops: list[np.ndarray]
    side_px: int
    pad_px: int
    params: dict[str, Any]

    def current(self) -> np.ndarray:
        """The newest crop without its padding (what the enhancer gets with fusion off)."""
        p, s = self.pad_px, self.side_px
        return self.crops[-1][p : p + s, p : p + s]


def render_burst(
    clean_rgb: np.ndarray,
    rng: np.random.Generator,
    cfg: DegradeConfig,
    frames: int,
    shift_px: float,
    severity: str | None = None,
) -> Burst:
    """``frames`` degraded crops of ``clean_rgb`` (uint8, square), each offset by up to
    ``shift_px`` low-res px per axis (the newest by none), one camera's settings, fresh
    noise per frame."""
    if severity is not None:
        cfg = severity_config(severity, cfg)
    h = clean_rgb.shape[0]
    img = clean_rgb.astype(np.float32) / 255.0
    params: dict[str, Any] = {"severity": severity, "frames": frames}
    if rng.random() < cfg.p_motion_blur:
        length, angle = _uniform(rng, cfg.motion_len_px), float(rng.uniform(0, 180))
        img = cv2.filter2D(img, -1, motion_kernel(length, angle), borderType=cv2.BORDER_REFLECT)
        params.update(motion_len_px=length, motion_angle_deg=angle)
    if rng.random() < cfg.p_defocus:
        radius = _uniform(rng, cfg.defocus_radius_px)
        img = cv2.filter2D(img, -1, disk_kernel(radius), borderType=cv2.BORDER_REFLECT)
        params["defocus_radius_px"] = radius
    face_px = _uniform(rng, cfg.face_px)
    side = max(2, round(face_px / cfg.face_fraction))
    pad = max(2, round(STORE_PAD * side))
    params.update(face_px=face_px, low_res_px=[side, side])
    light = draw_light(rng, cfg) if rng.random() < cfg.p_low_light else None
    if light is not None:
        params.update(light)
    gains = None
    if rng.random() < cfg.p_colour_cast:
        gains = rng.uniform(cfg.colour_gain[0], cfg.colour_gain[1], 3).astype(np.float32)
        params["colour_gain"] = [float(g) for g in gains]

    scale = side / h
    src = cv2.GaussianBlur(img, (0, 0), max(0.01, 0.5 / scale))  # anti-alias, as eval's place
    offsets = rng.uniform(-shift_px, shift_px, (frames, 2))
    offsets[-1] = 0.0
    full = side + 2 * pad
    crops = []
    for dx, dy in offsets:
        tx, ty = pad + dx + 0.5 * scale - 0.5, pad + dy + 0.5 * scale - 0.5
        m = np.float32([[scale, 0, tx], [0, scale, ty]])
        low = cv2.warpAffine(src, m, (full, full), flags=cv2.INTER_LINEAR,
                             borderMode=cv2.BORDER_REFLECT)  # fmt: skip
        if light is not None:
            low = apply_light(low, rng, light)
        if gains is not None:
            low = low * gains
        crops.append(np.clip(np.rint(low * 255.0), 0, 255).astype(np.uint8))

    codec_draw = rng.random()
    if codec_draw < cfg.p_h264:
        crf = int(round(_uniform(rng, cfg.h264_crf)))
        crops = h264_clip(crops, crf)
        params["h264_crf"] = crf
    elif codec_draw < cfg.p_h264 + cfg.p_jpeg * (1.0 - cfg.p_h264):
        quality = int(round(_uniform(rng, cfg.jpeg_quality)))
        crops = [jpeg_roundtrip(c, quality) for c in crops]
        params["jpeg_quality"] = quality
    return Burst(crops, side, pad, params)


def fuse_burst(burst: Burst, fuse: FuseConfig, margin: float) -> tuple[np.ndarray, int]:
    """The fuse stage's crop of the newest frame (RGB uint8, low-res) and frames merged."""
    current = np.ascontiguousarray(burst.current()[:, :, ::-1])
    stored = [
        StoredCrop(np.ascontiguousarray(c[:, :, ::-1]).astype(np.float32), burst.side_px,
                   burst.pad_px)
        for c in burst.crops[:-1]
    ]  # fmt: skip
    fused, verdicts = fuse_crop(current, stored, fuse, margin)
    return np.ascontiguousarray(fused[:, :, ::-1]), 1 + sum(v.used for v in verdicts)


def fused_degrade(
    clean_rgb: np.ndarray,
    rng: np.random.Generator,
    cfg: DegradeConfig,
    frames: int,
    shift_px: float,
    severity: str | None = None,
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """(fused input, the newest frame alone) at the clean crop's size, and the params.

    The fuse stage is run ungated (``min_noise_sigma`` 0), with the crop margin that
    ``cfg.face_fraction`` implies (face = side / (1 + 2 margin))."""
    burst = render_burst(clean_rgb, rng, cfg, frames, shift_px, severity)
    margin = (1.0 / cfg.face_fraction - 1.0) / 2.0
    fuse = FuseConfig(enabled=True, frames=frames, min_noise_sigma=0.0)
    fused, merged = fuse_burst(burst, fuse, margin)
    h, w = clean_rgb.shape[:2]
    up = [cv2.resize(c, (w, h), interpolation=cv2.INTER_CUBIC) for c in (fused, burst.current())]
    return up[0], up[1], {**burst.params, "fused_frames": merged}
