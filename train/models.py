"""Pix2Pix networks: a U-Net generator with skip connections and a PatchGAN critic.

Follows junyanz/pytorch-CycleGAN-and-pix2pix ``networks.py`` (recursive
``UnetSkipConnectionBlock``), but every network is built from a frozen typed config that
is stored in each checkpoint and in the exported ONNX metadata, so a file always says
which architecture it holds.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from streamproc.vision.enhance.model_meta import NORMS, GeneratorConfig

__all__ = ["NORMS", "GeneratorConfig"]


@dataclass(frozen=True)
class DiscriminatorConfig:
    """PatchGAN: ``layers`` strided convs; sees input and output concatenated."""

    in_channels: int = 6
    base_channels: int = 64
    layers: int = 3
    norm: str = "batch"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DiscriminatorConfig:
        return cls(**data)


# Seed-size generator of the report, and a lite one for real-time CPU use.
SEED_GENERATOR = GeneratorConfig(base_channels=64, depth=7, norm="batch", input_size=128)
LITE_GENERATOR = GeneratorConfig(base_channels=16, depth=5, norm="batch", input_size=128)


def same_architecture(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Two generator configs hold the same weights: equal except ``input_size`` (the
    generator is fully convolutional, so its weights run, and fine-tune, at any size)."""
    return {k: v for k, v in a.items() if k != "input_size"} == {
        k: v for k, v in b.items() if k != "input_size"
    }


def _norm_layer(norm: str) -> type[nn.Module] | functools.partial | None:
    if norm == "batch":
        return functools.partial(nn.BatchNorm2d, affine=True, track_running_stats=True)
    if norm == "instance":
        return functools.partial(nn.InstanceNorm2d, affine=False, track_running_stats=False)
    return None


