"""Checkpoint -> ONNX generator, with metadata the runtime reads and a torch/ORT parity proof.

The file is built and checked in memory and only written once parity holds, so a model
that disagrees with torch never reaches disk. Every key of ``model_meta`` is written, so
the runtime needs no hard-coded size, normalisation or precision.
"""

from __future__ import annotations

import copy
import io
import json
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import onnx
import onnxruntime as ort
import torch
from google.protobuf.message import DecodeError
from onnxruntime.capi import onnxruntime_pybind11_state as ort_state

import streamproc
from streamproc.audit import hashing
from streamproc.core.errors import ModelError, OutputError
from streamproc.core.packages import package_file
from streamproc.vision.enhance import model_meta as meta
from train import checkpoint
from train.models import GeneratorConfig, UnetGenerator, define_G

EXPORTER = f"streamproc-export {streamproc.__version__}"
DEFAULT_OPSET = 17
# fp32 ORT differs from torch only by kernel rounding; fp16 halves the mantissa.
TOLERANCE = {"fp32": 1e-4, "fp16": 1e-2}
MAX_SIZE_BYTES = 15_000_000  # above this the model is too heavy for real-time CPU use
PARITY_BATCHES = (1, 7)
PARITY_SEED = 0
PROVIDER = "CPUExecutionProvider"
TINY_GENERATOR = GeneratorConfig(base_channels=4, depth=3, input_size=32)
# Square face boxes (x0, y0, side px) in ultralytics' assets/zidane.jpg (1280x720).
FACE_IMAGE = "zidane.jpg"
FACE_BOXES = ((470, 200, 240), (865, 55, 220))
ORT_ERRORS = (
    ort_state.Fail,
    ort_state.InvalidArgument,
    ort_state.InvalidGraph,
    ort_state.NotImplemented,
    ort_state.RuntimeException,
)
JSON_KEYS = (meta.KEY_GENERATOR_CONFIG, meta.KEY_PROVENANCE, meta.KEY_PARITY)


@dataclass(frozen=True)
class ExportReport:
    """What an export produced; ``max_abs_diff`` is empty when the check was skipped."""

    path: Path
    sha256: str
    precision: str
    opset: int
    max_abs_diff: dict[str, float]
    tolerance: float
    dynamic_spatial: bool
    size_bytes: int
    export_s: float

    @property
    def oversize(self) -> bool:
        return self.size_bytes > MAX_SIZE_BYTES


# --- checkpoint ---------------------------------------------------------------------------


def load_generator(ckpt_path: Path) -> tuple[UnetGenerator, GeneratorConfig, dict[str, Any]]:
    """Rebuild the generator a checkpoint describes; the info dict becomes ONNX provenance."""
    ckpt_path = Path(ckpt_path)
    model, ckpt = checkpoint.load_generator(ckpt_path)
    info: dict[str, Any] = {
        "checkpoint": ckpt_path.name,
        "checkpoint_sha256": hashing.sha256_file(ckpt_path),
        "epoch": ckpt.get("epoch"),
    }
    for key in ("train_config", "data_provenance"):
        if key in ckpt:
            info[key] = ckpt[key]
    return model, model.config, info


# --- export -------------------------------------------------------------------------------


def export_generator(
    model: UnetGenerator,
    config: GeneratorConfig,
    out_path: Path,
    *,
    fp16: bool = False,
    opset: int = DEFAULT_OPSET,
    provenance: Mapping[str, Any],
    check: bool = True,
    parity_batches: tuple[int, ...] = PARITY_BATCHES,
) -> ExportReport:
    """Export, prove parity against fp32 torch on CPU ORT, then write file and sidecar.

    The dynamic-spatial flag is only set when a non-default size was run, so the runtime
    never trusts an unverified claim.
    """
    start = time.perf_counter()
    out_path = Path(out_path)
    precision = "fp16" if fp16 else "fp32"
    reference = copy.deepcopy(model).float().eval()
    exported = copy.deepcopy(reference).half() if fp16 else reference  # .half() is in place
    onnx_bytes = _to_onnx_bytes(exported, config, fp16=fp16, opset=opset)
    diffs: dict[str, float] = {}
    if check:
        diffs = _check_parity(reference, onnx_bytes, config, precision, parity_batches)
    parity = _parity_record(diffs, precision, check)
    props = _metadata(config, precision, _provenance(provenance, opset), parity, check)
    proto = _with_metadata(onnx_bytes, props)
    digest = _write(proto, out_path)
    return ExportReport(
        path=out_path,
        sha256=digest,
        precision=precision,
        opset=opset,
        max_abs_diff=diffs,
        tolerance=TOLERANCE[precision],
        dynamic_spatial=check,
        size_bytes=out_path.stat().st_size,
        export_s=time.perf_counter() - start,
    )


