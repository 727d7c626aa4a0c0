"""The contract between export/ (which writes generator ONNX files) and the runtime.

Everything the runtime needs to run a generator is stored in the ONNX file's
``metadata_props``, so a model file is self-describing: no hard-coded input size or
normalisation anywhere in the pipeline.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from streamproc.core.errors import ModelError

FORMAT = "streamproc-generator/1"
KEY_FORMAT = "streamproc.format"
KEY_GENERATOR_CONFIG = "streamproc.generator_config"  # JSON of GeneratorConfig below
KEY_INPUT_SIZE = "streamproc.input_size"  # square side in px: checked against the config
KEY_NORMALIZATION = "streamproc.normalization"  # NORMALIZATION below
KEY_PRECISION = "streamproc.precision"  # "fp32" | "fp16"
KEY_PROVENANCE = "streamproc.provenance"  # JSON: checkpoint sha256, epoch, data, exporter
KEY_PARITY = "streamproc.parity"  # JSON: max abs diff torch vs ORT per batch
KEY_DYNAMIC_SPATIAL = "streamproc.dynamic_spatial"  # "1" when H, W may vary (multiple of stride)
KEY_STRIDE = "streamproc.stride"  # spatial multiple, 2**depth: checked against the config

INPUT_NAME = "input"
OUTPUT_NAME = "output"
# RGB, NCHW, float, value = pixel / 127.5 - 1 (tanh range); the output uses the same range.
NORMALIZATION = "rgb_nchw_minus1_1"
NORMS = ("batch", "instance", "none")


@dataclass(frozen=True)
class GeneratorConfig:
    """U-Net generator: ``depth`` down-samplings, so inputs are multiples of 2**depth px.
    Built by train.models.define_G, stored in checkpoints and in the ONNX metadata, read
    back here by the runtime without torch."""

    in_channels: int = 3
    out_channels: int = 3
    base_channels: int = 64
    depth: int = 7
    norm: str = "batch"
    dropout: bool = True
    input_size: int = 128

    def __post_init__(self) -> None:
        if self.norm not in NORMS:
            raise ValueError(f"norm must be one of {NORMS}, got {self.norm!r}")
        if self.depth < 2:
            raise ValueError("depth must be >= 2")
        if self.input_size % self.stride:
            raise ValueError(f"input_size {self.input_size} must be a multiple of {self.stride}")

    @property
    def stride(self) -> int:
        return 2**self.depth

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GeneratorConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown generator config keys: {sorted(unknown)}")
        return cls(**data)


@dataclass(frozen=True)
class GeneratorMeta:
    """What the runtime reads back from a generator ONNX file."""

    generator: GeneratorConfig  # the architecture; the input size is its input_size
    precision: str
    dynamic_spatial: bool  # export checked parity at other sizes (the runtime uses input_size)
    provenance: dict[str, Any]
    parity: dict[str, Any]

    @property
    def input_size_px(self) -> int:
        return self.generator.input_size


def parse_meta(props: dict[str, str], model_path: Path) -> GeneratorMeta:
    """Validate the metadata of a generator ONNX file; refuse files that are not ours."""
    if props.get(KEY_FORMAT) != FORMAT:
        raise ModelError(
            f"{model_path} is not a streamproc generator (metadata {KEY_FORMAT!r} is "
            f"{props.get(KEY_FORMAT)!r}, expected {FORMAT!r}); export it with streamproc-export"
        )
    if props.get(KEY_NORMALIZATION) != NORMALIZATION:
        raise ModelError(
            f"{model_path}: unsupported normalisation {props.get(KEY_NORMALIZATION)!r}"
        )
    try:
        config = GeneratorConfig.from_dict(json.loads(props[KEY_GENERATOR_CONFIG]))
        size = int(props.get(KEY_INPUT_SIZE, config.input_size))
        stride = int(props.get(KEY_STRIDE, config.stride))
        provenance = json.loads(props.get(KEY_PROVENANCE, "{}"))
        parity = json.loads(props.get(KEY_PARITY, "{}"))
    except (KeyError, TypeError, ValueError) as err:
        raise ModelError(f"{model_path}: malformed streamproc metadata ({err})") from None
    if (size, stride) != (config.input_size, config.stride):
        raise ModelError(
            f"{model_path}: metadata input size {size} / stride {stride} disagree with its "
            f"generator config ({config.input_size} / {config.stride})"
        )
    return GeneratorMeta(
        generator=config,
        precision=props.get(KEY_PRECISION, "fp32"),
        dynamic_spatial=props.get(KEY_DYNAMIC_SPATIAL) == "1",
        provenance=provenance,
        parity=parity,
    )
