"""Harvesting face crops with the project's detector, on a packaged photo with real faces."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from train import harvest as hv

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("faceghost") is None
    or importlib.util.find_spec("ultralytics") is None,
    reason="needs faceghost's detector ONNX and ultralytics",
)


@pytest.fixture(scope="module")
def zidane() -> np.ndarray:
    spec = importlib.util.find_spec("ultralytics")
    path = Path(list(spec.submodule_search_locations)[0]) / "assets" / "zidane.jpg"
    img = cv2.imread(str(path))
    return cv2.resize(img, (640, 360), interpolation=cv2.INTER_AREA)


def write_clip(path: Path, frames: list[np.ndarray]) -> None:
    container = av.open(str(path), mode="w")
    try:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 640, 360, "yuv420p"
        stream.options = {"crf": "18"}
        for img in frames:
            frame = av.VideoFrame.from_ndarray(img[:, :, ::-1].copy(), format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    finally:
        container.close()


def test_harvest_crops_faces_dedupes_and_records_provenance(zidane, tmp_path: Path) -> None:
    """Three identical frames: two faces, written once each; provenance says where from."""
    clip = tmp_path / "still.mp4"
    write_clip(clip, [zidane] * 3)
    cfg = hv.HarvestConfig(imgsz=320, conf=0.4, min_face_px=40)
    out = tmp_path / "faces"
    prov = hv.harvest([clip], out, "test licence", cfg)
    crops = prov["crops"]
    assert len(crops) == 2 and {c["frame"] for c in crops} == {0}
    for crop in crops:
        img = cv2.imread(str(out / crop["file"]))
        x1, y1, x2, y2 = crop["box_xyxy"]
        assert img.shape[0] == img.shape[1] == crop["crop_px"]
        assert crop["crop_px"] == pytest.approx(1.5 * max(x2 - x1, y2 - y1), abs=2)
        assert y2 - y1 >= 40
    saved = json.loads((out / "provenance.json").read_text())
    assert saved["sources"][0]["licence"] == "test licence"
    assert saved["sources"][0]["sha256"] == hv.sha256_file(clip)
    assert saved["detector"]["sha256"] == hv.sha256_file(hv.faceghost_model_path())

    assert (
        hv.main([str(clip), "--out", str(out), "--licence", "again", "--min-face-px", "500"]) == 0
    )
    assert len(json.loads((out / "provenance.json").read_text())["crops"]) == 2  # appended 0


def test_square_crop_pads_at_the_border() -> None:
    img = np.arange(20 * 30 * 3, dtype=np.uint8).reshape(20, 30, 3)
    crop, box = hv.square_crop(img, np.array([0.0, 0.0, 10.0, 10.0]), margin=0.5)
    assert crop.shape == (20, 20, 3) and box == [-5, -5, 15, 15]
    assert np.array_equal(crop[5:, 5:], img[:15, :15])


def test_missing_source_is_exit_2(tmp_path: Path, capsys) -> None:
    assert hv.main([str(tmp_path / "none.mp4"), "--out", str(tmp_path), "--licence", "x"]) == 2
    assert "not found" in capsys.readouterr().err
