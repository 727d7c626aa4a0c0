"""The int8 copy of the face detector: built once into the cache folder from the shipped
fp32 model, verified by sha256 on load, finding the faces fp32 finds, chosen by ``auto``
only where it is the faster one."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from synth import background, face_patches

from streamproc.audit.hashing import sha256_file
from streamproc.core.config import DetectConfig
from streamproc.core.errors import ModelError
from streamproc.core.packet import FramePacket
from streamproc.run.job import SAMPLE_CLIP
from streamproc.vision.bytetrack import iou_matrix
from streamproc.vision.detect import (
    FACEGHOST_SHA256,
    FaceDetector,
    cpu_has_bf16,
    load_detector,
    resolve_precision,
)

BACKEND = "openvino" if importlib.util.find_spec("openvino") else "ort"


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache folder with the int8 detector built in it (~20 s on 2 cores)."""
    folder = tmp_path_factory.mktemp("cache")
    model = load_detector(DetectConfig(precision="int8", backend=BACKEND, cache_dir=str(folder)))
    model.close()
    return folder


def _scene(width: int = 768, height: int = 432) -> tuple[np.ndarray, np.ndarray]:
    """Real faces of 32, 48 and 64 px pasted on a textured background."""
    frame = background(width, height)
    truth = []
    for i, px in enumerate((32, 48, 64)):
        patch = face_patches(px)[i % 2]
        x, y = 80 + 220 * i, 150
        frame[y : y + patch.shape[0], x : x + patch.shape[1]] = patch
        truth.append([x, y, x + patch.shape[1], y + patch.shape[0]])
    return frame, np.array(truth, float)


def _boxes(detector: FaceDetector, frame: np.ndarray) -> np.ndarray:
    packet = FramePacket(0, 0, 1, frame, 0.0)
    detector.process([packet])
    return np.array([f.box_xyxy for f in packet.faces], float).reshape(-1, 4)


def test_the_int8_copy_finds_the_faces_fp32_finds(cache):
    frame, truth = _scene()
    config = DetectConfig(every_n_frames=1, motion_gate=False, backend=BACKEND)
    fp32 = FaceDetector(dataclasses.replace(config, precision="fp32"))
    int8 = FaceDetector(dataclasses.replace(config, precision="int8", cache_dir=str(cache)))
    try:
        expected, got = _boxes(fp32, frame), _boxes(int8, frame)
        assert int8.precision == "int8" and fp32.precision == "fp32"
        assert int8.model_sha256 != fp32.model_sha256  # the manifest names the file that ran
        assert int8.source_sha256 == fp32.model_sha256 == FACEGHOST_SHA256
    finally:
        fp32.close()
        int8.close()
    assert len(expected) == 3 and (iou_matrix(expected, truth).max(axis=1) > 0.3).all()
    assert len(got) == len(expected)
    # Each int8 box is on the fp32 box of the same face, to a pixel or two.
    pairs = iou_matrix(got, expected)
    assert (pairs.max(axis=1) > 0.8).all()
    order_g, order_e = np.argsort(got[:, 0]), np.argsort(expected[:, 0])
    np.testing.assert_allclose(got[order_g], expected[order_e], atol=2.5)


def test_the_int8_copy_records_where_it_came_from(cache):
    records = list(cache.glob("detector-int8-*.json"))
    assert len(records) == 1
    record = json.loads(records[0].read_text())
    model = records[0].with_suffix(".onnx")
    assert record["source_sha256"] == FACEGHOST_SHA256
    assert record["sha256"] == sha256_file(model)
    assert record["calibration_sha256"] == sha256_file(SAMPLE_CLIP)
    assert record["calibration_frames"] == 40
    assert "AGPL-3.0" in record["licence"] and "Conv only" in record["method"]


def test_an_altered_int8_copy_is_refused_with_the_fix(cache, tmp_path):
    altered = tmp_path / "cache"
    shutil.copytree(cache, altered)
    model = next(altered.glob("detector-int8-*.onnx"))
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0xFF
    model.write_bytes(bytes(data))
    config = DetectConfig(precision="int8", backend=BACKEND, cache_dir=str(altered))
    with pytest.raises(ModelError, match=r"sha256 .* is not the recorded .*streamproc prepare"):
        load_detector(config)


def test_auto_picks_int8_only_for_the_shipped_detector_on_openvino_without_bf16(tmp_path):
    custom = tmp_path / "my.onnx"
    assert resolve_precision(DetectConfig(backend="ort")) == "fp32"
    assert resolve_precision(DetectConfig(backend="openvino", model=str(custom))) == "fp32"
    assert resolve_precision(DetectConfig(precision="int8", backend="ort")) == "int8"
    assert resolve_precision(DetectConfig(precision="fp32", backend="openvino")) == "fp32"
    if importlib.util.find_spec("openvino"):
        expected = "fp32" if cpu_has_bf16() else "int8"
        assert resolve_precision(DetectConfig(backend="openvino")) == expected


def test_prepare_reuses_the_built_copy(cache):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "streamproc.run.cli",
            "prepare",
            "--set",
            "detect.precision=int8",
            "--set",
            f"detect.backend={BACKEND}",
            "--set",
            f"detect.cache_dir={cache}",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "face detector ready (int8" in proc.stdout
    assert str(cache) in proc.stdout
    assert len(list(cache.glob("detector-int8-*.onnx"))) == 1


def test_an_unwritable_cache_is_one_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    config = DetectConfig(precision="int8", backend=BACKEND, cache_dir=str(blocker / "sub"))
    with pytest.raises(ModelError, match="cannot build the int8 face detector in .*precision=fp32"):
        load_detector(config)


@pytest.mark.skipif(BACKEND != "openvino", reason="openvino not installed")
def test_whole_frames_run_a_graph_compiled_for_their_shape(tmp_path):
    """OpenVINO compiles whole frames' shape once (kept in the cache folder, reused by the
    next process), and finds there what the any-shape graph finds."""
    frame, _ = _scene()
    config = DetectConfig(precision="fp32", backend="openvino", cache_dir=str(tmp_path))
    first = load_detector(config)
    try:
        fixed = first.engine.detect([frame], 640, fixed_shape=True)[0]
        any_shape = first.engine.detect([frame], 640)[0]
    finally:
        first.close()
    models = list((tmp_path / "openvino").glob("v0-1-*-1x3x384x640.xml"))
    assert len(models) == 1 and models[0].with_suffix(".bin").is_file()
    assert len(fixed.scores) == len(any_shape.scores) == 3
    np.testing.assert_allclose(fixed.boxes_xyxy, any_shape.boxes_xyxy, atol=0.5)
    written = models[0].stat().st_mtime_ns
    again = load_detector(config)
    try:
        reused = again.engine.detect([frame], 640, fixed_shape=True)[0]
    finally:
        again.close()
    assert models[0].stat().st_mtime_ns == written
    np.testing.assert_array_equal(reused.boxes_xyxy, fixed.boxes_xyxy)
