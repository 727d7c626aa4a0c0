"""Dataset layouts (clean crops, paired folders, SCface) and their errors."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from synth import write_faces

from streamproc.core.errors import ConfigError
from train.config import load_config
from train.data import CleanFacesDataset, build_datasets, scface_pairs
from train.degrade import DegradeConfig

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def config(tmp_path: Path, *overrides: str):
    base = [f"run_dir={tmp_path / 'run'}", "generator.input_size=32", "generator.depth=3",
            "generator.base_channels=4", "degrade.face_px=[8, 16]", "data.repeat=2"]  # fmt: skip
    return load_config(CONFIGS / "train_lite.yaml", base + list(overrides))


def test_clean_faces_are_reproducible_per_seed_epoch_index(tmp_path: Path) -> None:
    files = write_faces(tmp_path / "faces", 3)
    make = lambda: CleanFacesDataset(files, 32, DegradeConfig(face_px=(8.0, 16.0)), None, seed=1)  # noqa: E731
    a, b = make(), make()
    assert torch.equal(a[2]["input"], b[2]["input"])
    assert a[2]["input"].shape == (3, 32, 32) and a[2]["input"].dtype == torch.uint8
    b.set_epoch(1)
    assert not torch.equal(a[2]["input"], b[2]["input"])
    assert torch.equal(a[2]["target"], b[2]["target"])


@pytest.mark.parametrize("val_fraction", [0.25, 0.5])
def test_clean_faces_split_holds_out_whole_files(tmp_path: Path, val_fraction: float) -> None:
    write_faces(tmp_path / "faces", 8)
    cfg = config(tmp_path, f"data.train_path={tmp_path / 'faces'}", "data.val_path=null",
                 f"data.val_fraction={val_fraction}")  # fmt: skip
    train, val, prov = build_datasets(cfg)
    train_files = set(train.images.paths)
    assert not train_files & set(val.images.paths)
    assert len(val.images) == round(8 * val_fraction) and len(train) == 2 * len(train_files)
    assert prov["n_val_images"] == len(val.images) and val.severity == "moderate"


def test_paired_folder_matches_by_file_name(tmp_path: Path) -> None:
    write_faces(tmp_path / "pairs" / "clean", 4, seed=1)
    write_faces(tmp_path / "pairs" / "degraded", 5, seed=2)  # face_004 has no clean twin
    cfg = config(tmp_path, "data.kind=paired", f"data.train_path={tmp_path / 'pairs'}",
                 "data.val_path=null", "data.val_fraction=0.25")  # fmt: skip
    train, val, prov = build_datasets(cfg)
    assert prov["n_train_pairs"] + prov["n_val_pairs"] == 4
    assert all(p[0].name == p[1].name for p in train.pairs + val.pairs)
    item = train[0]
    assert item["input"].shape == item["target"].shape == (3, 32, 32)


def make_scface(root: Path, subjects: int) -> None:
    write_faces(root / "mugshot_frontal_cropped_all", 0)
    for s in range(1, subjects + 1):
        img = np.full((60, 50, 3), 30 * s, np.uint8)
        cv2.imwrite(str(root / "mugshot_frontal_cropped_all" / f"{s:03d}_frontal.JPG"), img)
        for d in (1, 2, 3):
            for cam in (1, 2):
                folder = root / f"surveillance_cameras_distance_{d}" / f"cam{cam}"
                folder.mkdir(parents=True, exist_ok=True)
                cv2.imwrite(str(folder / f"{s:03d}_cam{cam}_{d}.jpg"), img // 2)


def test_scface_layout_pairs_every_camera_with_the_mugshot(tmp_path: Path) -> None:
    make_scface(tmp_path / "scface", subjects=4)
    pairs = scface_pairs(tmp_path / "scface", distances=(1, 3))
    assert len(pairs) == 4 * 2 * 2
    assert all(p[0].name[:3] == p[1].name[:3] for p in pairs)
    cfg = config(tmp_path, "data.kind=scface", f"data.train_path={tmp_path / 'scface'}",
                 "data.val_path=null", "data.val_fraction=0.25")  # fmt: skip
    train, val, _ = build_datasets(cfg)
    train_subjects = {p[1].name for p in train.pairs}
    assert len(val.pairs) == 6 and not train_subjects & {p[1].name for p in val.pairs}


@pytest.mark.parametrize("kind", ["clean_faces", "paired", "scface"])
def test_missing_dataset_is_one_clear_error(tmp_path: Path, kind: str) -> None:
    cfg = config(tmp_path, f"data.kind={kind}", f"data.train_path={tmp_path / 'nope'}")
    with pytest.raises(ConfigError, match="not a directory"):
        build_datasets(cfg)


def test_empty_dataset_is_one_clear_error(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    cfg = config(tmp_path, f"data.train_path={tmp_path / 'empty'}")
    with pytest.raises(ConfigError, match="holds no images"):
        build_datasets(cfg)
