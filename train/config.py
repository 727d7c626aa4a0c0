"""Typed, frozen training configuration, loaded from YAML with ``--set key.sub=value``.

Unknown keys are refused (a typo must not silently train with a default), values are
coerced to the declared field types, and the resolved config is written next to the run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from streamproc.core.config import apply_overrides, build, read_yaml_mapping, to_plain
from streamproc.core.errors import ConfigError
from train.degrade import AugmentConfig, DegradeConfig
from train.identity import IdentityConfig
from train.models import LITE_GENERATOR, DiscriminatorConfig, GeneratorConfig

BACKBONES = ("vgg16", "efficientnet_lite0", "none")
GAN_MODES = ("vanilla", "lsgan")
DATA_KINDS = ("clean_faces", "paired", "scface")
DEVICES = ("auto", "cpu", "cuda")
AMP_MODES = ("none", "bf16", "fp16")


@dataclass(frozen=True)
class PerceptualConfig:
    """Frozen ImageNet backbone; VGG16 weights come from a user's file (no download here)."""

    backbone: str = "none"
    weights: str | None = None  # vgg16: path to torchvision's vgg16-397923af.pth
    weight: float = 1.0

    def __post_init__(self) -> None:
        if self.backbone not in BACKBONES:
            raise ConfigError(f"loss.perceptual.backbone must be one of {BACKBONES}")


@dataclass(frozen=True)
class LossConfig:
    l1_weight: float = 100.0
    gan_weight: float = 1.0  # 0 trains the generator alone (no discriminator)
    gan_mode: str = "vanilla"
    perceptual: PerceptualConfig = field(default_factory=PerceptualConfig)
    identity: IdentityConfig = field(default_factory=IdentityConfig)  # SFace; off by default

    def __post_init__(self) -> None:
        if self.gan_mode not in GAN_MODES:
            raise ConfigError(f"loss.gan_mode must be one of {GAN_MODES}")


@dataclass(frozen=True)
class OptimConfig:
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    lr_step_epochs: int = 50  # StepLR step size
    lr_gamma: float = 0.5


@dataclass(frozen=True)
class DataConfig:
    """``kind``: clean_faces (crops + on-the-fly degradation) | paired | scface."""

    kind: str = "clean_faces"
    train_path: str = ""
    val_path: str | None = None  # None: hold out val_fraction of train_path (by file/subject)
    val_fraction: float = 0.1
    val_severity: str = "moderate"  # clean_faces validation uses this fixed preset
    repeat: int = 1  # clean_faces: each crop appears this often per epoch, degraded anew
    batch_size: int = 16
    num_workers: int = 0
    preload: bool = True  # decode + resize every image once, keep uint8 in RAM
    augment: bool = True
    scface_distances: tuple[int, ...] = (1, 2, 3)
    # clean_faces: this share of inputs (train and validation) is the fuse stage's crop of a
    # burst_frames-frame burst (train.burst: fresh noise and an offset of up to
    # burst_shift_px low-res px per frame), the rest single frames; 0 = single frames only.
    fused_fraction: float = 0.0
    burst_frames: int = 8
    burst_shift_px: float = 2.0

    def __post_init__(self) -> None:
        if self.kind not in DATA_KINDS:
            raise ConfigError(f"data.kind must be one of {DATA_KINDS}, got {self.kind!r}")
        if not 0.0 <= self.val_fraction < 1.0:
            raise ConfigError("data.val_fraction must be in [0, 1)")
        if self.batch_size < 1 or self.repeat < 1 or self.num_workers < 0:
            raise ConfigError("data.batch_size and data.repeat must be >= 1, num_workers >= 0")
        if not 0.0 <= self.fused_fraction <= 1.0:
            raise ConfigError(f"data.fused_fraction must be in [0, 1], got {self.fused_fraction}")
        if self.burst_frames < 2 or self.burst_shift_px < 0:
            raise ConfigError("data.burst_frames must be >= 2 and data.burst_shift_px >= 0")


@dataclass(frozen=True)
class TrainConfig:
    name: str = "lite"
    run_dir: str = "runs/lite"
    seed: int = 0
    epochs: int = 20
    device: str = "auto"
    amp: str = "none"  # CUDA only: bf16 | fp16 autocast
    max_minutes: float | None = None  # wall-clock budget; stops after the current step
    checkpoint_every: int = 1  # epochs
    init_from: str | None = None  # checkpoint whose generator weights start fine-tuning
    freeze_levels: int = 0  # outer U-Net levels kept fixed (with init_from)
    sample_count: int = 8
    generator: GeneratorConfig = LITE_GENERATOR
    discriminator: DiscriminatorConfig = field(default_factory=DiscriminatorConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    data: DataConfig = field(default_factory=DataConfig)
    degrade: DegradeConfig = field(default_factory=DegradeConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)

    def __post_init__(self) -> None:
        if self.device not in DEVICES:
            raise ConfigError(f"device must be one of {DEVICES}, got {self.device!r}")
        if self.amp not in AMP_MODES:
            raise ConfigError(f"amp must be one of {AMP_MODES}, got {self.amp!r}")
        if self.epochs < 1 or self.checkpoint_every < 1 or self.freeze_levels < 0:
            raise ConfigError("epochs and checkpoint_every must be >= 1, freeze_levels >= 0")
        if self.discriminator.in_channels != self.generator.in_channels * 2:
            raise ConfigError("discriminator.in_channels must be 2 x generator.in_channels")

    def to_dict(self) -> dict[str, Any]:
        return to_plain(self)


def load_config(
    path: Path | None, overrides: list[str] | None = None, base: dict | None = None
) -> TrainConfig:
    """YAML file (or ``base``, e.g. a checkpoint's train_config) + overrides -> TrainConfig."""
    data: dict[str, Any] = dict(base or {})
    if path is not None:
        data = read_yaml_mapping(Path(path))
    return build(TrainConfig, apply_overrides(data, overrides or []))


def dump_config(cfg: TrainConfig, path: Path) -> None:
    path.write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))
