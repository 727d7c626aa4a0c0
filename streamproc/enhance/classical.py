"""Classical restoration of a face crop: low-light lift, denoise, deblur.

Order matters: brighten first (noise is then visible to the denoiser at its real
strength), denoise before sharpening (sharpening amplifies noise), and sharpen last.
"""

from __future__ import annotations

import cv2
import numpy as np

from streamproc.config import EnhanceConfig


class ClassicalEnhancer:
    def __init__(self, config: EnhanceConfig) -> None:
        self.config = config
        self._clahe = cv2.createCLAHE(clipLimit=config.clahe_clip, tileGridSize=(4, 4))

    def __call__(self, crop_bgr: np.ndarray) -> np.ndarray:
        """Restore at the crop's own size, capped at ``classical_size_px`` for big faces.

        The result is pasted back at the crop's size, so working larger would only cost time.
        """
        side = crop_bgr.shape[0]
        work_px = min(side, self.config.classical_size_px)
        img = crop_bgr
        if work_px != side:
            img = cv2.resize(crop_bgr, (work_px, work_px), interpolation=cv2.INTER_AREA)
        img = self.sharpen(self.denoise(self.lift_low_light(img)))
        if work_px != side:
            img = cv2.resize(img, (side, side), interpolation=cv2.INTER_CUBIC)
        return img

    def lift_low_light(self, img: np.ndarray) -> np.ndarray:
        lab = cv2.cvtColor(img, cv2.COLOR_BGR2LAB)
        luma = lab[:, :, 0]
        mean = float(luma.mean())
        if mean < self.config.low_light_luma and mean > 1:
            # Gamma that maps the mean luma to the threshold.
            gamma = np.log(self.config.low_light_luma / 255) / np.log(mean / 255)
            table = np.clip(255 * (np.arange(256) / 255) ** gamma, 0, 255).astype(np.uint8)
            luma = cv2.LUT(luma, table)
        lab[:, :, 0] = self._clahe.apply(luma)
        return cv2.cvtColor(lab, cv2.COLOR_LAB2BGR)

    def denoise(self, img: np.ndarray) -> np.ndarray:
        if self.config.denoise_h <= 0:
            return img
        h = self.config.denoise_h
        return cv2.fastNlMeansDenoisingColored(img, None, h, h, 5, 15)

    def sharpen(self, img: np.ndarray) -> np.ndarray:
        """Unsharp mask: a cheap deconvolution of the mild Gaussian blur of CCTV optics."""
        amount = self.config.sharpen_amount
        if amount <= 0:
            return img
        blurred = cv2.GaussianBlur(img, (0, 0), self.config.sharpen_sigma_px)
        return cv2.addWeighted(img, 1 + amount, blurred, -amount, 0)
