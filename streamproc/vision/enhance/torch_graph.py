"""ONNX graphs run as torch ops: the generator on a CUDA GPU without onnxruntime-gpu.

ONNX Runtime's CUDA provider must match the machine's CUDA and cuDNN; a user whose
onnxruntime-gpu does not (or who has only torch) still has a GPU path: the same ``.onnx``
file (same sha256 check, same metadata contract) interpreted node by node with
``torch.nn.functional``. Only the op types our generator and SFace use are supported;
anything else is refused by name. Imported only when ``enhance.runtime`` is ``torch``
(the default runtime path does not import torch), and by training (SFace).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from google.protobuf.message import DecodeError
from onnx import numpy_helper
from torch import nn

from streamproc.audit.hashing import verify_sha256
from streamproc.core.config import EnhanceConfig
from streamproc.core.errors import ModelError
from streamproc.vision.enhance import model_meta
from streamproc.vision.enhance.model_meta import GeneratorMeta

log = logging.getLogger(__name__)

OPS = {
    "BatchNormalization",
    "Concat",
    "Conv",
    "ConvTranspose",
    "Dropout",
    "Flatten",
    "Gemm",
    "Identity",
    "LeakyRelu",
    "Mul",
    "PRelu",
    "Relu",
    "Sub",
    "Tanh",
}


def _dequantize(x: np.ndarray, scale: np.ndarray, zero: np.ndarray | None, node) -> np.ndarray:
    """DequantizeLinear on constants (per-tensor, per-axis or blocked), folded at load."""
    attrs = {a.name: a for a in node.attribute}
    axis = attrs["axis"].i if "axis" in attrs else 1
    block = attrs["block_size"].i if "block_size" in attrs else 0
    x = x.astype(np.float32)
    zero = np.zeros_like(scale) if zero is None else zero.astype(np.float32)
    if scale.ndim == 0:
        return (x - zero) * scale
    axis = axis % x.ndim
    if block:
        scale = np.repeat(scale, block, axis=axis).take(range(x.shape[axis]), axis=axis)
        zero = np.repeat(zero, block, axis=axis).take(range(x.shape[axis]), axis=axis)
        return (x - zero) * scale
    shape = [1] * x.ndim
    shape[axis] = -1
    return (x - zero.reshape(shape)) * scale.reshape(shape)


def read_model(path: Path) -> onnx.ModelProto:
    """``path`` parsed as ONNX; a file that is not one (corrupt, truncated, not ONNX at all)
    is one :class:`ModelError`, as ONNX Runtime's loader says it."""
    try:
        return onnx.load(str(path))
    except (
        OSError,
        DecodeError,
        onnx.onnx_cpp2py_export.checker.ValidationError,
        ValueError,
    ) as err:
        raise ModelError(f"cannot load ONNX model {path.name}: {err}") from None


