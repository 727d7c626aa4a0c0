"""PSNR and Gaussian-window SSIM against known values."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from train.metrics import finite_mean, psnr, ssim


@pytest.mark.parametrize("shape", [(32, 32), (24, 40, 3)])
def test_identical_images(shape: tuple[int, ...]) -> None:
    img = np.random.default_rng(0).random(shape)
    assert math.isinf(psnr(img, img).item())
    assert ssim(img, img).item() == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("offset", [1.0, 5.0, 20.0])
def test_psnr_of_a_constant_offset(offset: float) -> None:
    a = np.full((16, 16, 3), 100.0)
    expected = 10 * math.log10(255.0**2 / offset**2)
    assert psnr(a, a + offset, 255.0).item() == pytest.approx(expected, rel=1e-9)


def test_ssim_of_a_constant_image_pair() -> None:
    # Flat images: SSIM reduces to the luminance term (2 mu_x mu_y + c1) / (mu_x^2 + mu_y^2 + c1).
    a, b = np.full((16, 16), 0.5), np.full((16, 16), 0.25)
    c1 = 0.01**2
    expected = (2 * 0.5 * 0.25 + c1) / (0.5**2 + 0.25**2 + c1)
    assert ssim(a, b).item() == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("noise", [0.02, 0.1, 0.3])
def test_ssim_matches_skimage(noise: float) -> None:
    metrics = pytest.importorskip("skimage.metrics")
    rng = np.random.default_rng(1)
    a = rng.random((40, 48, 3))
    b = np.clip(a + rng.normal(0, noise, a.shape), 0, 1)
    ref = metrics.structural_similarity(
        a, b, data_range=1.0, channel_axis=2, gaussian_weights=True, sigma=1.5,
        use_sample_covariance=False,
    )  # fmt: skip
    assert ssim(a, b).item() == pytest.approx(ref, abs=1e-9)
    assert psnr(a, b).item() == pytest.approx(metrics.peak_signal_noise_ratio(a, b, data_range=1))


def test_batched_tensors_give_one_value_per_image() -> None:
    x = torch.rand(3, 3, 32, 32)
    y = x.clone()
    y[1] = 1 - y[1]
    values = ssim(x, y)
    assert values.shape == (3,) and values[0] == pytest.approx(1.0) and values[1] < 0.5
    assert finite_mean(psnr(x, y).tolist()) == pytest.approx(psnr(x[1], y[1]).item())
