"""The enhance stage: every face of the frames it is given goes through one batch.

The pipeline hands this stage several frames at once (up to ``max_batch_frames``, within
``max_wait_ms``), so the generator sees one (N, 3, S, S) tensor for all their faces.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import numpy as np

from streamproc.core.config import EnhanceConfig
from streamproc.core.errors import ModelError
from streamproc.core.packet import Face, FramePacket
from streamproc.vision.enhance.classical import ClassicalEnhancer
from streamproc.vision.enhance.crops import extract, from_model_output, square_box, to_model_input
from streamproc.vision.enhance.onnx import GeneratorRunner

SHIPPED_MODEL = Path(__file__).resolve().parents[2] / "models" / "face_lite.onnx"
SHIPPED_SMALL_MODEL = SHIPPED_MODEL.with_name("face_small.onnx")


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


def small_generator_config(config: EnhanceConfig) -> EnhanceConfig | None:
    """The config that loads the small-face generator (``enhance.small_model``), or None
    when there is none: ``none``, or ``''`` while ``model`` is the user's own (their model
    then enhances every face) or no small model ships."""
    if not uses_generator(config) or config.small_model == "none":
        return None
    if config.small_model:
        path = Path(config.small_model)
        if not path.is_file():
            raise ModelError(f"small-face generator model not found: {path}")
    elif config.model or not SHIPPED_SMALL_MODEL.is_file():
        return None
    else:
        path = SHIPPED_SMALL_MODEL
    return dataclasses.replace(
        config, model=str(path), model_sha256=config.small_model_sha256, small_model="none"
    )


@dataclasses.dataclass
class Generators:
    """The generators of one enhance config, loaded: ``main`` for the faces the generator
    gets, ``small`` (None when there is none) for those up to ``small_model_max_face_px``."""

    main: GeneratorRunner | None = None
    small: GeneratorRunner | None = None


def load_generators(
    config: EnhanceConfig, load: Callable[[EnhanceConfig], GeneratorRunner] = generator_runner
) -> Generators:
    """``config``'s generators, each loaded by ``load`` (a worker's cache passes its own)."""
    if not uses_generator(config):
        return Generators()
    small = small_generator_config(config)
    return Generators(load(config), None if small is None else load(small))


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

    def __init__(self, config: EnhanceConfig, generators: Generators | None = None) -> None:
        """``generators``: already loaded for this ``config`` (a batch worker's, kept across
        its jobs); else loaded here when the mode uses them."""
        self.config = config
        uses_classical = config.mode in ("classical", "both", "auto")
        self.classical = ClassicalEnhancer(config) if uses_classical else None
        if generators is None:
            generators = load_generators(config)
        self.generator = generators.main if uses_generator(config) else None
        self.small_generator = generators.small if self.generator is not None else None
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
                crops = self._run_generators(group, crops)
            for face, enhanced in zip(group, crops, strict=True):
                face.enhanced = enhanced
                face.enhancer = "+".join(steps)
        self.faces_enhanced += sum(1 for f in faces if f.enhanced is not None)
        return packets

    def _run_generators(self, group: list[Face], crops: list[np.ndarray]) -> list[np.ndarray]:
        """The small-face generator for faces up to ``small_model_max_face_px``, the main
        one for the rest, each in one batch."""
        if self.small_generator is None:
            return self.run_generator(crops)
        limit = self.config.small_model_max_face_px
        out = list(crops)
        for small, runner in ((True, self.small_generator), (False, self.generator)):
            indices = [i for i, face in enumerate(group) if (face.height_px <= limit) == small]
            if indices:
                done = self.run_generator([crops[i] for i in indices], runner)
                for i, enhanced in zip(indices, done, strict=True):
                    out[i] = enhanced
        return out

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

    def run_generator(
        self, crops: list[np.ndarray], runner: GeneratorRunner | None = None
    ) -> list[np.ndarray]:
        runner = runner or self.generator
        batch = to_model_input(crops, runner.input_size_px, runner.input_dtype)
        return from_model_output(runner(batch), [c.shape[0] for c in crops])

    def close(self) -> None:
        self.generator = self.small_generator = None
