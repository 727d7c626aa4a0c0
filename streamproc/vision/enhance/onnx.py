"""The one place that creates ONNX Runtime sessions, and the batched generator runner.

Providers come from config. If the user asked for CUDA or TensorRT and the session did
not get it, that is an error (or one warning, by config): silently running a GPU model
on the CPU at a fraction of the speed is worse than stopping.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import onnxruntime as ort

from streamproc.audit.hashing import verify_sha256
from streamproc.core.config import EnhanceConfig
from streamproc.core.errors import ModelError
from streamproc.vision.enhance import model_meta
from streamproc.vision.enhance.model_meta import GeneratorMeta

log = logging.getLogger(__name__)

PROVIDER_NAMES = {
    "tensorrt": "TensorrtExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "cpu": "CPUExecutionProvider",
}
_state = ort.capi.onnxruntime_pybind11_state
# What ORT raises for a corrupt, truncated or malformed model file.
ORT_LOAD_ERRORS = (
    _state.Fail,
    _state.InvalidGraph,
    _state.InvalidProtobuf,
    _state.InvalidArgument,
    _state.NoSuchFile,
    _state.RuntimeException,
    _state.NotImplemented,
    RuntimeError,
)
GRAPH_LEVELS = {
    "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
}


class SessionSettings(Protocol):
    """What a session needs from its config: :class:`EnhanceConfig` (the generator) or
    :class:`SessionConfig` (the detector) both have it."""

    providers: tuple[str, ...]
    missing_provider: str
    intra_op_threads: int
    ort_spin: bool
    graph_optimization: str
    trt_fp16: bool
    trt_engine_cache_dir: str
    device_id: int


@dataclass(frozen=True)
class SessionConfig:
    """Session settings for a model other than the generator (the face detector)."""

    providers: tuple[str, ...] = ("cpu",)
    missing_provider: str = "error"
    intra_op_threads: int = 2
    ort_spin: bool = False
    graph_optimization: str = "all"
    trt_fp16: bool = True
    trt_engine_cache_dir: str = ""
    device_id: int = 0


def provider_list(config: SessionSettings) -> list[tuple[str, dict[str, Any]]]:
    providers = []
    for short in config.providers:
        name = PROVIDER_NAMES[short]
        options: dict[str, Any] = {}
        if short == "tensorrt":
            options = {
                "device_id": config.device_id,
                "trt_fp16_enable": config.trt_fp16,
                "trt_engine_cache_enable": bool(config.trt_engine_cache_dir),
            }
            if config.trt_engine_cache_dir:
                options["trt_engine_cache_path"] = config.trt_engine_cache_dir
        elif short == "cuda":
            options = {"device_id": config.device_id}
        providers.append((name, options))
    return providers


def create_session(model_path: Path, config: SessionSettings) -> ort.InferenceSession:
    wanted = provider_list(config)
    available = set(ort.get_available_providers())
    missing = [name for name, _ in wanted if name not in available]
    usable = [(n, o) for n, o in wanted if n in available]
    if missing and config.missing_provider == "error":
        raise ModelError(
            f"ONNX Runtime provider(s) {', '.join(missing)} not available "
            f"(have {', '.join(sorted(available))}) for {model_path.name}; set "
            "enhance.providers / detect.device or enhance.missing_provider=warn"
        )
    options = ort.SessionOptions()
    options.graph_optimization_level = GRAPH_LEVELS[config.graph_optimization]
    options.intra_op_num_threads = config.intra_op_threads
    if not config.ort_spin:
        # ORT's worker threads busy-wait between runs by default; on a few cores that
        # steals the CPU the decoder, detector and encoder threads need.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3
    try:
        session = ort.InferenceSession(
            str(model_path), sess_options=options, providers=usable or ["CPUExecutionProvider"]
        )
    except ORT_LOAD_ERRORS as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ModelError(f"cannot load ONNX model {model_path.name}: {first[:200]}") from None
    got = session.get_providers()
    lost = [n for n, _ in usable if n not in got]
    if lost or missing:
        message = (
            f"ONNX Runtime could not start {', '.join(lost + missing)} for "
            f"{model_path.name} (running on {', '.join(got)})"
        )
        if config.missing_provider == "error":
            raise ModelError(message)
        log.warning(message)
    return session


class GeneratorRunner:
    """Runs (N, 3, S, S) batches through the generator, in chunks of ``max_batch``."""

    def __init__(self, model_path: Path, config: EnhanceConfig) -> None:
        self.model_path = model_path
        self.model_sha256 = verify_sha256(model_path, config.model_sha256 or None)
        self.session = create_session(model_path, config)
        props = self.session.get_modelmeta().custom_metadata_map
        self.meta: GeneratorMeta = model_meta.parse_meta(props, model_path)
        self._check_io()
        self.max_batch = config.max_batch
        self.providers = self.session.get_providers()

    def _check_io(self) -> None:
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        if len(inputs) != 1 or inputs[0].name != model_meta.INPUT_NAME:
            raise ModelError(f"{self.model_path.name}: expected one input named 'input'")
        shape = inputs[0].shape
        size = self.meta.input_size_px
        if (
            len(shape) != 4
            or shape[1] != 3
            or any(isinstance(d, int) and d != size for d in shape[2:])
        ):
            raise ModelError(
                f"{self.model_path.name}: input layout {shape} is not (N, 3, {size}, {size})"
            )
        if not outputs or outputs[0].name != model_meta.OUTPUT_NAME:
            raise ModelError(f"{self.model_path.name}: expected an output named 'output'")
        self.input_dtype = np.float16 if inputs[0].type == "tensor(float16)" else np.float32
        if (self.input_dtype == np.float16) != (self.meta.precision == "fp16"):
            raise ModelError(
                f"{self.model_path.name}: metadata says {self.meta.precision} but the input "
                f"is {inputs[0].type}"
            )

    @property
    def input_size_px(self) -> int:
        return self.meta.input_size_px

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        outputs = []
        for start in range(0, len(batch), self.max_batch):
            chunk = batch[start : start + self.max_batch]
            outputs.append(self.session.run([model_meta.OUTPUT_NAME], {"input": chunk})[0])
        return np.concatenate(outputs, axis=0)
