"""Synthetic CCTV degradation of clean face crops, made on the fly for Pix2Pix pairs.

There is no large real paired CCTV face set offline, so training pairs are (degraded,
clean) made from clean crops. The chain follows the physics of a surveillance camera
looking at a face far away: optical blur (motion, defocus) on the scene, sampling by a
sensor on which the face is only 16–40 px tall, sensor noise in low light, a white-balance
error, lossy compression at that small size (JPEG or a real libx264 round trip), and
finally the runtime's own bicubic upscale back to the model's input size.

Every random choice comes from the ``np.random.Generator`` passed in, so a seed gives the
same degraded image on every machine and in every DataLoader worker.
"""

from __future__ import annotations

import dataclasses
import io
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from streamproc.core.errors import ConfigError

Range = tuple[float, float]
SEVERITIES = ("mild", "moderate", "severe")


@dataclass(frozen=True)
class DegradeConfig:
    """Ranges are sampled uniformly; ``p_*`` are the probabilities that a stage is applied.

    ``face_fraction`` is the face height over the crop height in the clean crops;
    ``train.harvest`` with margin 0.25 writes crops whose face is about 1 / 1.5 of the side.
    """

    face_fraction: float = 0.67
    face_px: Range = (16.0, 40.0)
    p_low_light: float = 0.6
    exposure: Range = (0.12, 0.7)  # light reaching the sensor, relative to a good exposure
    photons_at_white: Range = (40.0, 800.0)  # shot-noise scale: electrons at full white
    read_noise: Range = (0.002, 0.03)  # Gaussian read noise, fraction of full scale
    agc: Range = (0.5, 1.0)  # fraction of the missing exposure the camera's gain restores
    gamma: Range = (0.9, 1.3)
    p_motion_blur: float = 0.35
    motion_len_px: Range = (3.0, 11.0)
    p_defocus: float = 0.3
    defocus_radius_px: Range = (0.8, 3.0)
    p_colour_cast: float = 0.5
    colour_gain: Range = (0.8, 1.2)
    p_h264: float = 0.45
    h264_crf: Range = (23.0, 38.0)
    h264_frames: int = 3
    p_jpeg: float = 0.35  # used only when H.264 was not drawn
    jpeg_quality: Range = (15.0, 70.0)

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if field.name.startswith("p_") and not 0.0 <= value <= 1.0:
                raise ConfigError(f"degrade.{field.name} must be in [0, 1], got {value}")
            if isinstance(value, tuple) and (len(value) != 2 or value[0] > value[1]):
                raise ConfigError(f"degrade.{field.name} must be a [low, high] range, got {value}")
        if not 0.1 <= self.face_fraction <= 1.0:
            raise ConfigError(
                f"degrade.face_fraction must be in [0.1, 1], got {self.face_fraction}"
            )
        if self.face_px[0] < 4:
            raise ConfigError("degrade.face_px must be at least 4 px")


@dataclass(frozen=True)
class AugmentConfig:
    """Geometric/photometric augmentation applied identically to input and target."""

    p_flip: float = 0.5
    rotate_deg: float = 5.0
    contrast: Range = (0.85, 1.15)
    # CCTV looks down at faces from off-centre: a keystone warp (top edge wider, face
    # foreshortened vertically), the face off the crop's centre, a slightly wrong scale.
    p_perspective: float = 0.0
    tilt: Range = (0.0, 0.25)  # keystone: top edge widened by this fraction of the side
    squash: Range = (0.8, 1.0)  # vertical foreshortening of a downward view
    shift: float = 0.0  # off-centre: up to this fraction of the side, each axis
    scale: Range = (1.0, 1.0)  # zoom of the crop around its centre


