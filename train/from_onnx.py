"""A training checkpoint rebuilt from an exported generator, to fine-tune a shipped model
whose checkpoint was not kept (``init_from``).

The exporter folds each batch norm of the U-Net's down path into the convolution before it
(weight and bias); the up path keeps its BatchNormalization nodes. So the convolutions and
norms come back in module order, and each folded pair is split again: the convolution
takes the folded weight, and its norm is set so that, in eval mode, it adds back the
folded bias exactly, with the running statistics of the convolution's output measured on
degraded training crops at the size the fine-tune will run at. In training mode a batch
norm uses its batch's statistics, so with those running statistics the rebuilt network
starts the fine-tune from (about) the function it exported, not from a rescaled one.

    python -m train.from_onnx streamproc/models/face_lite.onnx --config CONFIG -o OUT.pt

Checks that the rebuilt generator matches ONNX Runtime on the exported model within
``PARITY_MAX`` before it writes anything.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch
from onnx import numpy_helper
from torch import nn

from streamproc.audit.hashing import sha256_file
from streamproc.core.errors import ModelError, StreamprocError
from streamproc.vision.enhance import model_meta
from streamproc.vision.enhance.onnx import SessionConfig, create_session
from streamproc.vision.enhance.torch_graph import read_model
from train.checkpoint import save_checkpoint
from train.config import TrainConfig, load_config
from train.data import build_datasets
from train.loop import to_model_range
from train.models import GeneratorConfig, define_G, same_architecture

# Largest |torch - ONNX Runtime| accepted on the parity inputs (outputs are in [-1, 1]).
PARITY_MAX = 1e-4
# Degraded training crops the folded convolutions' output statistics are measured on.
STATS_CROPS = 256
CONV_OPS = ("Conv", "ConvTranspose")


def _layers(generator: nn.Module) -> list[tuple[nn.Module, nn.BatchNorm2d | None]]:
    """Each convolution of ``generator`` in module order with the batch norm right after
    it (None when it has none)."""
    kinds = (nn.Conv2d, nn.ConvTranspose2d, nn.BatchNorm2d)
    modules = [m for m in generator.modules() if isinstance(m, kinds)]
    layers = []
    for i, module in enumerate(modules):
        if isinstance(module, nn.BatchNorm2d):
            continue
        following = modules[i + 1] if i + 1 < len(modules) else None
        layers.append((module, following if isinstance(following, nn.BatchNorm2d) else None))
    return layers


def _graph_layers(model: onnx.ModelProto) -> list[tuple[list[np.ndarray], list[np.ndarray] | None]]:
    """Per convolution node in graph order: its weight (and bias), then the parameters of
    a BatchNormalization that takes its output (scale, bias, mean, var), if one does."""
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    by_input = {}
    for node in model.graph.node:
        for name in node.input:
            by_input.setdefault(name, node)
    layers = []
    for node in model.graph.node:
        if node.op_type not in CONV_OPS:
            continue
        params = [inits[name] for name in node.input[1:] if name in inits]
        norm = by_input.get(node.output[0])
        norm_params = None
        if norm is not None and norm.op_type == "BatchNormalization":
            norm_params = [inits[name] for name in norm.input[1:5]]
        layers.append((params, norm_params))
    return layers


def _copy(target: torch.Tensor, value: np.ndarray, what: str) -> None:
    if tuple(target.shape) != value.shape:
        shape = tuple(target.shape)
        raise ModelError(f"{what}: the ONNX graph has {value.shape}, the config {shape}")
    with torch.no_grad():
        target.copy_(torch.from_numpy(np.array(value)))


def rebuild_generator(model: onnx.ModelProto, config: GeneratorConfig) -> tuple[nn.Module, list]:
    """The generator with the graph's weights, exact in eval mode; and the folded
    (convolution, norm, folded bias) triples whose norms still need statistics."""
    generator = define_G(config)
    layers, graph = _layers(generator), _graph_layers(model)
    if len(layers) != len(graph):
        raise ModelError(f"the ONNX graph has {len(graph)} convolutions, the config {len(layers)}")
    folded = []
    for k, ((conv, norm), (params, norm_params)) in enumerate(zip(layers, graph, strict=True)):
        _copy(conv.weight, params[0], f"convolution {k} weight")
        if norm is None:
            if (conv.bias is None) != (len(params) < 2):
                raise ModelError(f"convolution {k}: bias in one of graph and config only")
            if conv.bias is not None:
                _copy(conv.bias, params[1], f"convolution {k} bias")
        elif norm_params is not None:  # kept as a node
            for tensor, value, name in zip(
                (norm.weight, norm.bias, norm.running_mean, norm.running_var),
                norm_params,
                ("scale", "bias", "mean", "var"),
                strict=True,
            ):
                _copy(tensor, value, f"norm {k} {name}")
        else:  # folded into the convolution: eval mode adds the folded bias back
            if len(params) < 2:
                raise ModelError(f"convolution {k}: its norm is neither in the graph nor folded")
            bias = torch.from_numpy(params[1].copy())
            with torch.no_grad():
                norm.running_mean.zero_()
                norm.running_var.fill_(1.0)
                norm.weight.fill_(float(np.sqrt(1.0 + norm.eps)))
                norm.bias.copy_(bias)
            folded.append((conv, norm, bias))
    return generator.eval(), folded


def measure_folded(generator: nn.Module, folded: list, inputs: torch.Tensor) -> None:
    """Sets each folded norm's running mean and variance to those of its convolution's
    output on ``inputs``, keeping the eval-mode function: scale = sqrt(var + eps), bias =
    mean + folded bias."""
    sums: dict[int, list[torch.Tensor]] = {}

    def hook(index: int):
        def record(_module, _inputs, output) -> None:
            flat = output.detach().transpose(0, 1).reshape(output.shape[1], -1).double()
            count = torch.full_like(flat[:, 0], flat.shape[1])
            sums.setdefault(index, []).append(
                torch.stack([flat.sum(1), (flat * flat).sum(1), count])
            )

        return record

    handles = [conv.register_forward_hook(hook(i)) for i, (conv, _, _) in enumerate(folded)]
    try:
        with torch.no_grad():
            for chunk in inputs.split(32):
                generator(chunk)
    finally:
        for handle in handles:
            handle.remove()
    with torch.no_grad():
        for i, (_, norm, bias) in enumerate(folded):
            total = torch.stack(sums[i]).sum(0)
            mean = total[0] / total[2]
            var = (total[1] / total[2] - mean * mean).clamp_min(0.0)
            norm.running_mean.copy_(mean.float())
            norm.running_var.copy_(var.float())
            norm.weight.copy_(torch.sqrt(var + norm.eps).float())
            norm.bias.copy_(mean.float() + bias)


def parity(generator: nn.Module, onnx_path: Path, size_px: int) -> float:
    """Largest |torch - ONNX Runtime| on seeded inputs at ``size_px`` and at 128 px."""
    session = create_session(onnx_path, SessionConfig())
    rng = np.random.default_rng(0)
    worst = 0.0
    for size in sorted({size_px, 128}):
        x = rng.uniform(-1, 1, (2, 3, size, size)).astype(np.float32)
        with torch.no_grad():
            ours = generator(torch.from_numpy(x)).numpy()
        theirs = session.run(None, {session.get_inputs()[0].name: x})[0]
        worst = max(worst, float(np.abs(ours - theirs).max()))
    return worst


def rebuild_checkpoint(onnx_path: Path, cfg: TrainConfig) -> dict[str, Any]:
    """The checkpoint ``init_from`` takes: ``onnx_path``'s weights in ``cfg.generator``'s
    architecture, norms measured on ``cfg``'s training crops at its input size."""
    model = read_model(onnx_path)
    meta = model_meta.parse_meta({p.key: p.value for p in model.metadata_props}, onnx_path)
    exported, mine = meta.generator.to_dict(), cfg.generator.to_dict()
    if not same_architecture(exported, mine):
        raise ModelError(f"{onnx_path} is {exported}; the config's generator is {mine}")
    generator, folded = rebuild_generator(model, cfg.generator)
    train, _, _ = build_datasets(cfg)
    count = min(STATS_CROPS, len(train))
    picks = np.linspace(0, len(train) - 1, count).round().astype(int)
    inputs = to_model_range(torch.stack([train[int(i)]["input"] for i in picks]), "cpu")
    measure_folded(generator, folded, inputs)
    worst = parity(generator, onnx_path, cfg.generator.input_size)
    if worst > PARITY_MAX:
        raise ModelError(f"rebuilt generator differs from {onnx_path} by {worst:.2e}")
    provenance = meta.provenance
    return {
        "generator_config": mine,
        "generator": generator.state_dict(),
        "epoch": int(provenance.get("epoch", 0)),
        "train_config": provenance.get("train_config", {}),
        "data_provenance": {
            **provenance.get("data_provenance", {}),
            "rebuilt_from_onnx": {
                "path": str(onnx_path),
                "sha256": sha256_file(onnx_path),
                "checkpoint_sha256": provenance.get("checkpoint_sha256"),
                "parity_max_abs": worst,
                "stats_crops": count,
            },
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m train.from_onnx", description=__doc__)
    parser.add_argument("model", type=Path, help="an exported streamproc generator ONNX")
    parser.add_argument("--config", required=True, help="the fine-tune's training config")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("-o", "--out", type=Path, required=True)
    args = parser.parse_args(argv)
    try:
        if not args.model.is_file():
            raise ModelError(f"{args.model} not found")
        state = rebuild_checkpoint(args.model, load_config(args.config, args.overrides))
    except StreamprocError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    save_checkpoint(args.out, state)
    rebuilt = state["data_provenance"]["rebuilt_from_onnx"]
    print(f"{args.out}: parity {rebuilt['parity_max_abs']:.1e}, {rebuilt['stats_crops']} crops")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