def export_tiny_generator(
    out_path: Path, seed: int = 0, config: GeneratorConfig = TINY_GENERATOR
) -> Path:
    """An untrained, parity-checked generator small enough for fast pipeline tests."""
    model = define_G(config, seed=seed)
    provenance = {"source": f"define_G(seed={seed}), untrained", "epoch": None}
    return export_generator(model, config, Path(out_path), provenance=provenance).path


def _to_onnx_bytes(
    model: UnetGenerator, config: GeneratorConfig, *, fp16: bool, opset: int
) -> bytes:
    """The TorchScript exporter: the U-Net is static, so tracing is exact and fast offline."""
    dtype = torch.float16 if fp16 else torch.float32
    dummy = torch.zeros(1, config.in_channels, config.input_size, config.input_size, dtype=dtype)
    axes = {0: "batch", 2: "height", 3: "width"}
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore", DeprecationWarning)  # legacy exporter, chosen on purpose
        torch.onnx.export(
            model.eval(),
            (dummy,),
            buffer,
            input_names=[meta.INPUT_NAME],
            output_names=[meta.OUTPUT_NAME],
            dynamic_axes={meta.INPUT_NAME: axes, meta.OUTPUT_NAME: axes},
            opset_version=opset,
            do_constant_folding=True,
            dynamo=False,
        )
    return buffer.getvalue()


# --- parity -------------------------------------------------------------------------------


def _check_parity(
    reference: UnetGenerator,
    onnx_bytes: bytes,
    config: GeneratorConfig,
    precision: str,
    batches: tuple[int, ...],
) -> dict[str, float]:
    """Max |torch fp32 - ORT| per case; any case over tolerance aborts the export."""
    session = _session(onnx_bytes)
    in_dtype = np.float16 if precision == "fp16" else np.float32
    tolerance = TOLERANCE[precision]
    diffs: dict[str, float] = {}
    for name, batch in _parity_cases(config, batches).items():
        with torch.inference_mode():
            expected = reference(torch.from_numpy(batch)).numpy()
        try:
            actual = session.run([meta.OUTPUT_NAME], {meta.INPUT_NAME: batch.astype(in_dtype)})[0]
        except ORT_ERRORS as err:
            raise ModelError(
                f"ONNX Runtime cannot run the exported model on {name}: {err}"
            ) from None
        diffs[name] = float(np.max(np.abs(actual.astype(np.float32) - expected)))
        if not diffs[name] <= tolerance:  # also catches NaN
            raise ModelError(
                f"export parity failed on {name}: max abs diff {diffs[name]:.3g} > {tolerance:g} "
                f"({precision}); nothing was written"
            )
    return diffs


def _session(onnx_bytes: bytes) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(onnx_bytes, sess_options=options, providers=[PROVIDER])
    except ORT_ERRORS as err:
        raise ModelError(f"ONNX Runtime cannot load the exported model: {err}") from None


def _parity_cases(config: GeneratorConfig, batches: tuple[int, ...]) -> dict[str, np.ndarray]:
    """Noise (worst case), random scene crops and real face crops; plus one at 2x size."""
    rng = np.random.default_rng(PARITY_SEED)
    image = _face_image()
    size = config.input_size
    cases: dict[str, np.ndarray] = {}
    for n in batches:
        cases[f"noise_b{n}"] = rng.uniform(-1.0, 1.0, (n, config.in_channels, size, size))
        cases[f"crops_b{n}"] = _scene_crops(image, rng, n, size)
        cases[f"faces_b{n}"] = _face_crops(image, rng, n, size)
    cases[f"faces_b2_{2 * size}px"] = _face_crops(image, rng, 2, 2 * size)
    return {name: batch.astype(np.float32) for name, batch in cases.items()}