def severity_config(severity: str, base: DegradeConfig | None = None) -> DegradeConfig:
    """Fixed, narrow settings for evaluation: every stage on, strength set by the preset."""
    base = base or DegradeConfig()
    presets: dict[str, dict[str, Any]] = {
        "mild": dict(
            face_px=(36.0, 40.0), exposure=(0.5, 0.7), photons_at_white=(500.0, 800.0),
            read_noise=(0.002, 0.005), p_motion_blur=0.0, p_defocus=1.0,
            defocus_radius_px=(0.8, 1.0), p_colour_cast=0.0, p_h264=0.0, p_jpeg=1.0,
            jpeg_quality=(60.0, 70.0),
        ),
        "moderate": dict(
            face_px=(24.0, 28.0), exposure=(0.25, 0.35), photons_at_white=(150.0, 250.0),
            read_noise=(0.008, 0.012), p_motion_blur=1.0, motion_len_px=(4.0, 6.0),
            p_defocus=0.0, p_colour_cast=1.0, colour_gain=(0.9, 1.1), p_h264=1.0,
            h264_crf=(30.0, 32.0),
        ),
        "severe": dict(
            face_px=(16.0, 18.0), exposure=(0.12, 0.15), photons_at_white=(40.0, 60.0),
            read_noise=(0.015, 0.02), p_motion_blur=1.0, motion_len_px=(6.0, 8.0),
            p_defocus=0.0, p_colour_cast=1.0, colour_gain=(0.85, 1.15), p_h264=1.0,
            h264_crf=(34.0, 37.0),
        ),
    }  # fmt: skip
    if severity not in presets:
        raise ConfigError(f"unknown severity {severity!r}; choose one of {SEVERITIES}")
    return dataclasses.replace(base, p_low_light=1.0, **presets[severity])


def _uniform(rng: np.random.Generator, bounds: Range) -> float:
    return float(rng.uniform(bounds[0], bounds[1]))


def motion_kernel(length_px: float, angle_deg: float) -> np.ndarray:
    """A normalised anti-aliased line: linear motion during the exposure."""
    size = int(np.ceil(length_px)) | 1
    kernel = np.zeros((size * 4, size * 4), np.float32)
    c = (size * 4 - 1) / 2
    dx = np.cos(np.deg2rad(angle_deg)) * (length_px * 4 - 1) / 2
    dy = np.sin(np.deg2rad(angle_deg)) * (length_px * 4 - 1) / 2
    p0 = (round(c - dx), round(c - dy))
    p1 = (round(c + dx), round(c + dy))
    cv2.line(kernel, p0, p1, 1.0, thickness=2, lineType=cv2.LINE_AA)
    kernel = cv2.resize(kernel, (size, size), interpolation=cv2.INTER_AREA)
    return kernel / kernel.sum()


def disk_kernel(radius_px: float) -> np.ndarray:
    """A normalised disk (supersampled for sub-pixel radii): an out-of-focus lens."""
    half = int(np.ceil(radius_px))
    grid = (np.arange((2 * half + 1) * 8) + 0.5) / 8 - (half + 0.5)
    yy, xx = np.meshgrid(grid, grid, indexing="ij")
    inside = (xx**2 + yy**2 <= radius_px**2).astype(np.float32)
    kernel = cv2.resize(inside, (2 * half + 1, 2 * half + 1), interpolation=cv2.INTER_AREA)
    return kernel / kernel.sum()


def draw_light(rng: np.random.Generator, cfg: DegradeConfig) -> dict[str, float]:
    """One camera's low-light settings (fixed over a burst; the noise is drawn per frame)."""
    exposure = _uniform(rng, cfg.exposure)
    photons = _uniform(rng, cfg.photons_at_white)
    read = _uniform(rng, cfg.read_noise)
    agc = _uniform(rng, cfg.agc)
    gamma = _uniform(rng, cfg.gamma)
    gain = 1.0 + (1.0 / exposure - 1.0) * agc
    return dict(exposure=exposure, photons_at_white=photons, read_noise=read, gain=gain,
                gamma=gamma)  # fmt: skip


def apply_light(img: np.ndarray, rng: np.random.Generator, light: dict[str, float]) -> np.ndarray:
    """Under-exposure + Poisson (shot) and Gaussian (read) noise, then camera gain/gamma.

    ``img`` is float RGB in [0, 1]; noise is per channel, as on a Bayer sensor.
    """
    photons, read = light["photons_at_white"], light["read_noise"]
    linear = np.power(img, 2.2) * light["exposure"]
    noisy = rng.poisson(linear * photons) / photons + rng.normal(0.0, read, img.shape)
    out = np.power(np.clip(noisy * light["gain"], 0.0, 1.0), 1.0 / 2.2) ** light["gamma"]
    return out.astype(np.float32)


