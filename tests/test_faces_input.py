"""``streamproc run IMAGES --faces``: each image is one face crop, enhanced whole."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from streamproc.run.cli import main

# (width, height, file name): a generator-sized face (<= 32 px tall), two classical ones.
CROPS = ((24, 30, "a_small.png"), (64, 64, "b_mid.jpg"), (100, 120, "c_large.png"))


def face_crop(width: int, height: int) -> np.ndarray:
    """A blurred, noisy face-like crop: skin oval, dark eyes and mouth, grey background."""
    img = np.full((height, width, 3), (60, 70, 80), np.uint8)
    cx, cy = width // 2, height // 2
    cv2.ellipse(img, (cx, cy), (width * 2 // 5, height * 2 // 5), 0, 0, 360, (120, 140, 185), -1)
    for eye_x in (cx - width // 6, cx + width // 6):
        cv2.circle(img, (eye_x, cy - height // 8), max(1, width // 20), (30, 30, 30), -1)
    cv2.ellipse(img, (cx, cy + height // 5), (width // 8, max(1, height // 30)), 0, 0, 360, 40, -1)
    img = cv2.GaussianBlur(img, (0, 0), max(0.8, width / 40))
    noise = np.random.default_rng(width).normal(0, 8, img.shape)  # sensor noise, as on CCTV
    return np.clip(img + noise, 0, 255).astype(np.uint8)


def write_crops(folder: Path) -> dict[str, np.ndarray]:
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for width, height, name in CROPS:
        cv2.imwrite(str(folder / name), face_crop(width, height))
        written[name] = cv2.imread(str(folder / name))  # as decoded (the JPEG is lossy)
    return written


def run(*args: str) -> int:
    return main(["run", *args, "--quiet"])


def centre(img: np.ndarray) -> np.ndarray:
    """The middle of the face: eyes, nose, mouth (never under the corner marker)."""
    h, w = img.shape[:2]
    return img[h // 5 : 4 * h // 5, w // 5 : 4 * w // 5].astype(int)


@pytest.mark.parametrize(
    ("mode", "methods"),
    [("auto", ["generator", "classical", "classical"]), ("classical", ["classical"] * 3)],
)
def test_faces_enhances_each_image_whole_and_keeps_names(tmp_path, tiny_generator, mode, methods):
    inputs = write_crops(tmp_path / "crops")
    (tmp_path / "crops" / "notes.txt").write_text("not an image")
    out = tmp_path / "out"
    model = f"enhance.model={tiny_generator}"
    assert run(str(tmp_path / "crops"), "--faces", "-o", str(out), "--set", model,
               "--set", f"enhance.mode={mode}") == 0  # fmt: skip
    assert sorted(p.name for p in out.iterdir()) == sorted(inputs)
    for name, original in inputs.items():
        enhanced = cv2.imread(str(out / name))
        assert enhanced.shape == original.shape
        assert np.abs(centre(enhanced) - centre(original)).mean() > 2, name
    manifest = json.loads((tmp_path / "out.manifest.json").read_text())
    assert manifest["faces_mode"] is True
    assert manifest["models"]["detector"] is None
    assert [(i["file"], i["size_px"], i["method"]) for i in manifest["images"]] == [
        (name, [w, h], method) for (w, h, name), method in zip(CROPS, methods, strict=True)
    ]
    assert [o["path"] for o in manifest["outputs"]] == [name for _, _, name in CROPS]
    assert [f["faces"][0]["box"] for f in manifest["frames"]] == [
        [0.0, 0.0, float(w), float(h)] for w, h, _ in CROPS
    ]


def test_faces_single_image_file(tmp_path):
    image = tmp_path / "probe.png"
    cv2.imwrite(str(image), face_crop(64, 80))
    out = tmp_path / "out"
    assert run(str(image), "--faces", "-o", str(out), "--set", "enhance.mode=classical") == 0
    assert [p.name for p in out.iterdir()] == ["probe.png"]
    original, enhanced = cv2.imread(str(image)), cv2.imread(str(out / "probe.png"))
    assert enhanced.shape == original.shape
    assert not np.array_equal(centre(enhanced), centre(original))
    manifest = json.loads((tmp_path / "out.manifest.json").read_text())
    assert manifest["images"] == [{"file": "probe.png", "size_px": [64, 80], "method": "classical"}]


def test_faces_marker_sits_in_a_corner_not_on_the_face(tmp_path):
    image = tmp_path / "probe.png"
    cv2.imwrite(str(image), face_crop(100, 120))
    outs = {}
    for marker in ("true", "false"):
        out = tmp_path / f"out_{marker}"
        args = ["--set", "enhance.mode=classical", "--set", f"composite.marker={marker}"]
        assert run(str(image), "--faces", "-o", str(out), *args) == 0
        outs[marker] = cv2.imread(str(out / "probe.png")).astype(int)
    changed = np.abs(outs["true"] - outs["false"]).max(axis=2) > 0
    rows, cols = np.nonzero(changed)
    assert changed.any()  # the label is there...
    assert rows.min() >= 120 * 3 // 4 and cols.min() >= 100 * 2 // 5  # ...in the corner
    assert changed.mean() < 0.1


@pytest.mark.parametrize("case", ["video", "two_inputs", "serve", "no_images"])
def test_faces_bad_inputs_exit_2_with_one_line(tmp_path, capsys, silent_clip, case):
    crops = tmp_path / "crops"
    write_crops(crops)
    empty = tmp_path / "empty"
    empty.mkdir()
    args, expected = {
        "video": ([str(silent_clip)], "--faces takes face-crop images"),
        "two_inputs": ([str(crops), str(crops / "b_mid.jpg")], "--faces takes one image"),
        "serve": ([str(crops), "--serve"], "--faces takes one image"),
        "no_images": ([str(empty)], "no images"),
    }[case]
    assert run(*args, "--faces", "-o", str(tmp_path / "out")) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and expected in err
    assert not (tmp_path / "out").exists()
