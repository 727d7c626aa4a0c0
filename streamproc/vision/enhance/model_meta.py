"""The contract between export/ (which writes generator ONNX files) and the runtime.

Everything the runtime needs to run a generator is stored in the ONNX file's
``metadata_props``, so a model file is self-describing: no hard-coded input size or
normalisation anywhere in the pipeline.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from streamproc.core.errors import ModelError

FORMAT = "streamproc-generator/1"
KEY_FORMAT = "streamproc.format"
KEY_GENERATOR_CONFIG = "streamproc.generator_config"  # JSON of train.models.GeneratorConfig
KEY_INPUT_SIZE = "streamproc.input_size"  # square side in px, e.g. "128"
KEY_NORMALIZATION = "streamproc.normalization"  # NORMALIZATION below
KEY_PRECISION = "streamproc.precision"  # "fp32" | "fp16"
KEY_PROVENANCE = "streamproc.provenance"  # JSON: checkpoint sha256, epoch, data, exporter
KEY_PARITY = "streamproc.parity"  # JSON: max abs diff torch vs ORT per batch
KEY_DYNAMIC_SPATIAL = "streamproc.dynamic_spatial"  # "1" when H, W may vary (multiple of stride)
KEY_STRIDE = "streamproc.stride"  # spatial multiple required, 2**depth

INPUT_NAME = "input"
OUTPUT_NAME = "output"
# RGB, NCHW, float, value = pixel / 127.5 - 1 (tanh range); the output uses the same range.
NORMALIZATION = "rgb_nchw_minus1_1"


@dataclass(frozen=True)
class GeneratorMeta:
    """What the runtime reads back from a generator ONNX file."""

    input_size_px: int
    precision: str
    stride: int
    dynamic_spatial: bool
    generator_config: dict[str, Any]
    provenance: dict[str, Any]
    parity: dict[str, Any]


def sha256_file(path: Path, chunk_bytes: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk_bytes):
            digest.update(block)
    return digest.hexdigest()


def sidecar_path(model_path: Path) -> Path:
    return model_path.with_name(model_path.name + ".sha256")


def write_sidecar(model_path: Path) -> str:
    """Write ``<model>.sha256`` in sha256sum format and return the hex digest."""
    digest = sha256_file(model_path)
    sidecar_path(model_path).write_text(f"{digest}  {model_path.name}\n")
    return digest


def verify_sha256(model_path: Path, expected: str | None) -> str:
    """Check a model file against ``expected`` or, if not given, its sidecar.

    A model with neither is accepted (users' own files) and its digest is still returned
    for the manifest; a mismatch is always an error.
    """
    if not model_path.is_file():
        raise ModelError(f"model file not found: {model_path}")
    actual = sha256_file(model_path)
    if expected is None and sidecar_path(model_path).is_file():
        expected = sidecar_path(model_path).read_text().split()[0]
    if expected is not None and expected.lower() != actual:
        raise ModelError(
            f"model {model_path} fails its sha256 check (expected {expected[:12]}…, "
            f"got {actual[:12]}…); the file is corrupt or not the recorded model"
        )
    return actual


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
        size = int(props[KEY_INPUT_SIZE])
        stride = int(props.get(KEY_STRIDE, "1"))
        config = json.loads(props[KEY_GENERATOR_CONFIG])
        provenance = json.loads(props.get(KEY_PROVENANCE, "{}"))
        parity = json.loads(props.get(KEY_PARITY, "{}"))
    except (KeyError, ValueError) as err:
        raise ModelError(f"{model_path}: malformed streamproc metadata ({err})") from None
    if size <= 0 or size % stride:
        raise ModelError(f"{model_path}: input size {size} is not a multiple of stride {stride}")
    return GeneratorMeta(
        input_size_px=size,
        precision=props.get(KEY_PRECISION, "fp32"),
        stride=stride,
        dynamic_spatial=props.get(KEY_DYNAMIC_SPATIAL) == "1",
        generator_config=config,
        provenance=provenance,
        parity=parity,
    )
