"""Crops, the pre/post pair, batching, classical restoration and the ORT session factory."""

from __future__ import annotations

import dataclasses
import logging

import numpy as np
import pytest
from synth import face_patches, scene_frame

from streamproc.core.config import EnhanceConfig
from streamproc.core.errors import ModelError
from streamproc.core.packet import Face, FramePacket
from streamproc.vision.enhance.classical import ClassicalEnhancer, estimate_noise_sigma
from streamproc.vision.enhance.crops import (
    extract,
    from_model_output,
    square_box,
    to_model_input,
    visible_region,
)
from streamproc.vision.enhance.onnx import GeneratorRunner, create_session
from streamproc.vision.enhance.stage import EnhanceStage


@pytest.mark.parametrize("side", [16, 37, 64, 128])
def test_pre_post_are_inverses(side):
    rng = np.random.default_rng(side)
    crops = [rng.integers(0, 256, (side, side, 3), dtype=np.uint8) for _ in range(3)]
    batch = to_model_input(crops, side, np.float32)
    assert batch.shape == (3, 3, side, side)
    assert batch.min() >= -1 and batch.max() <= 1
    back = from_model_output(batch, [side] * 3)
    for a, b in zip(crops, back, strict=True):
        np.testing.assert_array_equal(a, b)


def test_model_output_outside_minus_one_to_one_is_clipped_not_folded():
    """A generator without a final tanh may overshoot: -1.5 is black (not folded back up
    by OpenCV's absolute value), 1.5 white; float16 outputs are read as well."""
    batch = np.zeros((2, 3, 4, 4), np.float16)
    batch[0] = -1.5
    batch[1] = 1.5
    dark, bright = from_model_output(batch, [4, 4])
    assert dark.max() == 0 and bright.min() == 255
    mid = from_model_output(np.full((1, 3, 4, 4), 0.2, np.float32), [4])[0]
    assert np.all(mid == round(1.2 * 127.5))  # 153


def test_model_input_is_rgb():
    crop = np.zeros((8, 8, 3), np.uint8)
    crop[:, :, 2] = 255  # red in BGR
    batch = to_model_input([crop], 8, np.float32)
    assert batch[0, 0].min() == 1.0 and batch[0, 2].max() == -1.0


@pytest.mark.parametrize(
    ("box", "margin", "expected_side"),
    [((10, 10, 30, 50), 0.0, 40), ((10, 10, 30, 50), 0.25, 60), ((0, 0, 5, 5), 0.5, 10)],
)
def test_square_box(box, margin, expected_side):
    x1, y1, x2, y2 = square_box(np.array(box, np.float32), margin)
    assert x2 - x1 == y2 - y1 == expected_side
    assert abs((x1 + x2) / 2 - (box[0] + box[2]) / 2) <= 0.5


def test_extract_pads_outside_frame_and_visible_region_matches():
    image = np.arange(40 * 50 * 3, dtype=np.uint8).reshape(40, 50, 3)
    box = (-5, -3, 15, 17)
    crop = extract(image, box)
    assert crop.shape == (20, 20, 3)
    rows, cols, crop_rows, crop_cols = visible_region(box, 50, 40)
    np.testing.assert_array_equal(crop[crop_rows, crop_cols], image[rows, cols])


def _packets(n_frames: int, n_faces: int) -> list[FramePacket]:
    packets = []
    for i in range(n_frames):
        image, boxes = scene_frame(i, 320, 240, n_faces, 60)
        faces = [Face(box_xyxy=np.array(b, np.float32), score=0.9) for b in boxes]
        packets.append(
            FramePacket(index=i, pts=i, time_base=1, image=image, capture_s=0.0, faces=faces)
        )
    return packets


def test_batching_gives_same_pixels_as_batch_1(tiny_generator):
    results = {}
    for max_batch in (1, 16):
        cfg = EnhanceConfig(mode="generator", model=str(tiny_generator), max_batch=max_batch)
        stage = EnhanceStage(cfg)
        packets = stage.process(_packets(4, 2))  # 8 faces across 4 frames in one call
        results[max_batch] = [f.enhanced for p in packets for f in p.faces]
        stage.close()
    assert len(results[1]) == 8
    for a, b in zip(results[1], results[16], strict=True):
        np.testing.assert_array_equal(a, b)


def test_generator_reads_input_size_from_metadata(tiny_generator):
    runner = GeneratorRunner(tiny_generator, EnhanceConfig(mode="generator"))
    assert runner.input_size_px == 32
    out = runner(np.zeros((5, 3, 32, 32), np.float32))
    assert out.shape == (5, 3, 32, 32)


def test_foreign_onnx_is_refused(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Identity", ["input"], ["output"])],
        "g",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 32, 32])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 3, 32, 32])],
    )
    path = tmp_path / "foreign.onnx"
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)
    with pytest.raises(ModelError, match="not a streamproc generator"):
        GeneratorRunner(path, EnhanceConfig(mode="generator"))


def _providers_available(monkeypatch, *names: str) -> None:
    """The providers this ONNX Runtime build lists, whatever the machine has."""
    import onnxruntime as ort

    monkeypatch.setattr(ort, "get_available_providers", lambda: list(names))


