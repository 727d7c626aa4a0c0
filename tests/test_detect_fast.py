"""The torch-free detector: letterbox maps, decode + NMS, parity with ultralytics, the
motion gate, and a default run that never imports torch."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from synth import background, face_patches, write_clip

from streamproc.core.cadence import DetectionCadence
from streamproc.core.config import DetectConfig, TrackConfig
from streamproc.core.packet import FramePacket
from streamproc.vision.bytetrack import iou_matrix
from streamproc.vision.detect import FaceDetector, detector_threads, nms
from streamproc.vision.letterbox import apply_letterbox, plan_letterbox
from streamproc.vision.motion import MotionGate, Region, face_tiles, small_in_full_pass
from streamproc.vision.track import FaceTracker

ROOT = Path(__file__).resolve().parents[1]
FACE_PX = 44


@pytest.mark.parametrize(
    ("size", "long_side", "expected_input"),
    [
        ((768, 432), 640, (640, 384)),
        ((1280, 720), 640, (640, 384)),
        ((1920, 1080), 640, (640, 384)),
        ((320, 240), 640, (320, 256)),  # never scaled up: padded to the stride only
        ((100, 700), 640, (96, 640)),
        ((97, 61), 640, (128, 64)),
    ],
)
def test_letterbox_keeps_the_aspect_and_maps_boxes_back_exactly(size, long_side, expected_input):
    width, height = size
    box = plan_letterbox(width, height, long_side)
    assert (box.input_width_px, box.input_height_px) == expected_input
    assert box.input_width_px % 32 == 0 and box.input_height_px % 32 == 0
    rng = np.random.default_rng(0)
    # (50, 2 corners, xy) sorted per axis: x1 <= x2, y1 <= y2.
    corners = np.sort(rng.uniform(0, [width, height], (50, 2, 2)), axis=1)
    boxes = corners.reshape(50, 4)
    np.testing.assert_allclose(box.to_frame(box.to_input(boxes)), boxes, atol=1e-9)
    # The content agrees with the map: a white rectangle lands where to_input says.
    frame = np.zeros((height, width, 3), np.uint8)
    rect = np.array([width * 0.2, height * 0.3, width * 0.6, height * 0.7])
    x1, y1, x2, y2 = rect.round().astype(int)
    frame[y1:y2, x1:x2] = 255
    padded = apply_letterbox(frame, box)
    assert padded.shape == (box.input_height_px, box.input_width_px, 3)
    ys, xs = np.nonzero(padded[:, :, 0] > 128)
    found = np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])
    np.testing.assert_allclose(found, box.to_input([x1, y1, x2, y2])[0], atol=1.0)


def test_nms_keeps_the_best_of_overlapping_boxes():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30], [0, 0, 10, 9]], float)
    scores = np.array([0.5, 0.9, 0.7, 0.3])
    assert nms(boxes, scores, 0.5, 10).tolist() == [1, 2]
    assert nms(boxes, scores, 0.5, 1).tolist() == [1]
    assert nms(boxes[:0], scores[:0], 0.5, 10).tolist() == []


def _scene_with_faces(
    width: int, height: int, px: int, n_faces: int = 2
) -> tuple[np.ndarray, np.ndarray]:
    frame = background(width, height)
    truth = []
    for k, patch in enumerate(face_patches(px)[:n_faces]):
        x, y = width // 6 + k * width // 2, height // 3
        frame[y : y + px, x : x + patch.shape[1]] = patch
        truth.append([x, y, x + patch.shape[1], y + px])
    return frame, np.array(truth, float)


def _faces(detector: FaceDetector, image: np.ndarray, index: int = 0) -> np.ndarray:
    packet = FramePacket(index, index, 1, image, 0.0)
    detector.process([packet])
    boxes = [f.box_xyxy for f in packet.faces]
    return np.array(boxes, float).reshape(-1, 4)


@pytest.mark.parametrize(
    ("backend", "tolerance_px"),
    [
        ("ort", 0.01),
        pytest.param(
            "openvino",
            1.0,
            marks=pytest.mark.skipif(
                importlib.util.find_spec("openvino") is None, reason="openvino not installed"
            ),
        ),
    ],
)
@pytest.mark.parametrize("size", [(768, 432), (640, 480)])
def test_detector_matches_the_ultralytics_path(backend, tolerance_px, size):
    frame, truth = _scene_with_faces(*size, px=56)
    # The same fp32 graph (test_detect_int8.py compares the int8 copy with it).
    config = DetectConfig(every_n_frames=1, motion_gate=False, precision="fp32")
    reference = FaceDetector(dataclasses.replace(config, backend="ultralytics"))
    ours = FaceDetector(dataclasses.replace(config, backend=backend))
    try:
        expected, got = _faces(reference, frame), _faces(ours, frame)
    finally:
        reference.close()
        ours.close()
    assert len(expected) == len(got) >= 1
    order_e, order_g = np.argsort(expected[:, 0]), np.argsort(got[:, 0])
    np.testing.assert_allclose(got[order_g], expected[order_e], atol=tolerance_px)
    assert (iou_matrix(got, truth).max(axis=1) > 0.3).all()  # and they are the faces


def _walk_in(
    frame_index: int, bg: np.ndarray, patch: np.ndarray, speed_px: int = 10
) -> tuple[np.ndarray, list]:
    """Frames 0-4 empty; then a face walks in from the left, ``speed_px`` per frame."""
    frame = bg.copy()
    x = -patch.shape[1] + speed_px * (frame_index - 4)
    y = 180
    if frame_index < 5 or x >= bg.shape[1]:
        return frame, []
    x0 = max(0, x)
    frame[y : y + patch.shape[0], x0 : x + patch.shape[1]] = patch[:, x0 - x :]
    return frame, [x0, y, x + patch.shape[1], y + patch.shape[0]]


def test_motion_gate_finds_a_face_walking_into_a_static_scene():
    bg = background(768, 432)
    patch = face_patches(FACE_PX)[0]
    # Only the first frame gets a full pass: everything else must come from the motion crops.
    detector = FaceDetector(DetectConfig(every_n_frames=1, full_every_n=10_000))
    found, visible = 0, 0
    try:
        for i in range(40):
            frame, truth = _walk_in(i, bg, patch)
            faces = _faces(detector, frame, i)
            if truth and truth[2] - truth[0] == patch.shape[1]:  # wholly in view
                visible += 1
                found += bool(len(faces)) and iou_matrix(faces, np.array([truth])).max() > 0.3
            elif not truth:
                assert len(faces) == 0
        assert detector.passes["full"] == 1 and detector.passes["crops"] > 20
    finally:
        detector.close()
    assert visible >= 20 and found >= 0.95 * visible


def test_a_face_standing_still_is_found_by_the_periodic_full_pass():
    """A face that fades in (lights coming on) never moves enough to gate a crop: the full
    pass every full_every_n detections finds it; then the crops around it keep it."""
    bg = background(768, 432)
    # One face: the other packaged face scores near detect.conf at this size.
    frame_with_face, truth = _scene_with_faces(768, 432, 56, n_faces=1)
    full_every_n = 7
    detector = FaceDetector(DetectConfig(every_n_frames=1, full_every_n=full_every_n))
    first_found, kinds = None, []
    try:
        for i in range(40):
            alpha = min(1.0, i / 25)
            frame = cv2.addWeighted(frame_with_face, alpha, bg, 1 - alpha, 0)
            before = dict(detector.passes)
            faces = _faces(detector, frame, i)
            kind = next(k for k in before if detector.passes[k] != before[k])
            kinds.append(kind)
            hits = (iou_matrix(truth, faces).max(axis=1) > 0.3).sum() if len(faces) else 0
            if first_found is None and hits == len(truth):
                first_found = i
            if first_found is not None and alpha == 1.0:
                assert hits == len(truth), f"frame {i}: lost a still face after finding it"
    finally:
        detector.close()
    assert first_found is not None and first_found >= full_every_n
    assert kinds[first_found] == "full"
    assert "crops" in kinds[first_found + 1 :]  # kept by crops around the faces, not by luck


def test_a_full_pass_keeps_a_face_too_small_for_it_that_the_crops_found():
    """At 1080p a 42 px face is 14 px in the full pass's 640 px input, where the detector
    does not see it; the motion crops find it at native resolution. Before, every full pass
    then lost it (and the tracker the frames after); now a full pass looks again around
    such faces of the last detection, so once found it is found on every frame."""
    bg = background(1920, 1080)
    patch = face_patches(42)[0]
    detector = FaceDetector(DetectConfig(every_n_frames=1, full_every_n=4))
    first_found, full_frames = None, 0
    try:
        for i in range(40):
            frame, truth = _walk_in(i, bg, patch, speed_px=6)
            before = detector.passes["full"]
            faces = _faces(detector, frame, i)
            hit = bool(truth) and len(faces) and iou_matrix(faces, np.array([truth])).max() > 0.3
            if first_found is None and hit and truth[2] - truth[0] == patch.shape[1]:
                first_found = i
            elif first_found is not None:
                full = detector.passes["full"] > before
                assert hit, f"frame {i}: lost the face ({'full pass' if full else 'crops'})"
                full_frames += full
    finally:
        detector.close()
    assert first_found is not None and first_found < 20
    assert full_frames >= 3 and detector.rechecked >= full_frames


@pytest.mark.parametrize(
    ("size", "heights", "expected"),
    [
        ((1920, 1080), [12, 16, 40, 47, 48], [16, 40, 47]),  # x 1/3: 47 -> 15.7, 48 -> 16
        ((1280, 720), [15, 20, 31, 32], [20, 31]),  # x 1/2
        ((768, 432), [15, 16, 19, 20], [16, 19]),  # x 0.83: 19 -> 15.8
    ],
)
def test_small_in_full_pass_are_faces_the_shrunk_frame_makes_too_small(size, heights, expected):
    faces = np.array([[100, 100, 100 + h, 100 + h] for h in heights], np.float32)
    small = small_in_full_pass(faces, *size, DetectConfig())
    assert list(small[:, 3] - small[:, 1]) == expected


def test_motion_gate_plans():
    config = DetectConfig(full_every_n=4)
    gate = MotionGate(config)
    still = background(768, 432)
    assert gate.plan(still, np.zeros((0, 4))) is None  # first frame: full
    assert gate.plan(still, np.zeros((0, 4))) == []  # nothing moved, no faces: nothing
    regions = gate.plan(still, np.array([[100, 100, 120, 124]]))  # around the last face
    assert len(regions) == 1 and regions[0].x1 <= 100 and regions[0].x2 >= 120
    assert regions[0].x2 - regions[0].x1 >= 96 and regions[0].y2 - regions[0].y1 >= 96
    moved = still.copy()
    moved[300:340, 600:640] = 255
    regions = gate.plan(moved, np.zeros((0, 4)))
    assert len(regions) == 1 and regions[0].x1 <= 600 and regions[0].y2 >= 340
    assert gate.plan(moved, np.zeros((0, 4))) is None  # 5th detection: the full pass
    flashed = np.clip(moved.astype(int) + 60, 0, 255).astype(np.uint8)
    assert gate.plan(flashed, np.zeros((0, 4))) is None  # everything changed: full pass


@pytest.mark.parametrize(
    ("size", "face", "expected"),
    [
        # 3x a 25 px face fits in 128: native resolution
        ((768, 432), (100, 100, 120, 125), Region(46, 48, 174, 176, 128)),
        # a 60 px face: a 256 px tile (3x = 180), shrunk to 128
        ((768, 432), (300, 150, 350, 210), Region(197, 52, 453, 308, 128)),
        ((768, 432), (740, 400, 760, 424), Region(640, 304, 768, 432, 128)),  # kept inside
        ((320, 100), (50, 40, 70, 64), Region(0, 0, 128, 100, 0)),  # frame < tile: native
    ],
)
def test_face_tiles_are_squares_about_each_face(size, face, expected):
    (tile,) = face_tiles(np.array([face], np.float32), *size)
    assert tile == expected


@pytest.mark.parametrize(("heights", "tiles"), [([30, 60], True), ([12, 30], False)])
def test_a_busy_scene_keeps_full_passes_for_faces_at_the_detectors_limit(heights, tiles):
    """Faces under detect.small_face_px are found by a full pass now and then, and less
    often by tiles around them: a scene with one keeps full passes."""
    gate = MotionGate(DetectConfig(full_every_n=8))
    frame = background(768, 432)
    faces = np.array([[100 + 200 * i, 100, 100 + h, 100 + h] for i, h in enumerate(heights)])
    assert gate.plan(frame, faces) is None  # first frame
    flicker = cv2.add(frame, np.full_like(frame, 40))  # everything changed: busy
    plan = gate.plan(flicker, faces)
    assert (plan is not None) == tiles
    if tiles:
        assert [r.input_px for r in plan] == [128, 128]
        assert [r.x2 - r.x1 for r in plan] == [128, 256]  # 3 x 60 px -> a 256 px tile
    assert gate.plan(frame, faces) is None  # the next busy detection: a full pass


def test_a_busy_scene_alternates_full_passes_and_face_tiles():
    """When the whole picture changes (a busy scene, flicker), crops would cost a full
    pass: every other detection then looks only around the faces found last, each in a
    128 px tile, which finds them where the full pass did (the 64 px face's tile shrunk by
    2, its box mapped back)."""
    frame, truth = _scene_with_faces(768, 432, 64, n_faces=1)
    small = face_patches(30)[0]
    frame[280:310, 500 : 500 + small.shape[1]] = small
    truth = np.vstack([truth, [500, 280, 500 + small.shape[1], 310]])
    kinds, boxes = {True: [], False: []}, {True: [], False: []}
    for tiles in (True, False):
        detector = FaceDetector(DetectConfig(every_n_frames=1, busy_face_tiles=tiles))
        try:
            for i in range(8):
                flicker = cv2.add(frame, np.full_like(frame, 40)) if i % 2 else frame
                before = dict(detector.passes)
                faces = _faces(detector, flicker, i)
                kinds[tiles].append(next(k for k in before if detector.passes[k] != before[k]))
                boxes[tiles].append(faces[np.argsort(faces[:, 0])])
        finally:
            detector.close()
    assert kinds[True] == ["full", "tiles"] * 4
    assert kinds[False] == ["full"] * 8
    for with_tiles, full in zip(boxes[True], boxes[False], strict=True):
        assert len(with_tiles) == len(full) == 2
        assert iou_matrix(with_tiles, truth).max(axis=1).min() > 0.5
        assert iou_matrix(with_tiles, full).diagonal().min() > 0.8


def test_tracker_keeps_ids_through_gated_detection():
    bg = background(768, 432)
    patch = face_patches(FACE_PX)[0]
    detector = FaceDetector(DetectConfig())
    cadence = DetectionCadence(DetectConfig(every_n_frames=2))
    tracker = FaceTracker(TrackConfig())
    ids = []
    try:
        for i in range(40):
            # ByteTrack matches by IoU: at 4 px/frame a 30 px face overlaps itself
            # between detections two frames apart (at 10 px/frame it would not).
            frame, truth = _walk_in(i, bg, patch, speed_px=4)
            packet = FramePacket(i, i, 1, frame, 0.0)
            due = cadence.due()
            if due:
                cadence.observe(detector.process([packet])[0])
            cadence.advance(due)
            tracker.process([packet])
            if truth and truth[2] - truth[0] == patch.shape[1] and i > 14:
                assert packet.faces, f"frame {i}: the walking face is missing"
                ids.append(packet.faces[0].track_id)
    finally:
        detector.close()
    assert len(set(ids)) == 1 and ids[0] >= 0


def test_default_run_never_imports_torch(tmp_path):
    clip = tmp_path / "clip.mp4"
    write_clip(clip, n_frames=6, n_faces=1, face_px=70, audio=False)
    script = (
        "import json, sys\n"
        "from streamproc.run.cli import main\n"
        f"rc = main(['run', {str(clip)!r}, '-o', 'null', '--quiet'])\n"
        "print(json.dumps({'rc': rc, 'torch': 'torch' in sys.modules,"
        " 'ultralytics': 'ultralytics' in sys.modules}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result == {"rc": 0, "torch": False, "ultralytics": False}


@pytest.mark.skipif(importlib.util.find_spec("openvino") is None, reason="openvino not installed")
def test_a_run_on_openvino_sends_no_telemetry(tmp_path):
    """Importing openvino sends a Google Analytics event and writes a client id and usage
    counts to ~/intel unless the user opted out; a run through streamproc does neither."""
    clip, home = tmp_path / "clip.mp4", tmp_path / "home"
    write_clip(clip, n_frames=4, n_faces=1, face_px=70, audio=False)
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "TF_BUILD", "JENKINS_URL")}
    env |= {"HOME": str(home), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    script = (
        "import json, sys\n"
        "from streamproc.run.cli import main\n"
        f"rc = main(['run', {str(clip)!r}, '-o', 'null', '--quiet',"
        " '--set', 'detect.backend=openvino'])\n"
        "print(json.dumps({'rc': rc, 'openvino': 'openvino' in sys.modules,"
        " 'telemetry': sys.modules.get('openvino_telemetry') is not None}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result == {"rc": 0, "openvino": True, "telemetry": False}
    assert sorted(p.name for p in home.rglob("*")) == []


@pytest.mark.parametrize(("cpus", "threads"), [(1, 1), (2, 1), (4, 2), (6, 3), (16, 4)])
def test_detector_threads_follow_the_cpus_this_process_may_use(monkeypatch, cpus, threads):
    """0 = auto: one thread where the other stages need the second core, more on bigger
    machines; a number in the config is used as given."""
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: set(range(cpus)), raising=False)
    assert detector_threads(DetectConfig()) == threads
    assert detector_threads(DetectConfig(threads=3)) == 3