def low_light(img: np.ndarray, rng: np.random.Generator, cfg: DegradeConfig) -> tuple:
    """:func:`draw_light` then :func:`apply_light`: one frame, its settings."""
    light = draw_light(rng, cfg)
    return apply_light(img, rng, light), light


def jpeg_roundtrip(img_uint8: np.ndarray, quality: int) -> np.ndarray:
    ok, buf = cv2.imencode(".jpg", img_uint8[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)[:, :, ::-1].copy()


def h264_roundtrip(img_uint8: np.ndarray, crf: int, frames: int = 3) -> np.ndarray:
    """Encode a few-frame clip with libx264 and return the decoded last frame.

    Earlier frames are shifted by half a pixel per frame so the last one is a P-frame
    predicted from moving content, as on a real camera (low-latency settings: no B-frames,
    no lookahead, like many IP cameras). One thread and no lookahead keep it deterministic.
    """
    h, w = img_uint8.shape[:2]
    pad_h, pad_w = (-h) % 16, (-w) % 16
    padded = cv2.copyMakeBorder(img_uint8, 0, pad_h, 0, pad_w, cv2.BORDER_REPLICATE)
    clip = []
    for k in range(frames):
        shift = 0.5 * (frames - 1 - k)
        m = np.float32([[1, 0, shift], [0, 1, 0]])
        size = (padded.shape[1], padded.shape[0])
        clip.append(cv2.warpAffine(padded, m, size, borderMode=cv2.BORDER_REFLECT))
    return h264_clip(clip, crf)[-1][:h, :w].copy()


def h264_clip(frames_uint8: list[np.ndarray], crf: int) -> list[np.ndarray]:
    """Encode same-sized RGB frames as one libx264 clip (P-frames predicted from the
    earlier ones, as a camera does) and return every decoded frame, cropped back."""
    import av  # only here: the rest of the degradation needs no FFmpeg

    h, w = frames_uint8[0].shape[:2]
    pad_h, pad_w = (-h) % 16, (-w) % 16
    clip = [cv2.copyMakeBorder(f, 0, pad_h, 0, pad_w, cv2.BORDER_REPLICATE) for f in frames_uint8]
    padded = clip[0]
    buf = io.BytesIO()
    out = av.open(buf, mode="w", format="h264")
    try:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height = padded.shape[1], padded.shape[0]
        stream.pix_fmt = "yuv420p"
        # No lookahead/mb-tree: with them libx264 output varied between identical calls.
        stream.options = {"crf": str(crf), "preset": "veryfast", "threads": "1", "bframes": "0",
                          "rc-lookahead": "0", "mbtree": "0"}  # fmt: skip
        stream.codec_context.thread_count = 1
        for index, image in enumerate(clip):
            yuv = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2YUV_I420)
            frame = av.VideoFrame.from_ndarray(yuv, format="yuv420p")
            frame.pts = index
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    finally:
        out.close()
    buf.seek(0)
    decoded = []
    container = av.open(buf, mode="r", format="h264")
    try:
        container.streams.video[0].thread_type = "NONE"
        for frame in container.decode(video=0):
            decoded.append(frame.to_ndarray(format="rgb24")[:h, :w].copy())
    finally:
        container.close()
    if not decoded:
        raise RuntimeError("libx264 round trip produced no frame")
    return decoded


