"""What ``streamproc-eval`` compares: degradation conditions and the restoration methods.

Degradations come from ``train.degrade`` (the training distribution): the three severity
presets, plus one config per degradation type made by switching every other stage off.
Methods see exactly what they see at run time: the classical enhancer works on the bicubic
upscale of the capture (the pipeline's crop), the generator gets that upscale through the
pipeline's own ``to_model_input``/``from_model_output`` pair.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

import cv2
import numpy as np

import train.degrade as degrade_module
from streamproc.core.config import EnhanceConfig
from streamproc.vision.enhance.classical import ClassicalEnhancer
from streamproc.vision.enhance.crops import from_model_output, to_model_input
from streamproc.vision.enhance.onnx import GeneratorRunner
from streamproc.vision.enhance.stage import auto_steps
from train.degrade import SEVERITIES, DegradeConfig, severity_config

METHODS = ("degraded", "bicubic", "classical", "generator", "both", "auto")
TYPES = ("low_light", "motion_blur", "low_res", "compression")
# Stable ids seed each condition's RNG: adding a condition never changes the others' draws.
CONDITION_IDS = {name: i for i, name in enumerate(SEVERITIES + TYPES)}


@dataclass(frozen=True)
class Condition:
    name: str
    kind: str  # "severity" | "type"
    config: DegradeConfig  # resolved: what degrade() actually samples from

    def rng(self, seed: int, face_index: int) -> np.random.Generator:
        """Per-face RNG from (seed, condition, face index in the full sorted folder)."""
        return np.random.default_rng([seed, CONDITION_IDS[self.name], face_index])


def type_config(kind: str, size_px: int, base: DegradeConfig | None = None) -> DegradeConfig:
    """One degradation type alone, with the training ranges of ``base`` for that stage.

    The sensor sampling cannot be switched off in ``degrade``; setting the face height to
    ``face_fraction`` x crop side makes it sample at full resolution (an identity resize).
    Compression draws H.264 with the training probability and JPEG otherwise.
    """
    base = base or DegradeConfig()
    full_px = base.face_fraction * size_px
    off = dict(
        face_px=(full_px, full_px),
        p_low_light=0.0,
        p_motion_blur=0.0,
        p_defocus=0.0,
        p_colour_cast=0.0,
        p_h264=0.0,
        p_jpeg=0.0,
    )
    on = {
        "low_light": dict(p_low_light=1.0),
        "motion_blur": dict(p_motion_blur=1.0),
        "low_res": dict(face_px=base.face_px),
        "compression": dict(p_h264=base.p_h264, p_jpeg=1.0),
    }
    if kind not in on:
        raise ValueError(f"unknown degradation type {kind!r}; choose one of {TYPES}")
    return dataclasses.replace(base, **{**off, **on[kind]})


def conditions(size_px: int, base: DegradeConfig | None = None) -> list[Condition]:
    base = base or DegradeConfig()
    out = [Condition(s, "severity", severity_config(s, base)) for s in SEVERITIES]
    out += [Condition(t, "type", type_config(t, size_px, base)) for t in TYPES]
    return out


class _CaptureResizeSpy:
    """Stands in for ``cv2`` inside ``train.degrade`` and keeps the input of the final
    bicubic resize: the low-res capture, which ``degrade`` does not return."""

    def __init__(self) -> None:
        self.low: np.ndarray | None = None

    def __getattr__(self, name: str):
        return getattr(cv2, name)

    def resize(self, src, dsize, *args, **kwargs):  # noqa: ANN001 - cv2's signature
        if kwargs.get("interpolation") == cv2.INTER_CUBIC:
            self.low = src.copy()
        return cv2.resize(src, dsize, *args, **kwargs)


def degrade_with_capture(
    clean_rgb: np.ndarray, rng: np.random.Generator, cfg: DegradeConfig
) -> tuple[np.ndarray, np.ndarray, dict]:
    """``train.degrade.degrade`` unchanged; returns (low-res capture, bicubic upscale, params)."""
    spy = _CaptureResizeSpy()
    with mock.patch.object(degrade_module, "cv2", spy):
        upscaled, params = degrade_module.degrade(clean_rgb, rng, cfg)
    if spy.low is None:
        raise RuntimeError("train.degrade changed: no final bicubic upscale was seen")
    return spy.low, upscaled, params


def nearest_upscale(img: np.ndarray, size_px: int) -> np.ndarray:
    """What a viewer sees of the capture: its pixels, blown up without interpolation."""
    return cv2.resize(img, (size_px, size_px), interpolation=cv2.INTER_NEAREST)


def bicubic_upscale(img: np.ndarray, size_px: int) -> np.ndarray:
    return cv2.resize(img, (size_px, size_px), interpolation=cv2.INTER_CUBIC)


class Restorers:
    """The pipeline's enhancers, on RGB uint8 crops (the pipeline works in BGR)."""

    def __init__(self, generator_path: Path | None, enhance: EnhanceConfig | None = None) -> None:
        self.config = enhance or EnhanceConfig()
        self._classical = ClassicalEnhancer(self.config)
        self.runner = GeneratorRunner(generator_path, self.config) if generator_path else None

    @property
    def methods(self) -> tuple[str, ...]:
        return METHODS if self.runner is not None else (*METHODS[:3], "auto")

    def classical(self, crops_rgb: list[np.ndarray]) -> list[np.ndarray]:
        return [self._classical(c[:, :, ::-1])[:, :, ::-1].copy() for c in crops_rgb]

    def generator(self, crops_rgb: list[np.ndarray]) -> list[np.ndarray]:
        """Exactly ``EnhanceStage.run_generator``: batched, resized to the model and back."""
        if self.runner is None:
            raise RuntimeError("no generator given")
        bgr = [c[:, :, ::-1] for c in crops_rgb]
        batch = to_model_input(bgr, self.runner.input_size_px, self.runner.input_dtype)
        out = from_model_output(self.runner(batch), [c.shape[0] for c in crops_rgb])
        return [o[:, :, ::-1].copy() for o in out]

    def run(
        self, upscaled_rgb: list[np.ndarray], face_px: list[float], unprocessed: list[np.ndarray]
    ) -> dict[str, list[np.ndarray]]:
        """classical / generator / both on the bicubic-upscaled crops, and ``auto``: what the
        pipeline's default picks for a face ``face_px`` tall (``unprocessed`` where it leaves
        the face as it is), by the same function the enhance stage uses."""
        out = {"classical": self.classical(upscaled_rgb)}
        if self.runner is not None:
            out["generator"] = self.generator(upscaled_rgb)
            out["both"] = self.generator(out["classical"])
        picks = {"": unprocessed, "classical": out["classical"], "generator": out.get("generator")}
        steps = ["+".join(auto_steps(px, self.config)) for px in face_px]
        if any(picks.get(s) is None for s in steps):
            raise RuntimeError("auto picked the generator but none was given")
        out["auto"] = [picks[s][i] for i, s in enumerate(steps)]
        self.last_auto = steps
        return out
