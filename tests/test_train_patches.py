"""Generic pre-training patches: deterministic, textured, right size, with provenance."""

from __future__ import annotations

import json

import cv2
import numpy as np
from synth import background, scene_frame, write_clip

from train.patches import harvest_patches


def _sources(tmp_path):
    image = tmp_path / "scene.png"
    cv2.imwrite(str(image), scene_frame(0, 320, 240, 2, 80)[0])
    flat = tmp_path / "flat.png"
    cv2.imwrite(str(flat), np.full((200, 200, 3), 128, np.uint8))
    video = tmp_path / "clip.mp4"
    write_clip(video, n_frames=6)
    return image, flat, video


def test_patches_deterministic_sized_and_recorded(tmp_path):
    image, _, video = _sources(tmp_path)
    runs = []
    for name in ("a", "b"):
        out = tmp_path / name
        assert harvest_patches([image, video], out, 10, "test licence", 64, seed=3) == 20
        runs.append(sorted(out.glob("*.png")))
    for a, b in zip(*runs, strict=True):
        pixels = cv2.imread(str(a))
        assert pixels.shape == (64, 64, 3)
        assert np.array_equal(pixels, cv2.imread(str(b)))
    prov = json.loads((tmp_path / "a" / "provenance.json").read_text())
    assert len(prov["patches"]) == 20 and prov["sources"][0]["licence"] == "test licence"


def test_flat_sources_give_no_patches_and_jpeg_option(tmp_path):
    _, flat, _ = _sources(tmp_path)
    assert harvest_patches([flat], tmp_path / "f", 5, "x", 64) == 0
    textured = tmp_path / "bg.png"
    cv2.imwrite(str(textured), background(320, 240))
    assert harvest_patches([textured], tmp_path / "j", 5, "x", 64, jpeg_quality=90) > 0
    assert list((tmp_path / "j").glob("*.jpg"))