class OnnxGraph(nn.Module):
    """An ONNX graph as frozen torch ops: constants become buffers (``.to(device)`` moves
    them), nodes run in the graph's (topological) order."""

    def __init__(self, model: onnx.ModelProto, name: str) -> None:
        super().__init__()
        const: dict[str, np.ndarray] = {
            t.name: numpy_helper.to_array(t) for t in model.graph.initializer
        }
        self.nodes: list[tuple[str, list[str], str, dict]] = []
        for node in model.graph.node:
            ins = list(node.input)
            if node.op_type == "Constant":
                const[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
            elif node.op_type == "DequantizeLinear" and all(i in const for i in ins if i):
                zero = const[ins[2]] if len(ins) > 2 and ins[2] else None
                const[node.output[0]] = _dequantize(const[ins[0]], const[ins[1]], zero, node)
            elif node.op_type == "Reshape" and all(i in const for i in ins):
                const[node.output[0]] = const[ins[0]].reshape(const[ins[1]])
            elif node.op_type in OPS:
                attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
                self.nodes.append((node.op_type, ins, node.output[0], attrs))
            else:
                raise ModelError(f"{name}: op {node.op_type} is not supported by the torch runtime")
        self.input_name = model.graph.input[0].name
        self.output_name = model.graph.output[0].name
        used = {i for _, ins, _, _ in self.nodes for i in ins}
        self.names: dict[str, str] = {}
        for i, cname in enumerate(sorted(used & const.keys())):
            key = f"c{i}"
            self.register_buffer(key, torch.from_numpy(np.array(const[cname], np.float32)))
            self.names[cname] = key
        self.requires_grad_(False)
        self.eval()

    @classmethod
    def load(cls, path: Path) -> OnnxGraph:
        return cls(read_model(path), path.name)

    def _get(self, env: dict[str, torch.Tensor], name: str) -> torch.Tensor:
        return env[name] if name in env else getattr(self, self.names[name])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        env = {self.input_name: x}
        for op, ins, out, attrs in self.nodes:
            a = [self._get(env, i) for i in ins if i]
            env[out] = _run(op, a, attrs)
        return env[self.output_name]


def _conv_args(attrs: dict) -> dict:
    pads = attrs.get("pads", [0, 0, 0, 0])
    if pads[:2] != pads[2:]:
        raise ModelError(f"asymmetric conv padding {pads} is not supported by the torch runtime")
    return {
        "stride": attrs.get("strides", [1, 1]),
        "padding": pads[:2],
        "dilation": attrs.get("dilations", [1, 1]),
        "groups": attrs.get("group", 1),
    }


def _run(op: str, a: list[torch.Tensor], attrs: dict) -> torch.Tensor:
    """One node; ``a``: its inputs (tensors and constants), ``attrs``: its attributes."""
    if op == "Conv":
        return F.conv2d(a[0], a[1], a[2] if len(a) > 2 else None, **_conv_args(attrs))
    if op == "ConvTranspose":
        args = _conv_args(attrs)
        return F.conv_transpose2d(
            a[0],
            a[1],
            a[2] if len(a) > 2 else None,
            stride=args["stride"],
            padding=args["padding"],
            output_padding=attrs.get("output_padding", [0, 0]),
            groups=args["groups"],
            dilation=args["dilation"],
        )
    if op == "BatchNormalization":
        return F.batch_norm(a[0], a[3], a[4], a[1], a[2], False, 0.0, attrs.get("epsilon", 1e-5))
    if op == "Concat":
        return torch.cat(a, dim=attrs.get("axis", 1))
    if op == "LeakyRelu":
        return F.leaky_relu(a[0], attrs.get("alpha", 0.01))
    if op == "Relu":
        return F.relu(a[0])
    if op == "Tanh":
        return torch.tanh(a[0])
    if op == "PRelu":
        return F.prelu(a[0], a[1].reshape(-1))
    if op == "Sub":
        return a[0] - a[1]
    if op == "Mul":
        return a[0] * a[1]
    if op in ("Dropout", "Identity"):
        return a[0]  # Dropout: inference
    if op == "Flatten":
        return torch.flatten(a[0], attrs.get("axis", 1))
    # Gemm
    w = a[1].t() if attrs.get("transB", 0) else a[1]
    return a[0] @ w * attrs.get("alpha", 1.0) + attrs.get("beta", 1.0) * a[2]


def torch_device(config: EnhanceConfig) -> torch.device:
    """CUDA when the providers ask for a GPU (tensorrt or cuda), else the CPU. A GPU asked
    for and absent fails, as an absent ORT provider does (or warns, by config)."""
    wants_gpu = any(p in ("tensorrt", "cuda") for p in config.providers)
    if not wants_gpu:
        return torch.device("cpu")
    if torch.cuda.is_available():
        return torch.device(f"cuda:{config.device_id}")
    if config.missing_provider == "error" or "cpu" not in config.providers:
        raise ModelError(
            "enhance.runtime=torch with a GPU provider, but torch sees no CUDA device; set "
            "enhance.providers=[cpu] or enhance.missing_provider=warn"
        )
    log.warning("torch sees no CUDA device; the generator runs on the CPU")
    return torch.device("cpu")


class TorchGeneratorRunner:
    """The :class:`~streamproc.vision.enhance.onnx.GeneratorRunner` contract (same file,
    checks and batching) on torch: (N, 3, S, S) in [-1, 1] -> the same."""

    def __init__(self, model_path: Path, config: EnhanceConfig) -> None:
        self.model_path = model_path
        self.model_sha256 = verify_sha256(model_path, config.model_sha256 or None)
        model = read_model(model_path)
        props = {p.key: p.value for p in model.metadata_props}
        self.meta: GeneratorMeta = model_meta.parse_meta(props, model_path)
        self.device = torch_device(config)
        self.graph = OnnxGraph(model, model_path.name).to(self.device)
        # fp16 models are computed in fp16 on a GPU, in fp32 on the CPU.
        self.half = self.meta.precision == "fp16" and self.device.type == "cuda"
        if self.half:
            self.graph.half()
        self.input_dtype = np.float32
        self.max_batch = config.max_batch
        self.providers = [f"torch:{self.device}"]

    @property
    def input_size_px(self) -> int:
        return self.meta.input_size_px

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        outputs = []
        with torch.inference_mode():
            for start in range(0, len(batch), self.max_batch):
                x = torch.from_numpy(np.ascontiguousarray(batch[start : start + self.max_batch]))
                x = x.to(self.device, torch.float16 if self.half else torch.float32)
                outputs.append(self.graph(x).float().cpu().numpy())
        return np.concatenate(outputs, axis=0)