class UnetSkipConnectionBlock(nn.Module):
    """One U-Net level: down -> submodule -> up, with the input concatenated to the output."""

    def __init__(
        self,
        outer_nc: int,
        inner_nc: int,
        input_nc: int | None = None,
        submodule: nn.Module | None = None,
        outermost: bool = False,
        innermost: bool = False,
        norm: str = "batch",
        use_dropout: bool = False,
    ) -> None:
        super().__init__()
        self.outermost = outermost
        norm_layer = _norm_layer(norm)
        use_bias = norm != "batch"
        input_nc = outer_nc if input_nc is None else input_nc

        def make_norm(ch: int) -> list[nn.Module]:
            return [norm_layer(ch)] if norm_layer is not None else []

        downconv = nn.Conv2d(input_nc, inner_nc, 4, stride=2, padding=1, bias=use_bias)
        downrelu = nn.LeakyReLU(0.2, True)
        uprelu = nn.ReLU(True)
        if outermost:
            upconv = nn.ConvTranspose2d(inner_nc * 2, outer_nc, 4, stride=2, padding=1)
            model = [downconv, submodule, uprelu, upconv, nn.Tanh()]
        elif innermost:
            upconv = nn.ConvTranspose2d(inner_nc, outer_nc, 4, stride=2, padding=1, bias=use_bias)
            model = [downrelu, downconv, uprelu, upconv, *make_norm(outer_nc)]
        else:
            upconv = nn.ConvTranspose2d(
                inner_nc * 2, outer_nc, 4, stride=2, padding=1, bias=use_bias
            )
            model = [downrelu, downconv, *make_norm(inner_nc), submodule, uprelu, upconv]
            model += make_norm(outer_nc)
            if use_dropout:
                model.append(nn.Dropout(0.5))
        self.model = nn.Sequential(*model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.outermost:
            return self.model(x)
        return torch.cat([x, self.model(x)], 1)


class UnetGenerator(nn.Module):
    """Level i (0 = outermost) has ``base * min(2**i, 8)`` inner channels, as in pix2pix."""

    def __init__(self, config: GeneratorConfig) -> None:
        super().__init__()
        self.config = config

        def width(level: int) -> int:
            return config.base_channels * min(2**level, 8)

        last = config.depth - 1
        block: nn.Module = UnetSkipConnectionBlock(
            width(last - 1), width(last), innermost=True, norm=config.norm
        )
        for level in range(last - 1, 0, -1):
            block = UnetSkipConnectionBlock(
                width(level - 1),
                width(level),
                submodule=block,
                norm=config.norm,
                use_dropout=config.dropout and width(level - 1) == width(level),
            )
        self.model = UnetSkipConnectionBlock(
            config.out_channels,
            width(0),
            input_nc=config.in_channels,
            submodule=block,
            outermost=True,
            norm=config.norm,
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class NLayerDiscriminator(nn.Module):
    """PatchGAN: each output logit judges one overlapping patch of (input, output)."""

    def __init__(self, config: DiscriminatorConfig) -> None:
        super().__init__()
        self.config = config
        norm_layer = _norm_layer(config.norm)
        use_bias = config.norm != "batch"
        ndf = config.base_channels
        seq: list[nn.Module] = [
            nn.Conv2d(config.in_channels, ndf, 4, stride=2, padding=1),
            nn.LeakyReLU(0.2, True),
        ]
        mult = 1
        for n in range(1, config.layers + 1):
            prev, mult = mult, min(2**n, 8)
            stride = 2 if n < config.layers else 1
            seq.append(
                nn.Conv2d(ndf * prev, ndf * mult, 4, stride=stride, padding=1, bias=use_bias)
            )
            if norm_layer is not None:
                seq.append(norm_layer(ndf * mult))
            seq.append(nn.LeakyReLU(0.2, True))
        seq.append(nn.Conv2d(ndf * mult, 1, 4, stride=1, padding=1))
        self.model = nn.Sequential(*seq)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


def init_weights(net: nn.Module, gain: float = 0.02) -> nn.Module:
    """pix2pix's normal(0, 0.02) init; norm layers get weight ~ N(1, gain)."""

    def init(module: nn.Module) -> None:
        name = type(module).__name__
        if hasattr(module, "weight") and ("Conv" in name or "Linear" in name):
            nn.init.normal_(module.weight, 0.0, gain)
            if getattr(module, "bias", None) is not None:
                nn.init.zeros_(module.bias)
        elif "BatchNorm2d" in name:
            nn.init.normal_(module.weight, 1.0, gain)
            nn.init.zeros_(module.bias)

    net.apply(init)
    return net


def define_G(config: GeneratorConfig, seed: int | None = None) -> UnetGenerator:
    if seed is not None:
        torch.manual_seed(seed)
    return init_weights(UnetGenerator(config))


def define_D(config: DiscriminatorConfig, seed: int | None = None) -> NLayerDiscriminator:
    if seed is not None:
        torch.manual_seed(seed)
    return init_weights(NLayerDiscriminator(config))


def set_requires_grad(modules: nn.Module | Iterable[nn.Module], requires_grad: bool) -> None:
    if isinstance(modules, nn.Module):
        modules = [modules]
    for module in modules:
        for param in module.parameters():
            param.requires_grad = requires_grad


def outer_levels(generator: UnetGenerator, n_levels: int) -> list[nn.Module]:
    """The convolutions of the ``n_levels`` outermost U-Net levels (down and up paths).

    Fine-tuning freezes these "initial layers": they carry low-level filters that transfer
    across datasets, while the inner levels adapt to the new degradation.
    """
    frozen: list[nn.Module] = []
    block: nn.Module = generator.model
    for _ in range(n_levels):
        if not isinstance(block, UnetSkipConnectionBlock):
            break
        inner = None
        for layer in block.model:
            if isinstance(layer, UnetSkipConnectionBlock):
                inner = layer
            else:
                frozen.append(layer)
        if inner is None:
            break
        block = inner
    return frozen
