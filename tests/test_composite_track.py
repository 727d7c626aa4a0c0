"""Paste-back leaves everything outside the crop untouched; tracking keeps ids and damps jitter."""

from __future__ import annotations

import numpy as np
import pytest

from streamproc.core.config import CompositeConfig, TrackConfig
from streamproc.core.packet import Face, FramePacket
from streamproc.vision.composite import (
    Compositor,
    badge_layout,
    badge_rect,
    bracket_bounds,
    bracket_rects,
    feather_mask,
    match_colour,
    percentile,
)
from streamproc.vision.enhance.crops import extract
from streamproc.vision.track import FaceTracker


@pytest.mark.parametrize("side", [12, 40, 129])
def test_feather_mask_shape_and_range(side):
    mask = feather_mask(side, 0.2)
    assert mask.shape == (side, side, 1)
    assert mask.min() >= 0 and mask.max() <= 1
    assert mask[side // 2, side // 2, 0] == 1.0
    assert mask[0, 0, 0] < 0.2


def _lab(img: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.cvtColor(img, cv2.COLOR_BGR2LAB).astype(float)


def test_colour_match_removes_a_tint_and_keeps_an_unlifted_lightness():
    rng = np.random.default_rng(0)
    original = rng.integers(60, 200, (32, 32, 3), dtype=np.uint8)
    tinted = np.clip(original.astype(int) + (30, -20, 10), 0, 255).astype(np.uint8)
    fixed = match_colour(tinted, original, feather_mask(32, 0.2))
    chroma_before = np.abs(_lab(tinted)[..., 1:] - _lab(original)[..., 1:]).mean()
    chroma_after = np.abs(_lab(fixed)[..., 1:] - _lab(original)[..., 1:]).mean()
    assert chroma_after < chroma_before / 3
    darker = (original * 0.8).astype(np.uint8)  # the black point is not lifted: kept as is
    kept = match_colour(darker, original, feather_mask(32, 0.2))
    assert abs(_lab(kept)[..., 0].mean() - _lab(darker)[..., 0].mean()) < 1.0


def test_colour_match_brings_a_lifted_black_point_back_and_keeps_the_rest():
    from synth import face_patches

    face = np.ascontiguousarray(face_patches(90)[0][13:77, :64])
    original = (face * 0.6).astype(np.uint8)  # a dark face: lifting it is allowed
    brighter = np.clip(original.astype(int) + 40, 0, 255).astype(np.uint8)
    kept = match_colour(brighter, original, feather_mask(64, 0.2))
    lum_o, lum_b, lum_k = (_lab(x)[..., 0] for x in (original, brighter, kept))
    assert np.percentile(lum_b, 5) > np.percentile(lum_o, 5) + 30
    assert abs(np.percentile(lum_k, 5) - np.percentile(lum_o, 5)) < 6
    bright = lum_b > lum_b.mean() + 2  # tones above the face's mean are left alone
    assert np.abs(lum_k[bright] - lum_b[bright]).max() <= 1.0
    assert lum_k.mean() > lum_o.mean() + 10  # most of the lift is kept


def test_colour_match_does_not_lift_a_face_that_is_not_dark():
    from synth import face_patches

    from streamproc.vision.composite import LIFT_TARGET_L

    face = np.ascontiguousarray(face_patches(90)[0][13:77, :64])
    lit = np.clip(face.astype(int) * 1.3 + 20, 0, 255).astype(np.uint8)
    assert _lab(lit)[..., 0].mean() > LIFT_TARGET_L
    pale = np.clip(lit.astype(int) + 45, 0, 255).astype(np.uint8)  # a studio-bright re-render
    mask = feather_mask(64, 0.2)
    face_region = mask[:, :, 0] >= 0.5
    kept = match_colour(pale, lit, mask)

    def mean_l(img: np.ndarray) -> float:
        return float(_lab(img)[..., 0][face_region].mean())

    assert mean_l(pale) > mean_l(lit) + 30
    assert abs(mean_l(kept) - mean_l(lit)) < 6  # (the pale copy clips at white)
    dark = (face * 0.3).astype(np.uint8)
    lifted = match_colour(np.clip(dark.astype(int) + 120, 0, 255).astype(np.uint8), dark, mask)
    assert mean_l(dark) + 20 < mean_l(lifted) <= LIFT_TARGET_L + 3


@pytest.mark.parametrize("marker", [True, False])
@pytest.mark.parametrize("box", [(100, 80, 150, 130), (-10, -10, 30, 30), (290, 200, 340, 250)])
def test_paste_touches_only_the_crop(marker, box):
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (240, 320, 3), dtype=np.uint8)
    before = image.copy()
    face = Face(
        box_xyxy=np.array(
            [max(0, box[0]), max(0, box[1]), min(320, box[2]), min(240, box[3])], np.float32
        ),
        score=0.9,
    )
    face.crop_box = box
    face.crop = extract(image, box)
    face.enhanced = 255 - face.crop
    packet = FramePacket(index=0, pts=0, time_base=1, image=image, capture_s=0.0, faces=[face])
    Compositor(CompositeConfig(marker=marker)).process([packet])
    outside = np.ones(image.shape[:2], bool)
    outside[max(0, box[1]) : box[3], max(0, box[0]) : box[2]] = False
    if marker:  # the marker's brackets and the frame badge are the only other pixels drawn
        for rect in [*bracket_rects(face.box_xyxy), _badge(face, "AI-enhanced: 1 face")]:
            outside[max(0, rect[1]) : max(0, rect[3]), max(0, rect[0]) : max(0, rect[2])] = False
    np.testing.assert_array_equal(image[outside], before[outside])
    assert not np.array_equal(image[~outside], before[~outside])


def _badge(face: Face, text: str, size=(320, 240)) -> tuple[int, int, int, int]:
    _, _, text_size, base = badge_layout(text, *size)
    return badge_rect(text_size, base, *size, [bracket_bounds(face.box_xyxy)])


def _packet(index: int, boxes: list[tuple[float, float, float, float]]) -> FramePacket:
    faces = [Face(box_xyxy=np.array(b, np.float32), score=0.9) for b in boxes]
    return FramePacket(
        index=index,
        pts=index,
        time_base=1,
        image=np.zeros((240, 320, 3), np.uint8),
        capture_s=0.0,
        faces=faces,
        detected=True,
    )


def test_track_ids_stable_and_boxes_smoothed():
    rng = np.random.default_rng(0)
    tracker = FaceTracker(TrackConfig(box_smoothing=0.6))
    raw_widths, smooth_widths, ids = [], [], []
    for i in range(40):
        jitter = rng.normal(0, 2.0, 4)
        a = np.array([20 + i, 50, 70 + i, 110]) + jitter
        b = np.array([200 - i, 60, 240 - i, 110]) + rng.normal(0, 2.0, 4)
        packet = tracker.process([_packet(i, [tuple(a), tuple(b)])])[0]
        raw_widths.append(a[2] - a[0])
        smooth_widths.append(packet.faces[0].width_px)
        ids.append(tuple(f.track_id for f in packet.faces))
    assert len(set(ids[2:])) == 1 and -1 not in ids[-1]
    assert np.std(np.diff(smooth_widths[5:])) < 0.6 * np.std(np.diff(raw_widths[5:]))


def test_boxes_carried_between_detections():
    tracker = FaceTracker(TrackConfig(box_smoothing=0.0))
    for i in range(6):
        packet = _packet(i, [(10 + 4 * i, 50, 60 + 4 * i, 110)])
        packet.detected = i % 2 == 0
        if not packet.detected:
            packet.faces = []
        out = tracker.process([packet])[0]
        assert len(out.faces) == 1
        if not packet.detected and i > 2:
            # Extrapolated with the track's velocity (4 px/frame).
            assert abs(out.faces[0].box_xyxy[0] - (10 + 4 * i)) < 2.5


def _dark_scene_mid_grey_face() -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """A dark, noisy scene (luma ~30) with a mid-grey face (~130) that has dark eyes/mouth."""
    import cv2

    rng = np.random.default_rng(0)
    frame = np.clip(rng.normal(30, 6, (240, 320, 3)), 0, 255).astype(np.uint8)
    cv2.ellipse(frame, (160, 110), (30, 40), 0, 0, 360, (125, 130, 140), -1)
    for eye_x in (148, 172):
        cv2.circle(frame, (eye_x, 100), 4, (25, 25, 25), -1)
    cv2.ellipse(frame, (160, 130), (10, 4), 0, 0, 360, (40, 40, 60), -1)
    return frame, (130, 70, 190, 150)


@pytest.mark.parametrize("enhancer", ["hazy-generator", "classical"])
def test_paste_back_keeps_the_scene_and_the_black_level(enhancer):
    """The wash-out: a generator's haze (lifted blacks) or a low-light lift triggered by the
    dark scene must neither lift the face's black level nor paint a light square around it."""
    from streamproc.core.config import EnhanceConfig
    from streamproc.vision.enhance.stage import EnhanceStage

    frame, box = _dark_scene_mid_grey_face()
    before = frame.copy()
    face = Face(box_xyxy=np.array(box, np.float32), score=0.9)
    packet = FramePacket(index=0, pts=0, time_base=1, image=frame, capture_s=0.0, faces=[face])
    EnhanceStage(EnhanceConfig(mode="classical")).process([packet])
    if enhancer == "hazy-generator":  # what the generator's washed-out outputs look like
        face.enhanced = np.clip(face.crop * 0.7 + 60, 0, 255).astype(np.uint8)
    Compositor(CompositeConfig(marker=False)).process([packet])
    luma_before, luma_after = _lab(before)[..., 0], _lab(packet.image)[..., 0]
    yy, xx = np.mgrid[0:240, 0:320]
    in_face = ((xx - 160) / 30) ** 2 + ((yy - 110) / 40) ** 2 <= 1
    x1, y1, x2, y2 = face.crop_box
    corners = np.zeros_like(in_face)
    size = (x2 - x1) // 6
    for top, left in ((y1, x1), (y1, x2 - size), (y2 - size, x1), (y2 - size, x2 - size)):
        corners[top : top + size, left : left + size] = True
    assert np.abs(luma_after[corners] - luma_before[corners]).max() <= 1.0
    black_before = np.percentile(luma_before[in_face], 5)
    assert np.percentile(luma_after[in_face], 5) <= black_before + 3
    # A well-lit face in a dark scene is not brightened either.
    assert abs(luma_after[in_face].mean() - luma_before[in_face].mean()) < (
        25 if enhancer == "hazy-generator" else 3
    )


def test_a_face_whose_crop_has_left_the_frame_pastes_nothing():
    """A carried box can drift out of the picture: the paste leaves the frame as it was."""
    config = CompositeConfig()
    image = np.full((60, 80, 3), 90, np.uint8)
    face = Face(np.array([100, 10, 120, 30], np.float32), 0.9, 1, (95, 5, 125, 35))
    face.crop = np.full((30, 30, 3), 90, np.uint8)
    face.enhanced = np.full((30, 30, 3), 200, np.uint8)
    Compositor(config).paste(image, face)
    assert (image == 90).all()


@pytest.mark.parametrize("size", [4, 5, 37, 1000, 4097])
@pytest.mark.parametrize("q", [0, 5, 50, 100])
def test_percentile_is_numpys(size, q):
    values = np.random.default_rng(size).normal(100, 30, size).astype(np.float32)
    assert percentile(values, q) == pytest.approx(float(np.percentile(values, q)), abs=1e-4)