def _only_cpu_starts(monkeypatch) -> None:
    """Every accelerator provider is listed but fails to start (onnxruntime-gpu lists
    TensorRT and CUDA on a machine with no GPU, then runs on the CPU)."""
    import onnxruntime as ort

    real = ort.InferenceSession

    def session(path, sess_options=None, providers=None):
        return real(path, sess_options=sess_options, providers=["CPUExecutionProvider"])

    monkeypatch.setattr(ort, "InferenceSession", session)


def test_absent_provider_is_an_error_not_a_fallback(tiny_generator, monkeypatch):
    _providers_available(monkeypatch, "CPUExecutionProvider")
    cfg = EnhanceConfig(mode="generator", providers=("tensorrt", "cpu"))
    with pytest.raises(ModelError, match="TensorrtExecutionProvider not available"):
        create_session(tiny_generator, cfg)


def test_listed_provider_that_does_not_start_is_an_error(tiny_generator, monkeypatch):
    _providers_available(monkeypatch, "TensorrtExecutionProvider", "CPUExecutionProvider")
    _only_cpu_starts(monkeypatch)
    cfg = EnhanceConfig(mode="generator", providers=("tensorrt", "cpu"))
    with pytest.raises(ModelError, match="could not start TensorrtExecutionProvider"):
        create_session(tiny_generator, cfg)


@pytest.mark.parametrize("listed", [False, True], ids=["absent", "listed-not-starting"])
def test_absent_provider_can_warn_instead(tiny_generator, caplog, monkeypatch, listed):
    caplog.set_level(logging.WARNING, logger="streamproc")  # a CLI test may have set ERROR
    if listed:
        _providers_available(monkeypatch, "CUDAExecutionProvider", "CPUExecutionProvider")
        _only_cpu_starts(monkeypatch)
    else:
        _providers_available(monkeypatch, "CPUExecutionProvider")
    cfg = EnhanceConfig(mode="generator", providers=("cuda", "cpu"), missing_provider="warn")
    session = create_session(tiny_generator, cfg)
    assert session.get_providers() == ["CPUExecutionProvider"]
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and "CUDAExecutionProvider" in warnings[0], warnings


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b) ** 2))
    return 10 * np.log10(255**2 / mse)


@pytest.mark.parametrize("sigma", [4.0, 8.0, 15.0, 25.0])
@pytest.mark.parametrize("method", ["bilateral", "nlm"])
def test_classical_denoise_raises_psnr(sigma, method):
    clean = face_patches(96)[0]
    rng = np.random.default_rng(0)
    noisy = np.clip(clean + rng.normal(0, sigma, clean.shape), 0, 255).astype(np.uint8)
    denoised = ClassicalEnhancer(EnhanceConfig(denoise=method)).denoise(noisy)
    gain_db = _psnr(denoised, clean) - _psnr(noisy, clean)
    if method == "bilateral":
        assert gain_db > 1.0
    elif sigma >= 15:  # NLM over-smooths small faces at low noise; it pays off when noisy
        assert gain_db > 0.0


def test_noise_estimate_tracks_real_noise():
    clean = face_patches(96)[0]
    rng = np.random.default_rng(0)
    estimates = [
        estimate_noise_sigma(
            np.clip(clean + rng.normal(0, s, clean.shape), 0, 255).astype(np.uint8)
        )
        for s in (0, 8, 16, 32)
    ]
    assert estimates == sorted(estimates)
    assert estimates[0] < 5 and 12 < estimates[3] < 40


def test_classical_lifts_low_light_and_keeps_shape():
    clean = face_patches(96)[0]
    dark = (clean * 0.3).astype(np.uint8)
    enhancer = ClassicalEnhancer(EnhanceConfig())
    out = enhancer(dark)
    assert out.shape == dark.shape
    assert out.mean() > dark.mean() + 20


@pytest.mark.parametrize(("face_luma", "scene_luma", "lifted"), [(130, 25, False), (45, 200, True)])
def test_low_light_lift_measures_the_face_not_the_square(face_luma, scene_luma, lifted):
    """A well-lit face in a dark scene is left alone; a dark face in a bright one is lifted."""
    import cv2

    crop = np.full((96, 96, 3), scene_luma, np.uint8)  # crop_margin 0.3: the face is central
    cv2.ellipse(crop, (48, 48), (30, 36), 0, 0, 360, (face_luma,) * 3, -1)
    enhancer = ClassicalEnhancer(EnhanceConfig())
    out = enhancer.lift_low_light(crop)
    assert (abs(out[48, 48].astype(int) - face_luma).max() > 15) == lifted


def test_sharpen_restores_edges_of_blurred_face():
    import cv2

    clean = face_patches(96)[0]
    blurred = cv2.GaussianBlur(clean, (0, 0), 1.2)
    sharp = ClassicalEnhancer(EnhanceConfig()).sharpen(blurred)
    assert _psnr(sharp, clean) > _psnr(blurred, clean)


