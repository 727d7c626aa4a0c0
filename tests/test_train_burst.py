"""Fused bursts as training input (train.burst, data.fused_fraction): less noisy than one
frame of the same burst, reproducible, and what the dataset gives for the set share."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from synth import write_faces

from streamproc.core.config import FuseConfig
from streamproc.core.errors import ConfigError
from streamproc.vision.enhance.classical import estimate_noise_sigma
from train.burst import fuse_burst, fused_degrade, render_burst
from train.config import load_config
from train.data import BurstConfig, CleanFacesDataset, build_datasets, load_rgb
from train.degrade import DegradeConfig

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
# Faces big enough for the noise estimate, dark, no codec (it would smooth the noise away).
DARK = DegradeConfig(face_fraction=0.625, face_px=(40.0, 44.0), p_low_light=1.0,
                     exposure=(0.15, 0.2), photons_at_white=(60.0, 80.0), p_motion_blur=0.0,
                     p_defocus=0.0, p_colour_cast=0.0, p_h264=0.0, p_jpeg=0.0)  # fmt: skip


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    err = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / err))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_fused_crop_is_less_noisy_than_one_frame_of_its_burst(tmp_path: Path, seed) -> None:
    clean = load_rgb(write_faces(tmp_path / "faces", 1, seed=seed)[0], 128)
    burst = render_burst(clean, np.random.default_rng(seed), DARK, frames=8, shift_px=1.5)
    assert len(burst.crops) == 8 and burst.crops[0].shape == (
        burst.side_px + 2 * burst.pad_px,
    ) * 2 + (3,)
    fused, merged = fuse_burst(burst, FuseConfig(enabled=True, min_noise_sigma=0.0), 0.3)
    single = burst.current()
    assert fused.shape == single.shape and merged >= 6
    sigma_fused = estimate_noise_sigma(fused[:, :, ::-1])
    sigma_single = estimate_noise_sigma(single[:, :, ::-1])
    assert sigma_fused < 0.7 * sigma_single  # 8 frames: ideally 1 / sqrt(8) = 0.35


def test_fused_input_is_closer_to_the_clean_face_and_reproducible(tmp_path: Path) -> None:
    clean = load_rgb(write_faces(tmp_path / "faces", 1)[0], 128)
    fused, single, params = fused_degrade(clean, np.random.default_rng(5), DARK, 8, 1.5)
    again, _, _ = fused_degrade(clean, np.random.default_rng(5), DARK, 8, 1.5)
    assert np.array_equal(fused, again)
    assert fused.shape == single.shape == clean.shape
    assert psnr(fused, clean) > psnr(single, clean) + 1.0
    assert params["fused_frames"] > 1


def test_the_dataset_fuses_the_configured_share(tmp_path: Path) -> None:
    files = write_faces(tmp_path / "faces", 4)

    def make(fraction: float) -> CleanFacesDataset:
        return CleanFacesDataset(files, 64, DARK, None, seed=3, repeat=4,
                                 burst=BurstConfig(fraction, 4, 1.0))  # fmt: skip

    single, half, fused = make(0.0), make(0.5), make(1.0)
    assert not any(single[i]["fused"] for i in range(len(single)))
    assert all(fused[i]["fused"] for i in range(len(fused)))
    assert 0 < sum(half[i]["fused"] for i in range(len(half))) < len(half)
    # fused_fraction 0 leaves the single-frame inputs exactly as before bursts existed.
    plain = CleanFacesDataset(files, 64, DARK, None, seed=3, repeat=4)
    assert torch.equal(plain[5]["input"], single[5]["input"])

    def mean_psnr(ds: CleanFacesDataset) -> float:
        return float(np.mean([psnr(ds[i]["input"].numpy(), ds[i]["target"].numpy())
                              for i in range(len(ds))]))  # fmt: skip

    assert mean_psnr(fused) > mean_psnr(single) + 1.0


def test_fused_fraction_reaches_train_and_validation_and_is_checked(tmp_path: Path) -> None:
    write_faces(tmp_path / "faces", 4)
    base = [f"run_dir={tmp_path / 'run'}", "generator.input_size=32", "generator.depth=3",
            "generator.base_channels=4", f"data.train_path={tmp_path / 'faces'}",
            "data.val_path=null", "data.val_fraction=0.25"]  # fmt: skip
    cfg = load_config(CONFIGS / "train_lite.yaml", [*base, "data.fused_fraction=0.5",
                                                    "data.burst_frames=4"])  # fmt: skip
    train, val, prov = build_datasets(cfg)
    assert train.burst == val.burst == BurstConfig(0.5, 4, 2.0)
    assert prov["fused_fraction"] == 0.5
    for bad in ("data.fused_fraction=1.5", "data.burst_frames=1"):
        with pytest.raises(ConfigError):
            load_config(CONFIGS / "train_lite.yaml", [*base, bad])
