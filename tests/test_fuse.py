"""Multi-frame fusion (streamproc.vision.fuse): noise falls ~sqrt(K), strangers and jumps
are refused, buffers stay bounded, fusion off is today's pipeline to the pixel."""

from __future__ import annotations

import dataclasses
import json
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import FAST
from synth import background, face_patches

from streamproc.core.config import EnhanceConfig, FuseConfig
from streamproc.core.errors import ConfigError
from streamproc.core.packet import Face, FramePacket
from streamproc.run.cli import main
from streamproc.vision.enhance.crops import ellipse_radius, extract, square_box
from streamproc.vision.fuse import FaceFusion, StoredCrop, fuse_crop

ENHANCE = EnhanceConfig()


def fuse(frames: int = 8, **changes) -> FuseConfig:
    """Fusion on, every face fused (the default's noise gate is tested on its own)."""
    return FuseConfig(enabled=True, frames=frames, min_noise_sigma=0.0, **changes)


FACE_PX = 40
BOX = np.array([100.0, 60.0, 100.0 + FACE_PX, 60.0 + FACE_PX], np.float32)


def face_frame(patch: np.ndarray, shift_px: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    """A 240x180 scene with ``patch`` (the face) at ``BOX`` moved by ``shift_px``: drawn at
    10x and area-averaged down, so a sub-pixel shift is a true shift (not extra blur)."""
    up = 10
    frame = cv2.resize(background(240, 180), (240 * up, 180 * up), interpolation=cv2.INTER_NEAREST)
    big = cv2.resize(
        patch, (patch.shape[1] * up, patch.shape[0] * up), interpolation=cv2.INTER_CUBIC
    )
    h, w = big.shape[:2]
    x = round((BOX[0] + (FACE_PX - patch.shape[1]) / 2 + shift_px[0]) * up)
    y = round((BOX[1] + shift_px[1]) * up)
    frame[y : y + h, x : x + w] = big
    return cv2.resize(frame, (240, 180), interpolation=cv2.INTER_AREA).astype(np.float32)


def noisy(frame: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    return np.clip(np.rint(frame + rng.normal(0, sigma, frame.shape)), 0, 255).astype(np.uint8)


def packet(index: int, image: np.ndarray, boxes=(BOX,), track_ids=(0,)) -> FramePacket:
    faces = [Face(box_xyxy=b, score=0.9, track_id=t) for b, t in zip(boxes, track_ids, strict=True)]
    return FramePacket(index, index, Fraction(1, 25), image, 0.0, faces)


def face_region(side_px: int) -> np.ndarray:
    """The face ellipse of a crop cut by square_box with the default margin."""
    box = square_box(BOX, ENHANCE.crop_margin)
    x1, y1 = box[:2]
    inner = (BOX[0] - x1, BOX[1] - y1, BOX[2] - x1, BOX[3] - y1)
    return ellipse_radius(side_px, side_px, inner) <= 0.9


def run_fusion(frames: list[np.ndarray], config: FuseConfig) -> tuple[FaceFusion, list[Face]]:
    fuser = FaceFusion(config, ENHANCE)
    faces = []
    for k, image in enumerate(frames):
        fuser.process([p := packet(k, image)])
        faces.append(p.faces[0])
    return fuser, faces


@pytest.mark.parametrize("k", [4, 8])
def test_static_face_noise_falls_by_sqrt_k(k):
    rng = np.random.default_rng(k)
    clean = face_frame(face_patches(FACE_PX)[0])
    sigma = 12.0
    _, faces = run_fusion([noisy(clean, sigma, rng) for _ in range(k)], fuse(k))
    last = faces[-1]
    assert last.fused_frames == k
    clean_crop = extract(clean, last.crop_box)
    region = face_region(last.crop.shape[0])
    before = float(
        np.std(extract(noisy(clean, sigma, rng), last.crop_box)[region] - clean_crop[region])
    )
    after = float(np.std(last.crop.astype(np.float32)[region] - clean_crop[region]))
    # Ideal: sigma / sqrt(K). The robust weights give up a little on noise outliers.
    assert 0.8 / np.sqrt(k) < after / before < 1.25 / np.sqrt(k)


def test_drifting_face_is_registered_before_merging():
    """The face moves 0.6 px a frame under a fixed box: without registration the merge
    would smear it; registered, the fused crop is closer to the clean one than any frame."""
    rng = np.random.default_rng(1)
    patch = face_patches(FACE_PX)[0]
    shifts = [(0.6 * (k - 7), 0.3 * (k - 7)) for k in range(8)]
    cleans = [face_frame(patch, s) for s in shifts]
    frames = [noisy(c, 12.0, rng) for c in cleans]

    def err(config: FuseConfig) -> float:
        last = run_fusion(frames, config)[1][-1]
        region = face_region(last.crop.shape[0])
        ref = extract(cleans[-1], last.crop_box)
        return float(np.sqrt(np.mean((last.crop.astype(np.float32)[region] - ref[region]) ** 2)))

    single = err(fuse(1))
    registered = err(fuse(8))
    unregistered = err(fuse(8, registration="none"))
    assert registered < 0.6 * single
    assert registered < unregistered


def test_a_different_face_is_not_merged():
    rng = np.random.default_rng(2)
    a, b = face_patches(FACE_PX)
    frames = [noisy(face_frame(a), 6.0, rng) for _ in range(5)] + [noisy(face_frame(b), 6.0, rng)]
    _, faces = run_fusion(frames, fuse(8))
    assert faces[4].fused_frames == 5
    stranger = faces[5]
    assert stranger.fused_frames == 1
    np.testing.assert_array_equal(stranger.crop, extract(frames[5], stranger.crop_box))


def test_a_big_jump_is_not_merged():
    """A past crop whose face sits a third of the crop away is a jump, not a drift."""
    rng = np.random.default_rng(3)
    patch = face_patches(FACE_PX)[0]
    box = square_box(BOX, ENHANCE.crop_margin)
    side = box[2] - box[0]
    current = extract(noisy(face_frame(patch), 6.0, rng), box)
    pad = round(0.25 * side)
    padded = (box[0] - pad, box[1] - pad, box[2] + pad, box[3] + pad)
    jumped = noisy(face_frame(patch, (side / 3, 0.0)), 6.0, rng)
    near = noisy(face_frame(patch, (1.0, 0.5)), 6.0, rng)
    history = [StoredCrop(extract(f, padded).astype(np.float32), side, pad) for f in (jumped, near)]
    fused, verdicts = fuse_crop(current, history, fuse(8), ENHANCE.crop_margin)
    near_v, jumped_v = verdicts  # newest first
    assert near_v.used and abs(near_v.shift_px[0] - 1.0) < 0.3
    assert not jumped_v.used and jumped_v.reason in ("jump", "does not match")


@pytest.mark.parametrize("k", [1, 3, 8])
def test_buffers_are_bounded_and_dropped_with_their_track(k):
    rng = np.random.default_rng(4)
    clean = face_frame(face_patches(FACE_PX)[0])
    fuser = FaceFusion(fuse(k), ENHANCE)
    second = BOX + np.float32([80, 0, 80, 0])
    for index in range(3 * k + 2):
        p = packet(index, noisy(clean, 8.0, rng), (BOX, second), (0, 1))
        fuser.process([p])
        assert all(f.fused_frames <= min(k, index + 1) for f in p.faces)
        assert fuser.buffered("0", 0) == min(k - 1, index + 1)
    last = 3 * k + 1
    # Track 1 leaves: its crops are kept for K frames (a missed detection), then dropped.
    for index in range(last + 1, last + k + 2):
        fuser.process([packet(index, noisy(clean, 8.0, rng), (BOX,), (0,))])
        assert fuser.tracks == (2 if index <= last + k else 1)
    empty = clean.astype(np.uint8)
    for index in range(last + k + 2, last + 2 * k + 3):
        fuser.process([FramePacket(index, index, Fraction(1, 25), empty, 0.0, [])])
    assert fuser.tracks == 0


def test_off_or_untracked_leaves_faces_alone():
    image = noisy(face_frame(face_patches(FACE_PX)[0]), 8.0, np.random.default_rng(5))
    off = packet(0, image)
    FaceFusion(FuseConfig(False), ENHANCE).process([off])
    untracked = packet(0, image, track_ids=(-1,))
    FaceFusion(fuse(), ENHANCE).process([untracked])
    too_big = FaceFusion(fuse(max_face_px=FACE_PX - 1), ENHANCE)
    big = packet(0, image)
    too_big.process([big])
    assert too_big.tracks == 0  # neither fused nor stored
    not_enhanced = packet(0, image)
    FaceFusion(fuse(), dataclasses.replace(ENHANCE, mode="off")).process([not_enhanced])
    for p in (off, untracked, big, not_enhanced):
        assert p.faces[0].crop is None and p.faces[0].fused_frames == 0


def test_clean_faces_are_left_alone_by_the_default_noise_gate():
    """Fusion measured no gain on faces with little noise: the default leaves them as cut."""
    rng = np.random.default_rng(6)
    clean = face_frame(face_patches(FACE_PX)[0])
    frames = [noisy(clean, 2.0, rng) for _ in range(4)] + [noisy(clean, 16.0, rng)]
    fuser, faces = run_fusion(frames, FuseConfig())
    assert [f.fused_frames for f in faces] == [1, 1, 1, 1, 5]
    np.testing.assert_array_equal(faces[3].crop, extract(frames[3], faces[3].crop_box))


@pytest.mark.parametrize(
    "key, value",
    [("frames", 0), ("registration", "flow"), ("max_shift", 1.5), ("min_correlation", 2.0)],
)
def test_bad_fuse_config_is_refused(key, value):
    with pytest.raises(ConfigError, match=f"fuse.{key}"):
        dataclasses.replace(FuseConfig(), **{key: value})


# --- through the CLI ------------------------------------------------------------------------


def run_cli(clip: Path, out: Path, *sets: str) -> dict:
    args = [str(clip), "-o", str(out), "--quiet"]
    for s in [*FAST, "fuse.max_face_px=100", *sets]:  # the clip's faces are 70 px tall
        args += ["--set", s]
    assert main(["run", *args]) == 0
    return json.loads(Path(str(out) + ".manifest.json").read_text())


def test_cli_fusion_off_is_todays_pixels_and_on_records_fused_frames(face_clip, tmp_path):
    off = run_cli(face_clip[0], tmp_path / "off.mp4", "fuse.enabled=false")
    # The default (on, noise-gated) on a clean clip, and fusion with nothing to merge, cut
    # exactly the crops the enhancer cuts itself: today's pixels.
    default = run_cli(face_clip[0], tmp_path / "default.mp4")
    nothing_to_merge = run_cli(
        face_clip[0], tmp_path / "k1.mp4", "fuse.min_noise_sigma=0", "fuse.frames=1"
    )
    on = run_cli(face_clip[0], tmp_path / "on.mp4", "fuse.min_noise_sigma=0")

    def hashes(manifest: dict) -> list[str]:
        return [frame["frame_sha256"] for frame in manifest["frames"]]

    assert len(hashes(off)) == 24
    assert hashes(default) == hashes(off)
    assert hashes(nothing_to_merge) == hashes(off)
    assert {f["fused_frames"] for fr in off["frames"] for f in fr["faces"]} == {0}
    fused = [f["fused_frames"] for fr in on["frames"] for f in fr["faces"] if f["track_id"] >= 0]
    assert fused and max(fused) > 1 and max(fused) <= 8
    assert on["stats"]["faces_fused"] == sum(n > 1 for n in fused)
    assert on["config"]["fuse"]["enabled"] is True
    assert hashes(on) != hashes(off)


def test_eval_fusion_runs_and_fusion_cleans_the_noisy_clips(tmp_path, tiny_generator):
    """``streamproc-eval --fusion`` end to end on two real faces (few frames, no dlib)."""
    from benchmarks.evaluate import main as eval_main

    faces = tmp_path / "faces"
    faces.mkdir()
    for i, patch in enumerate(face_patches(128)):
        cv2.imwrite(str(faces / f"face{i}.png"), patch)
    out = tmp_path / "eval"
    args = ["--fusion", "--faces", str(faces), "--fusion-frames", "10", "--no-identity"]
    args += ["--no-pair", "--generator", str(tiny_generator), "--out", str(out)]
    assert eval_main(args) == 0
    result = json.loads((out / "fusion.json").read_text())
    assert set(result["clips"]) == {"low light", "very low light"}
    dark = result["clips"]["very low light"]["summary"]
    # True boxes, no enhancer: the fused crops are closer to the noise-free render.
    assert (
        dark["fuse stage only"]["psnr_vs_noise_free"]["mean"]
        > dark["input"]["psnr_vs_noise_free"]["mean"]
    )
    # The ceiling rows: the noise-free render is closer to the clean render than the input,
    # and it was also run through the pipeline.
    assert dark["noise-free render"]["psnr"]["mean"] > dark["input"]["psnr"]["mean"]
    assert "psnr_vs_noise_free" not in dark["noise-free render"]
    assert dark["noise-free render, enhanced"]["psnr"]["mean"] > 0
    # Which enhancer auto gave each face, from the manifest (the faces are 24-32 px).
    runs = result["clips"]["very low light"]["per_clip"][0]["enhancers"]
    assert set(runs) == {"fusion off", "fusion on", "noise-free render, enhanced"}
    assert sum(runs["fusion on"].values()) > 0
    reg = result["registration"]["very low light"]
    assert reg["phase+ecc"]["error_px_rms"] < reg["none"]["error_px_rms"]
    text = (out / "fusion.md").read_text()
    assert "## Registration" in text
    assert "* noise-free render - fusion off: mean" in text
    assert "Enhancer per face, fusion on (manifest):" in text
    from benchmarks.eval_fusion import comparison_table

    table = comparison_table([("tiny", result)])
    assert table.count("| tiny |") == 2 and "| very low light |" in table