def test_large_faces_are_left_alone():
    packets = _packets(1, 1)
    stage = EnhanceStage(EnhanceConfig(mode="classical", max_face_px=30))
    stage.process(packets)
    assert packets[0].faces[0].enhanced is None


def test_auto_mode_routes_small_faces_to_generator(tiny_generator):
    def run(mode: str, limit: int = 32) -> list[np.ndarray]:
        cfg = EnhanceConfig(mode=mode, model=str(tiny_generator), generator_max_face_px=limit)
        packets = EnhanceStage(cfg).process(_packets(1, 2))
        return [f.enhanced for f in packets[0].faces]

    # _packets() draws 60 px faces: with a 100 px limit both are "small", with 30 none is.
    for got, want in zip(run("auto", 100), run("generator"), strict=True):
        np.testing.assert_array_equal(got, want)
    for got, want in zip(run("auto", 30), run("classical"), strict=True):
        np.testing.assert_array_equal(got, want)


def test_auto_mode_leaves_faces_below_the_min_band_as_they_are(tiny_generator):
    cfg = EnhanceConfig(mode="auto", model=str(tiny_generator), auto_min_face_px=61,
                        generator_max_face_px=32)  # fmt: skip
    stage = EnhanceStage(cfg)
    packets = stage.process(_packets(1, 2))  # 60 px faces: below the band
    assert all(f.enhanced is None for f in packets[0].faces)
    assert stage.faces_enhanced == 0
    cfg = EnhanceConfig(mode="auto", model=str(tiny_generator), auto_min_face_px=60,
                        generator_max_face_px=32)  # fmt: skip
    packets = EnhanceStage(cfg).process(_packets(1, 2))
    assert all(f.enhancer == "classical" for f in packets[0].faces)


@pytest.fixture(scope="module")
def small_generator(tmp_path_factory: pytest.TempPathFactory):
    """Another tiny generator at a 16 px input (other weights), as the small-face model."""
    import dataclasses

    from export.onnx import TINY_GENERATOR, export_tiny_generator

    config = dataclasses.replace(TINY_GENERATOR, input_size=16)
    return export_tiny_generator(tmp_path_factory.mktemp("small") / "s.onnx", 1, config)


def _faces_of_heights(heights: list[int]) -> list[FramePacket]:
    rng = np.random.default_rng(3)
    image = rng.integers(0, 256, (120, 320, 3), dtype=np.uint8)
    faces = [
        Face(box_xyxy=np.array([10 + 60 * i, 10, 10 + 60 * i + h, 10 + h], np.float32), score=0.9)
        for i, h in enumerate(heights)
    ]
    return [FramePacket(index=0, pts=0, time_base=1, image=image, capture_s=0.0, faces=faces)]


def test_small_faces_go_to_the_small_generator_and_the_rest_to_the_main_one(
    tiny_generator, small_generator
):
    heights = [14, 30, 24, 40]  # limit 24: faces 0 and 2 are small
    base = EnhanceConfig(mode="generator", model=str(tiny_generator), small_model="none")
    routed = dataclasses.replace(base, small_model=str(small_generator), small_model_max_face_px=24)
    only_small = dataclasses.replace(base, model=str(small_generator))
    out = {}
    for name, cfg in (("main", base), ("routed", routed), ("small", only_small)):
        stage = EnhanceStage(cfg)
        out[name] = [f.enhanced for f in stage.process(_faces_of_heights(heights))[0].faces]
    assert stage.small_generator is None  # small_model "none"
    for i, height in enumerate(heights):
        want = out["small" if height <= 24 else "main"][i]
        np.testing.assert_array_equal(out["routed"][i], want)
        assert not np.array_equal(out["small"][i], out["main"][i])  # the two models differ


def test_the_small_generator_ships_only_beside_the_shipped_model(tiny_generator, monkeypatch):
    from streamproc.vision.enhance import stage

    monkeypatch.setattr(stage, "SHIPPED_SMALL_MODEL", tiny_generator)
    assert stage.small_generator_config(EnhanceConfig()).model == str(tiny_generator)
    assert stage.small_generator_config(EnhanceConfig(small_model="none")) is None
    # The user's own model enhances every face: no shipped small model beside it.
    assert stage.small_generator_config(EnhanceConfig(model=str(tiny_generator))) is None
    assert stage.small_generator_config(EnhanceConfig(mode="classical")) is None
    missing = tiny_generator.with_name("missing.onnx")
    monkeypatch.setattr(stage, "SHIPPED_SMALL_MODEL", missing)
    assert stage.small_generator_config(EnhanceConfig()) is None
    with pytest.raises(ModelError, match="small-face generator model not found"):
        stage.small_generator_config(EnhanceConfig(small_model=str(missing)))


def test_a_small_generator_failing_its_sha256_is_refused(tiny_generator, small_generator):
    cfg = EnhanceConfig(
        mode="generator",
        model=str(tiny_generator),
        small_model=str(small_generator),
        small_model_sha256="0" * 64,
    )
    with pytest.raises(ModelError, match="fails its sha256 check"):
        EnhanceStage(cfg)