def _face_image() -> np.ndarray:
    """A real photo shipped with ultralytics (a runtime dependency), read without importing it."""
    path = package_file("ultralytics", f"assets/{FACE_IMAGE}", "pip install ultralytics")
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise ModelError(f"parity check cannot read its sample face image {path}")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def _face_crops(image: np.ndarray, rng: np.random.Generator, n: int, size: int) -> np.ndarray:
    """Jittered, sometimes mirrored crops of the known faces, as a detector would give."""
    crops = []
    for i in range(n):
        x0, y0, side = FACE_BOXES[i % len(FACE_BOXES)]
        side = int(side * rng.uniform(0.85, 1.15))
        x0, y0 = x0 + int(rng.integers(-15, 16)), y0 + int(rng.integers(-15, 16))
        crop = _crop(image, x0, y0, side, size)
        crops.append(crop[:, ::-1] if (i // len(FACE_BOXES)) % 2 else crop)
    return _to_nchw(crops)


def _scene_crops(image: np.ndarray, rng: np.random.Generator, n: int, size: int) -> np.ndarray:
    height, width = image.shape[:2]
    crops = []
    for _ in range(n):
        side = int(rng.integers(size, min(height, width) // 2))
        x0 = int(rng.integers(0, width - side))
        y0 = int(rng.integers(0, height - side))
        crops.append(_crop(image, x0, y0, side, size))
    return _to_nchw(crops)


def _crop(image: np.ndarray, x0: int, y0: int, side: int, size: int) -> np.ndarray:
    height, width = image.shape[:2]
    x0, y0 = max(0, min(x0, width - side)), max(0, min(y0, height - side))
    return cv2.resize(image[y0 : y0 + side, x0 : x0 + side], (size, size), cv2.INTER_AREA)


def _to_nchw(crops: list[np.ndarray]) -> np.ndarray:
    """RGB uint8 HWC -> model_meta.NORMALIZATION (NCHW, pixel / 127.5 - 1)."""
    batch = np.stack(crops).astype(np.float32) / 127.5 - 1.0
    return np.ascontiguousarray(batch.transpose(0, 3, 1, 2))


# --- metadata and writing -----------------------------------------------------------------


def _parity_record(diffs: dict[str, float], precision: str, checked: bool) -> dict[str, Any]:
    if not checked:
        return {"checked": False}
    return {
        "checked": True,
        "reference": "torch fp32 eval",
        "provider": PROVIDER,
        "precision": precision,
        "tolerance": TOLERANCE[precision],
        "max_abs_diff": diffs,
    }


def _provenance(given: Mapping[str, Any], opset: int) -> dict[str, Any]:
    return {
        **given,
        "exporter": EXPORTER,
        "created_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "torch": torch.__version__,
        "onnx": onnx.__version__,
        "opset": opset,
    }


def _metadata(
    config: GeneratorConfig,
    precision: str,
    provenance: Mapping[str, Any],
    parity: Mapping[str, Any],
    dynamic_spatial: bool,
) -> dict[str, str]:
    return {
        meta.KEY_FORMAT: meta.FORMAT,
        meta.KEY_GENERATOR_CONFIG: json.dumps(config.to_dict(), sort_keys=True),
        meta.KEY_INPUT_SIZE: str(config.input_size),
        meta.KEY_NORMALIZATION: meta.NORMALIZATION,
        meta.KEY_PRECISION: precision,
        meta.KEY_PROVENANCE: json.dumps(provenance, sort_keys=True, default=str),
        meta.KEY_PARITY: json.dumps(parity, sort_keys=True),
        meta.KEY_DYNAMIC_SPATIAL: "1" if dynamic_spatial else "0",
        meta.KEY_STRIDE: str(config.stride),
    }


def _with_metadata(onnx_bytes: bytes, props: Mapping[str, str]) -> onnx.ModelProto:
    proto = onnx.load_from_string(onnx_bytes)
    del proto.metadata_props[:]
    for key, value in props.items():
        proto.metadata_props.add(key=key, value=value)
    try:
        onnx.checker.check_model(proto, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as err:
        raise ModelError(f"exported model fails onnx.checker: {err}") from None
    return proto


def _write(proto: onnx.ModelProto, out_path: Path) -> str:
    """Write model then sidecar; a half-written pair is removed, never left behind."""
    try:
        out_path.parent.mkdir(parents=True, exist_ok=True)
        out_path.write_bytes(proto.SerializeToString())
        return hashing.write_sidecar(out_path)
    except OSError as err:
        out_path.unlink(missing_ok=True)
        hashing.sidecar_path(out_path).unlink(missing_ok=True)
        raise OutputError(f"cannot write {out_path}: {err.strerror or err}") from None


# --- inspection ---------------------------------------------------------------------------


def inspect_model(path: Path) -> dict[str, Any]:
    """Metadata and I/O signature of an ONNX file, JSON fields decoded, for humans."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"model file not found: {path}")
    try:
        proto = onnx.load(str(path), load_external_data=False)
    except (OSError, DecodeError) as err:
        raise ModelError(f"{path} is not a readable ONNX file ({err})") from None
    props = {p.key: p.value for p in proto.metadata_props}
    decoded = {k: _decode(v) if k in JSON_KEYS else v for k, v in props.items()}
    return {
        "path": str(path),
        "sha256": hashing.sha256_file(path),
        "inputs": [_signature(v) for v in proto.graph.input],
        "outputs": [_signature(v) for v in proto.graph.output],
        "metadata": decoded,
    }


def _decode(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text  # shown as stored: inspection must work on damaged files too


def _signature(value: onnx.ValueInfoProto) -> dict[str, Any]:
    tensor = value.type.tensor_type
    dims = [d.dim_param or d.dim_value for d in tensor.shape.dim]
    return {
        "name": value.name,
        "dtype": onnx.TensorProto.DataType.Name(tensor.elem_type),
        "shape": dims,
    }
