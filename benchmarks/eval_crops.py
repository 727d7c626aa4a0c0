"""Face-crop mode (``streamproc run DIR --faces``) scored like the synthetic tables.

The low-resolution captures of each severity (the same draws as the synthetic tables:
same seed, condition and face index) are written as PNG files, and the real command
runs on the folder once per ``enhance.mode``: every image is one face crop, enhanced at
its own size and written under its own name. Outputs and the unprocessed crop are then
bicubic-upscaled to the comparison size (what an investigator's viewer does) and scored
against the clean face. The AI-enhanced label is switched off for scoring only.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from benchmarks.eval_methods import Condition, bicubic_upscale, degrade_with_capture
from streamproc.core.errors import StreamprocError

MODES = ("auto", "classical", "generator")


def streamproc_command() -> list[str]:
    script = Path(sys.executable).parent / "streamproc"
    if script.is_file():
        return [str(script)]
    return [
        sys.executable,
        "-c",
        "-m",
        "streamproc",
    ]


def run_faces_mode(folder: Path, out: Path, mode: str, generator: Path | None) -> None:
    cmd = [*streamproc_command(), "run", str(folder), "--faces", "-o", str(out), "--quiet",
           "--set", f"enhance.mode={mode}", "--set", "composite.marker=false",
           "--set", "output.manifest=true"]  # fmt: skip
    if generator is not None:
        cmd += ["--set", f"enhance.model={generator}"]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise StreamprocError(f"`{' '.join(cmd)}` exited {result.returncode}: {result.stderr}")


def crop_mode(
    conds: list[Condition],
    faces: list[tuple[int, np.ndarray]],
    seed: int,
    size_px: int,
    generator: Path | None,
    score: Callable[[dict[str, list[np.ndarray]], list[np.ndarray]], dict[str, Any]],
) -> dict[str, Any]:
    """Per severity: {"per_method": ..., "per_face": ..., "crop_px": [...]}; ``score``
    maps (outputs, refs) to the per-method, per-face scores of ``evaluate.score``."""
    modes = MODES if generator is not None else MODES[:2]
    result: dict[str, Any] = {"modes": list(modes), "conditions": {}}
    clean = [img for _, img in faces]
    with tempfile.TemporaryDirectory(prefix="streamproc-eval-crops-") as tmp:
        for cond in conds:
            folder = Path(tmp) / cond.name
            folder.mkdir()
            names, lows, inputs = [], [], []
            for index, img in faces:
                # up: the capture bicubic-upscaled to the clean face's (= comparison) size
                low, up, _ = degrade_with_capture(img, cond.rng(seed, index), cond.config)
                name = f"face_{index:05d}.png"
                cv2.imwrite(str(folder / name), low[:, :, ::-1])
                names.append(name)
                lows.append(low)
                inputs.append(up)
            outputs = {"input": inputs}
            for mode in modes:
                out = Path(tmp) / f"{cond.name}_{mode}"
                run_faces_mode(folder, out, mode, generator)
                enhanced = []
                for name, low in zip(names, lows, strict=True):
                    img = cv2.imread(str(out / name))
                    if img is None or img.shape[:2] != low.shape[:2]:
                        raise StreamprocError(f"--faces wrote no {name} of the input's size")
                    enhanced.append(bicubic_upscale(img[:, :, ::-1], size_px))
                outputs[f"--faces {mode}"] = enhanced
            result["conditions"][cond.name] = {
                "crop_px": sorted({int(low.shape[0]) for low in lows}),
                **score(outputs, clean),
            }
    return result