def degrade(
    img_uint8_rgb: np.ndarray,
    rng: np.random.Generator,
    cfg: DegradeConfig | None = None,
    severity: str | None = None,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Degrade one clean RGB uint8 face crop; returns (degraded uint8, same size) and params.

    ``severity`` ('mild' | 'moderate' | 'severe') replaces the ranges with an evaluation
    preset (see ``severity_config``); the result is still a function of ``rng`` only.
    """
    cfg = cfg or DegradeConfig()
    if severity is not None:
        cfg = severity_config(severity, cfg)
    h, w = img_uint8_rgb.shape[:2]
    params: dict[str, Any] = {"severity": severity}
    img = img_uint8_rgb.astype(np.float32) / 255.0

    if rng.random() < cfg.p_motion_blur:
        length, angle = _uniform(rng, cfg.motion_len_px), float(rng.uniform(0, 180))
        img = cv2.filter2D(img, -1, motion_kernel(length, angle), borderType=cv2.BORDER_REFLECT)
        params.update(motion_len_px=length, motion_angle_deg=angle)
    if rng.random() < cfg.p_defocus:
        radius = _uniform(rng, cfg.defocus_radius_px)
        img = cv2.filter2D(img, -1, disk_kernel(radius), borderType=cv2.BORDER_REFLECT)
        params["defocus_radius_px"] = radius

    face_px = _uniform(rng, cfg.face_px)
    low_h = max(2, round(face_px / cfg.face_fraction))
    low_w = max(2, round(low_h * w / h))
    img = cv2.resize(img, (low_w, low_h), interpolation=cv2.INTER_AREA)
    params.update(face_px=face_px, low_res_px=[low_h, low_w])

    if rng.random() < cfg.p_low_light:
        img, light = low_light(img, rng, cfg)
        params.update(light)
    if rng.random() < cfg.p_colour_cast:
        gains = rng.uniform(cfg.colour_gain[0], cfg.colour_gain[1], 3).astype(np.float32)
        img = img * gains
        params["colour_gain"] = [float(g) for g in gains]
    low = np.clip(np.rint(img * 255.0), 0, 255).astype(np.uint8)

    codec_draw = rng.random()
    if codec_draw < cfg.p_h264:
        crf = int(round(_uniform(rng, cfg.h264_crf)))
        low = h264_roundtrip(low, crf, cfg.h264_frames)
        params["h264_crf"] = crf
    elif codec_draw < cfg.p_h264 + cfg.p_jpeg * (1.0 - cfg.p_h264):
        quality = int(round(_uniform(rng, cfg.jpeg_quality)))
        low = jpeg_roundtrip(low, quality)
        params["jpeg_quality"] = quality

    out = cv2.resize(low, (w, h), interpolation=cv2.INTER_CUBIC)
    return out, params


def camera_warp(
    w: int, h: int, angle_deg: float, rng: np.random.Generator, cfg: AugmentConfig
) -> np.ndarray | None:
    """3x3 homography: rotation, zoom, off-centre shift and a downward-view keystone."""
    zoom = _uniform(rng, cfg.scale)
    dx, dy = (rng.uniform(-cfg.shift, cfg.shift, 2) * (w, h)) if cfg.shift else (0.0, 0.0)
    perspective = rng.random() < cfg.p_perspective
    if not (angle_deg or zoom != 1.0 or dx or dy or perspective):
        return None
    m = np.eye(3)
    m[:2] = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), angle_deg, zoom)
    m[:2, 2] += (dx, dy)
    if perspective:
        tilt, squash = _uniform(rng, cfg.tilt), _uniform(rng, cfg.squash)
        src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
        top, bottom = (1 - squash) * h / 2, h - (1 - squash) * h / 2
        dst = np.float32([[-tilt * w / 2, top], [w + tilt * w / 2, top], [w, bottom], [0, bottom]])
        m = cv2.getPerspectiveTransform(src, dst) @ m
    return m


def augment_pair(
    inp: np.ndarray, target: np.ndarray, rng: np.random.Generator, cfg: AugmentConfig
) -> tuple[np.ndarray, np.ndarray]:
    """Same flip, small rotation and contrast change on both images, so pairs stay aligned."""
    flip = rng.random() < cfg.p_flip
    angle = float(rng.uniform(-cfg.rotate_deg, cfg.rotate_deg))
    contrast = _uniform(rng, cfg.contrast)
    h, w = inp.shape[:2]
    warp = camera_warp(w, h, angle, rng, cfg)

    def apply(img: np.ndarray) -> np.ndarray:
        if flip:
            img = img[:, ::-1]
        if warp is not None:
            img = cv2.warpPerspective(np.ascontiguousarray(img), warp, (w, h),
                                      flags=cv2.INTER_LINEAR,
                                      borderMode=cv2.BORDER_REFLECT101)  # fmt: skip
        img = np.clip((img.astype(np.float32) - 127.5) * contrast + 127.5, 0, 255)
        return np.ascontiguousarray(np.rint(img).astype(np.uint8))

    return apply(inp), apply(target)
