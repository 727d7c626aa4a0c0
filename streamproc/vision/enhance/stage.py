"""The enhance stage: every face of the frames it is given goes through one batch.

The pipeline hands this stage several frames at once (up to ``max_batch_frames``, within
``max_wait_ms``), so the generator sees one (N, 3, S, S) tensor for all their faces.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from streamproc.core.config import EnhanceConfig
from streamproc.core.errors import ModelError
from streamproc.core.packet import Face, FramePacket
from streamproc.vision.enhance.classical import ClassicalEnhancer
from streamproc.vision.enhance.crops import extract, from_model_output, square_box, to_model_input
from streamproc.vision.enhance.onnx import GeneratorRunner

SHIPPED_MODEL = Path(__file__).resolve().parents[2] / "models" / "face_lite.onnx"


def resolve_generator(config: EnhanceConfig) -> Path:
    path = Path(config.model) if config.model else SHIPPED_MODEL
    if not path.is_file():
        hint = (
            ""
            if config.model
            else " (no generator ships in this install; use enhance.mode=classical)"
        )
        raise ModelError(f"generator model not found: {path}{hint}")
    return path


def generator_runner(config: EnhanceConfig) -> GeneratorRunner:
    """ONNX Runtime's runner, or (``enhance.runtime: torch``) the same file on torch."""
    path = resolve_generator(config)
    if config.runtime == "torch":
        from streamproc.vision.enhance.torch_graph import TorchGeneratorRunner

        return TorchGeneratorRunner(path, config)
    return GeneratorRunner(path, config)


def auto_steps(height_px: float, config: EnhanceConfig) -> tuple[str, ...]:
    """``auto``: the enhancer(s) for a face this tall; () leaves it as it is. The bands come
    from the evaluation (model card): below ``auto_min_face_px`` nothing kept identity."""
    if height_px < config.auto_min_face_px:
        return ()
    if height_px <= config.generator_max_face_px:
        return ("generator",)
    return ("classical",)


def uses_generator(config: EnhanceConfig) -> bool:
    return config.mode in ("generator", "both", "auto")


class EnhanceStage:
    name = "enhance"

    def __init__(self, config: EnhanceConfig, generator: GeneratorRunner | None = None) -> None:
        """``generator``: already loaded for this ``config`` (a batch worker's, kept across
        its jobs); else loaded here when the mode uses one."""
        self.config = config
        uses_classical = config.mode in ("classical", "both", "auto")
        self.classical = ClassicalEnhancer(config) if uses_classical else None
        if not uses_generator(config):
            generator = None
        elif generator is None:
            generator = generator_runner(config)
        self.generator = generator
        self.faces_enhanced = 0

    def process(self, packets: list[FramePacket]) -> list[FramePacket]:
        if self.config.mode == "off":
            return packets
        faces: list[Face] = []
        for packet in packets:
            for face in packet.faces:
                if face.height_px > self.config.max_face_px:
                    continue
                if face.crop is None:  # else the fuse stage has cut (and fused) it
                    face.crop_box = square_box(face.box_xyxy, self.config.crop_margin)
                    face.crop = extract(packet.image, face.crop_box)
                faces.append(face)
        if not faces:
            return packets
        for group, steps in self._plan(faces):
            crops = [f.crop for f in group]
            if "classical" in steps:
                crops = [self.classical(c) for c in crops]
            if "generator" in steps and crops:
                crops = self.run_generator(crops)
            for face, enhanced in zip(group, crops, strict=True):
                face.enhanced = enhanced
                face.enhancer = "+".join(steps)
        self.faces_enhanced += sum(1 for f in faces if f.enhanced is not None)
        return packets

    def _plan(self, faces: list[Face]) -> list[tuple[list[Face], tuple[str, ...]]]:
        """Which faces get which enhancer. ``auto``: the generator for small faces, where it
        beats the classical filters (16-28 px in the evaluation), classical for larger ones,
        where the generator's smoothing costs detail (see the model card)."""
        mode = self.config.mode
        if mode == "auto":
            groups: dict[tuple[str, ...], list[Face]] = {}
            for face in faces:
                groups.setdefault(auto_steps(face.height_px, self.config), []).append(face)
            return [(group, steps) for steps, group in groups.items() if steps]
        steps = {"classical": ("classical",), "generator": ("generator",)}
        return [(faces, steps.get(mode, ("classical", "generator")))]

    def run_generator(self, crops: list[np.ndarray]) -> list[np.ndarray]:
        runner = self.generator
        batch = to_model_input(crops, runner.input_size_px, runner.input_dtype)
        return from_model_output(runner(batch), [c.shape[0] for c in crops])

    def close(self) -> None:
        self.generator = None
