"""Training pairs (degraded input, clean target) as uint8 CHW tensors at the model size.

Three layouts:

* ``CleanFacesDataset`` — a folder of clean face crops (e.g. from ``train.harvest``);
  inputs are degraded on the fly, seeded by (seed, epoch, index), so any epoch of any
  run can be reproduced exactly, in any DataLoader worker.
* ``PairedFolderDataset`` — ``ROOT/degraded/NAME`` paired with ``ROOT/clean/NAME``.
* ``SCfaceDataset`` — the SCface database (Grgic et al. 2011) as distributed::

      ROOT/mugshot_frontal_cropped_all/001_frontal.JPG          target (subject 001)
      ROOT/surveillance_cameras_distance_1/cam1/001_cam1_1.jpg   input: subject, camera, distance
      ROOT/surveillance_cameras_distance_2/cam5/001_cam5_2.jpg
      ...

  Every surveillance image of subject NNN is paired with that subject's frontal mugshot.
  The surveillance images are assumed to be face crops (SCface's own cropped sets, or
  crops made with ``train.harvest``); they are resized to the model size. Validation
  holds out whole subjects, so no identity is seen in both splits.

Images are decoded and resized once (``preload``) and kept as uint8 in RAM; tensors are
normalised on the device, which keeps workers cheap.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from streamproc.core.errors import ConfigError, InputError
from train.burst import fused_degrade
from train.config import DataConfig, TrainConfig
from train.degrade import AugmentConfig, DegradeConfig, augment_pair, degrade

IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".bmp", ".webp"}


def list_images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTS)


def load_rgb(path: Path, size_px: int) -> np.ndarray:
    """Decode and resize to ``size_px`` square (area when shrinking, bicubic when growing)."""
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise InputError(f"cannot decode image {path}")
    h, w = img.shape[:2]
    interp = cv2.INTER_AREA if min(h, w) >= size_px else cv2.INTER_CUBIC
    return np.ascontiguousarray(
        cv2.resize(img, (size_px, size_px), interpolation=interp)[:, :, ::-1]
    )


def to_tensor(img: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1)


def _check_dir(path: str | Path, what: str) -> Path:
    folder = Path(path) if path else None
    if folder is None or not folder.is_dir():
        raise ConfigError(f"{what} not found: {str(path)!r} is not a directory")
    return folder


class _ImageCache:
    """Decoded, resized images, loaded up front (preload) or on each access."""

    def __init__(self, paths: Sequence[Path], size_px: int, preload: bool) -> None:
        self.paths, self.size_px = list(paths), size_px
        self._images = [load_rgb(p, size_px) for p in self.paths] if preload else None

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> np.ndarray:
        if self._images is not None:
            return self._images[i]
        return load_rgb(self.paths[i], self.size_px)


class _SeededDataset(Dataset):
    """Per-item RNG from (seed, epoch, index): reproducible regardless of workers/order."""

    def __init__(self, seed: int) -> None:
        self.seed, self.epoch = seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def rng(self, index: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, self.epoch, index])


@dataclass(frozen=True)
class BurstConfig:
    """Which share of clean-face inputs is a fused burst (train.burst), and its shape."""

    fused_fraction: float = 0.0
    frames: int = 8
    shift_px: float = 2.0


class CleanFacesDataset(_SeededDataset):
    def __init__(
        self,
        files: Sequence[Path],
        size_px: int,
        degrade_cfg: DegradeConfig,
        augment_cfg: AugmentConfig | None,
        seed: int,
        repeat: int = 1,
        severity: str | None = None,
        preload: bool = True,
        burst: BurstConfig = BurstConfig(),
    ) -> None:
        super().__init__(seed)
        self.images = _ImageCache(files, size_px, preload)
        self.degrade_cfg, self.augment_cfg = degrade_cfg, augment_cfg
        self.repeat, self.severity, self.burst = repeat, severity, burst

    def __len__(self) -> int:
        return len(self.images) * self.repeat

    def __getitem__(self, index: int) -> dict[str, Any]:
        rng = self.rng(index)
        clean = self.images[index % len(self.images)]
        if self.augment_cfg is not None:
            clean, _ = augment_pair(clean, clean, rng, self.augment_cfg)
        # Drawn only when bursts are on: fused_fraction 0 reproduces earlier runs exactly.
        if self.burst.fused_fraction > 0 and rng.random() < self.burst.fused_fraction:
            b = self.burst
            degraded, _, params = fused_degrade(clean, rng, self.degrade_cfg, b.frames,
                                                b.shift_px, self.severity)  # fmt: skip
            fused, fused_frames = True, int(params["fused_frames"])
        else:
            degraded, _ = degrade(clean, rng, self.degrade_cfg, self.severity)
            fused, fused_frames = False, 1
        return {"input": to_tensor(degraded), "target": to_tensor(clean), "index": index,
                "fused": fused, "fused_frames": fused_frames}  # fmt: skip


class PairedImagesDataset(_SeededDataset):
    """Aligned (input, target) files; base of the paired-folder and SCface layouts."""

    def __init__(
        self,
        pairs: Sequence[tuple[Path, Path]],
        size_px: int,
        augment_cfg: AugmentConfig | None,
        seed: int,
        preload: bool = True,
    ) -> None:
        super().__init__(seed)
        self.pairs = list(pairs)
        self.inputs = _ImageCache([p[0] for p in self.pairs], size_px, preload)
        targets = sorted({p[1] for p in self.pairs})  # SCface: one mugshot, many inputs
        self._target_index = {p: i for i, p in enumerate(targets)}
        self.targets = _ImageCache(targets, size_px, preload)
        self.augment_cfg = augment_cfg

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> dict[str, Any]:
        inp = self.inputs[index]
        target = self.targets[self._target_index[self.pairs[index][1]]]
        if self.augment_cfg is not None:
            inp, target = augment_pair(inp, target, self.rng(index), self.augment_cfg)
        return {"input": to_tensor(inp), "target": to_tensor(target), "index": index}


def paired_folder_pairs(root: str | Path) -> list[tuple[Path, Path]]:
    root = _check_dir(root, "paired dataset")
    degraded, clean = root / "degraded", root / "clean"
    if not degraded.is_dir() or not clean.is_dir():
        raise ConfigError(f"paired dataset {root} needs degraded/ and clean/ subfolders")
    clean_by_name = {p.name: p for p in list_images(clean)}
    pairs = [(p, clean_by_name[p.name]) for p in list_images(degraded) if p.name in clean_by_name]
    if not pairs:
        raise ConfigError(
            f"paired dataset {root}: no file name appears in both degraded/ and clean/"
        )
    return pairs


SCFACE_INPUT = re.compile(r"^(\d+)_cam(\d+)_(\d+)$")


def scface_pairs(root: str | Path, distances: Sequence[int] = (1, 2, 3)) -> list[tuple[Path, Path]]:
    root = _check_dir(root, "SCface dataset")
    mug_dir = root / "mugshot_frontal_cropped_all"
    if not mug_dir.is_dir():
        raise ConfigError(f"SCface dataset {root} has no mugshot_frontal_cropped_all/ folder")
    mugshots = {
        p.stem.split("_")[0]: p for p in list_images(mug_dir) if p.stem.endswith("_frontal")
    }
    pairs = []
    for distance in distances:
        for cam_dir in sorted((root / f"surveillance_cameras_distance_{distance}").glob("cam*")):
            for path in list_images(cam_dir):
                match = SCFACE_INPUT.match(path.stem)
                if match and match.group(1) in mugshots:
                    pairs.append((path, mugshots[match.group(1)]))
    if not pairs:
        raise ConfigError(
            f"SCface dataset {root}: no surveillance_cameras_distance_D/camN/NNN_camN_D.jpg "
            "image matches a mugshot_frontal_cropped_all/NNN_frontal.JPG"
        )
    return pairs


def split_holdout(
    items: Sequence[Any], key: Callable[[Any], str], fraction: float, seed: int
) -> tuple[list[Any], list[Any]]:
    """Hold out whole groups (a file, or an SCface subject) with a seeded permutation."""
    groups = sorted({key(item) for item in items})
    n_val = round(len(groups) * fraction)
    if fraction > 0 and len(groups) > 1:
        n_val = min(max(n_val, 1), len(groups) - 1)
    order = np.random.default_rng([seed, 7919]).permutation(len(groups))
    val_groups = {groups[i] for i in order[:n_val]}
    train = [item for item in items if key(item) not in val_groups]
    val = [item for item in items if key(item) in val_groups]
    return train, val


def harvest_summary(folder: Path) -> dict[str, Any] | None:
    """Sources and licences from a harvest's (or patch set's) provenance.json."""
    prov = folder / "provenance.json"
    if not prov.is_file():
        return None
    try:
        data = json.loads(prov.read_text())
    except (OSError, ValueError):
        return {"error": f"unreadable {prov}"}
    if "packages" in data:  # train.faceset: registry packages, one crop per person
        crops = data.get("crops", [])
        return {
            "detector": data.get("detector"),
            "sources": [
                {**{k: p.get(k) for k in ("requirement", "sha256", "licence", "use")},
                 "crops": sum(1 for c in crops if c.get("package") == p.get("requirement"))}
                for p in data["packages"]
            ],
            "identities": len({c.get("identity") for c in crops}),
        }  # fmt: skip
    counts: dict[str, int] = {}
    for crop in data.get("crops", []) + data.get("patches", []):
        counts[crop.get("source", "?")] = counts.get(crop.get("source", "?"), 0) + 1
    sources = [
        {
            **{k: s.get(k) for k in ("path", "sha256", "licence")},
            "crops": counts.get(s.get("path"), 0),
        }
        for s in data.get("sources", [])
    ]
    return {"detector": data.get("detector"), "sources": sources}


def build_datasets(cfg: TrainConfig) -> tuple[Dataset, Dataset, dict[str, Any]]:
    """Train and validation sets plus the provenance stored in every checkpoint."""
    data: DataConfig = cfg.data
    size = cfg.generator.input_size
    augment = cfg.augment if data.augment else None
    provenance: dict[str, Any] = {"kind": data.kind, "train_path": data.train_path,
                                  "val_path": data.val_path}  # fmt: skip

    if data.kind == "clean_faces":
        files = list_images(_check_dir(data.train_path, "clean face folder"))
        if not files:
            raise ConfigError(f"clean face folder {data.train_path!r} holds no images")
        if data.val_path:
            val_files = list_images(_check_dir(data.val_path, "validation folder"))
            train_files = files
        else:
            train_files, val_files = split_holdout(
                files, lambda p: p.name, data.val_fraction, cfg.seed
            )
        if not val_files:
            raise ConfigError("no validation images: set data.val_path or data.val_fraction > 0")
        # Validation gets the same share of fused inputs: best.pt must serve both kinds.
        burst = BurstConfig(data.fused_fraction, data.burst_frames, data.burst_shift_px)
        train = CleanFacesDataset(train_files, size, cfg.degrade, augment, cfg.seed,
                                  data.repeat, preload=data.preload, burst=burst)  # fmt: skip
        val = CleanFacesDataset(val_files, size, cfg.degrade, None, cfg.seed + 1,
                                severity=data.val_severity, preload=data.preload,
                                burst=burst)  # fmt: skip
        provenance["harvest"] = harvest_summary(Path(data.train_path))
        if data.val_path:
            provenance["val_harvest"] = harvest_summary(Path(data.val_path))
        provenance.update(n_train_images=len(train_files), n_val_images=len(val_files),
                          val_severity=data.val_severity,
                          fused_fraction=data.fused_fraction)  # fmt: skip
        return train, val, provenance

    def pairs_of(path: str) -> list[tuple[Path, Path]]:
        if data.kind == "paired":
            return paired_folder_pairs(path)
        return scface_pairs(path, data.scface_distances)

    def group(pair: tuple[Path, Path]) -> str:
        return pair[1].name  # paired: the file; SCface: the subject's mugshot

    pairs = pairs_of(data.train_path)
    if data.val_path:
        train_pairs, val_pairs = pairs, pairs_of(data.val_path)
    else:
        train_pairs, val_pairs = split_holdout(pairs, group, data.val_fraction, cfg.seed)
    if not val_pairs:
        raise ConfigError("no validation pairs: set data.val_path or data.val_fraction > 0")
    train = PairedImagesDataset(train_pairs, size, augment, cfg.seed, data.preload)
    val = PairedImagesDataset(val_pairs, size, None, cfg.seed + 1, data.preload)
    provenance.update(n_train_pairs=len(train_pairs), n_val_pairs=len(val_pairs))
    return train, val, provenance
