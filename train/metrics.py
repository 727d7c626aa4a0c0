"""Validation metrics: PSNR, Gaussian-window SSIM and (optional) dlib identity distance.

PSNR/SSIM are written here, in torch, so they run batched on the training device and
need no extra package. SSIM follows Wang et al. 2004 with an 11-tap, sigma 1.5 Gaussian
window, K1 = 0.01, K2 = 0.03, evaluated where the window fits ("valid"); this equals
``skimage.metrics.structural_similarity(gaussian_weights=True, sigma=1.5,
use_sample_covariance=False)`` per channel, averaged over channels.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F


def _as_batch(img: torch.Tensor | np.ndarray) -> torch.Tensor:
    """HW, HWC (numpy layout) or NCHW -> float64/32 NCHW tensor."""
    if isinstance(img, np.ndarray):
        t = torch.from_numpy(np.ascontiguousarray(img)).double()
        if t.ndim == 2:
            t = t[None, None]
        elif t.ndim == 3:
            t = t.permute(2, 0, 1)[None]
        return t
    t = img.float() if img.dtype not in (torch.float32, torch.float64) else img
    return t[None] if t.ndim == 3 else t


def psnr(
    a: torch.Tensor | np.ndarray, b: torch.Tensor | np.ndarray, data_range: float = 1.0
) -> torch.Tensor:
    """Per-image PSNR in dB (inf for identical images)."""
    x, y = _as_batch(a), _as_batch(b)
    mse = ((x - y) ** 2).flatten(1).mean(1)
    return 10.0 * torch.log10(data_range**2 / mse)


def gaussian_window(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    coords = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(coords**2) / (2 * sigma**2))
    return g / g.sum()


def ssim(
    a: torch.Tensor | np.ndarray,
    b: torch.Tensor | np.ndarray,
    data_range: float = 1.0,
    window_px: int = 11,
    sigma: float = 1.5,
) -> torch.Tensor:
    """Per-image mean SSIM over channels and valid window positions."""
    x, y = _as_batch(a), _as_batch(b)
    if min(x.shape[-2:]) < window_px:
        raise ValueError(f"SSIM needs images of at least {window_px} px, got {tuple(x.shape)}")
    channels = x.shape[1]
    g = gaussian_window(window_px, sigma).to(x)
    kh = g.view(1, 1, -1, 1).repeat(channels, 1, 1, 1)
    kw = g.view(1, 1, 1, -1).repeat(channels, 1, 1, 1)

    def blur(t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(F.conv2d(t, kh, groups=channels), kw, groups=channels)

    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    mu_x, mu_y = blur(x), blur(y)
    var_x = blur(x * x) - mu_x**2
    var_y = blur(y * y) - mu_y**2
    cov = blur(x * y) - mu_x * mu_y
    num = (2 * mu_x * mu_y + c1) * (2 * cov + c2)
    den = (mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2)
    return (num / den).flatten(1).mean(1)


class IdentityDistance:
    """dlib ResNet face-descriptor distance (< 0.6: same person), if dlib is installed.

    Optional: ``create()`` returns None when ``dlib`` or ``face_recognition_models`` is
    missing, and the metric is simply not logged.
    """

    def __init__(self, encoder: Any, shape_predictor: Any, dlib: Any) -> None:
        self._encoder, self._shape, self._dlib = encoder, shape_predictor, dlib

    @classmethod
    def create(cls) -> IdentityDistance | None:
        try:
            import dlib
            import face_recognition_models as frm
        except ImportError:
            return None
        encoder = dlib.face_recognition_model_v1(frm.face_recognition_model_location())
        shape = dlib.shape_predictor(frm.pose_predictor_five_point_model_location())
        return cls(encoder, shape, dlib)

    def descriptor(self, img_uint8_rgb: np.ndarray) -> np.ndarray:
        """The crop is the face (harvested crops are centred), so the box is the whole image."""
        h, w = img_uint8_rgb.shape[:2]
        box = self._dlib.rectangle(0, 0, w - 1, h - 1)
        img = np.ascontiguousarray(img_uint8_rgb)
        shape = self._shape(img, box)
        return np.asarray(self._encoder.compute_face_descriptor(img, shape))

    def __call__(self, a_uint8: np.ndarray, b_uint8: np.ndarray) -> float:
        return float(np.linalg.norm(self.descriptor(a_uint8) - self.descriptor(b_uint8)))


def finite_mean(values: list[float]) -> float:
    """Mean that ignores inf (identical images) so one perfect crop does not hide the rest."""
    finite = [v for v in values if math.isfinite(v)]
    return float(np.mean(finite)) if finite else float("inf")
