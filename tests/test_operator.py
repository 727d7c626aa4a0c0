"""The operator's view (issue #16): a marker that never hides a face and never blinks."""

from __future__ import annotations

import numpy as np
import pytest

from streamproc.core.config import CompositeConfig, EnhanceConfig, TrackConfig
from streamproc.core.packet import Face, FramePacket
from streamproc.vision.composite import (
    ENHANCER_BGR,
    Compositor,
    bracket_bounds,
    bracket_rects,
)
from streamproc.vision.enhance.crops import extract, square_box
from streamproc.vision.enhance.stage import EnhanceStage
from streamproc.vision.track import FaceTracker


def _scene(seed: int = 0, size=(240, 320)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(40, 200, (*size, 3), dtype=np.uint8)


def _enhanced_face(image: np.ndarray, box, enhancer: str = "generator", track_id=-1) -> Face:
    face = Face(box_xyxy=np.array(box, np.float32), score=0.9, track_id=track_id)
    face.crop_box = square_box(face.box_xyxy, 0.3)
    face.crop = extract(image, face.crop_box)
    face.enhanced = 255 - face.crop  # a change visible in every pixel
    face.enhancer = enhancer
    return face


def _composite(image: np.ndarray, faces: list[Face], **config) -> np.ndarray:
    packet = FramePacket(index=0, pts=0, time_base=1, image=image, capture_s=0.0, faces=faces)
    return Compositor(CompositeConfig(**config)).process([packet])[0].image


def _bracket_pixels(image: np.ndarray, face: Face, bgr) -> int:
    """Pixels of colour ``bgr`` on the face's bracket bars."""
    hits = 0
    for x1, y1, x2, y2 in bracket_rects(face.box_xyxy):
        bars = image[max(0, y1) : y2, max(0, x1) : x2]
        hits += int((bars == bgr).all(axis=2).sum())
    return hits


@pytest.mark.parametrize("face_px", [14, 16, 40])
@pytest.mark.parametrize("enhancer", ["generator", "classical", "classical+generator"])
def test_marker_never_covers_the_face(face_px, enhancer):
    image = _scene()
    box = (150.3, 100.6, 150.3 + face_px, 100.6 + face_px)
    marked = _composite(image.copy(), [_enhanced_face(image, box, enhancer)])
    unmarked = _composite(image.copy(), [_enhanced_face(image, box, enhancer)], marker=False)
    x1, y1, x2, y2 = int(box[0]), int(box[1]), int(np.ceil(box[2])), int(np.ceil(box[3]))
    # Every pixel of the face box is the pasted face, exactly as without a marker.
    np.testing.assert_array_equal(marked[y1:y2, x1:x2], unmarked[y1:y2, x1:x2])
    # The brackets are there, all of them, in the enhancer's colour.
    face = Face(box_xyxy=np.array(box, np.float32), score=0.9)
    bars = sum((r[2] - r[0]) * (r[3] - r[1]) for r in bracket_rects(face.box_xyxy))
    assert _bracket_pixels(marked, face, ENHANCER_BGR[enhancer]) >= bars * 0.9
    # ...and they hug the face: within a third of its size on each side.
    bx1, by1, bx2, by2 = bracket_bounds(face.box_xyxy)
    assert x1 - bx1 <= max(4, face_px / 3) and bx2 - x2 <= max(4, face_px / 3)


def _badge_region(image: np.ndarray, plain: np.ndarray) -> tuple[int, int, int, int]:
    """Bounding box of what the badge changed (pixels changed far from any face)."""
    changed = (image != plain).any(axis=2)
    ys, xs = np.nonzero(changed)
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


@pytest.mark.parametrize("size", [(240, 320), (1080, 1920)])
def test_badge_counts_faces_scales_with_the_frame_and_avoids_faces(size):
    h, w = size
    image = _scene(1, size)
    # A face in the top-right corner: the badge must go to another corner.
    s = h // 10
    boxes = [(w - s - 4, 4, w - 4, 4 + s), (w // 2, h // 2, w // 2 + s, h // 2 + s)]
    faces = [_enhanced_face(image, b) for b in boxes]
    out = _composite(image.copy(), faces)
    plain = _composite(image.copy(), [_enhanced_face(image, b) for b in boxes], marker=False)
    for face in faces:  # mask out the brackets; what is left is the badge
        x1, y1, x2, y2 = bracket_bounds(face.box_xyxy)
        plain[max(0, y1) : y2, max(0, x1) : x2] = out[max(0, y1) : y2, max(0, x1) : x2]
    bx1, by1, bx2, by2 = _badge_region(out, plain)
    assert bx1 < w / 2 and by1 < h / 2, "top-left: the top-right corner holds a face"
    assert (by2 - by1) >= max(10, 0.03 * h), "legible: ~3.5% of the frame tall"
    for face in faces:
        fx1, fy1, fx2, fy2 = bracket_bounds(face.box_xyxy)
        assert fx2 <= bx1 or bx2 <= fx1 or fy2 <= by1 or by2 <= fy1, "badge over a face"


def test_no_badge_and_no_brackets_without_an_enhanced_face():
    image = _scene()
    face = Face(box_xyxy=np.array((100, 100, 116, 116), np.float32), score=0.9)
    out = _composite(image.copy(), [face])
    np.testing.assert_array_equal(out, image)


def test_investigate_mode_draws_the_track_id_clear_of_the_marker():
    image = _scene()
    face = _enhanced_face(image, (150, 100, 166, 116), track_id=7)
    with_ids = _composite(image.copy(), [face], draw_boxes=True)
    face = _enhanced_face(image, (150, 100, 166, 116), track_id=7)
    without = _composite(image.copy(), [face])
    # Every bracket pixel is still the enhancer's colour with ids drawn.
    bgr = ENHANCER_BGR["generator"]
    assert _bracket_pixels(with_ids, face, bgr) == _bracket_pixels(without, face, bgr) > 0
    # The id went somewhere (above the brackets).
    bx1, by1, bx2, _ = bracket_bounds(face.box_xyxy)
    assert (with_ids[:by1, bx1 : bx2 + 20] != without[:by1, bx1 : bx2 + 20]).any()


class _FixedDetector:
    """Stands in for YOLO: on detection frames, the given boxes with the given score."""

    def __init__(self, boxes, score: float) -> None:
        self.boxes, self.score = boxes, score

    def __call__(self, packet: FramePacket, index: int) -> None:
        packet.detected = True
        packet.faces = [
            Face(box_xyxy=np.array(b, np.float32) + [index, 0, index, 0], score=self.score)
            for b in self.boxes
        ]


@pytest.mark.parametrize(
    "score", [0.9, 0.3], ids=["tracked", "never-confirmed (below new_track_thresh)"]
)
def test_tiny_face_is_enhanced_and_marked_on_every_frame(score):
    """detect every 2nd frame (the default): a 16 px face must not blink at half the rate."""
    boxes = [(60, 80, 76, 96), (200, 120, 216, 136)]
    detector = _FixedDetector(boxes, score)
    tracker = FaceTracker(TrackConfig())
    enhancer = EnhanceStage(EnhanceConfig(mode="classical"))
    compositor = Compositor(CompositeConfig())
    for index in range(12):
        image = _scene(index)
        packet = FramePacket(index=index, pts=index, time_base=1, image=image, capture_s=0.0)
        if index % 2 == 0:
            detector(packet, index)
        (packet,) = tracker.process([packet])
        (packet,) = enhancer.process([packet])
        (packet,) = compositor.process([packet])
        assert len(packet.faces) == 2, f"frame {index}: faces carried"
        for face in packet.faces:
            assert face.enhanced is not None, f"frame {index}: face enhanced"
            hits = _bracket_pixels(packet.image, face, ENHANCER_BGR["classical"])
            assert hits > 20, f"frame {index}: face marked"


def test_tracked_face_stays_marked_when_the_enhancer_skips_a_frame():
    """auto mode leaves a face below auto_min_face_px alone; a track that shrinks across
    the band edge for a frame keeps its marker rather than blinking."""
    compositor = Compositor(CompositeConfig())
    image = _scene()
    face = _enhanced_face(image, (100, 100, 116, 116), "generator", track_id=3)
    packet = FramePacket(index=0, pts=0, time_base=1, image=image, capture_s=0.0, faces=[face])
    compositor.process([packet])
    skipped = Face(box_xyxy=np.array((101, 100, 117, 116), np.float32), score=0.9, track_id=3)
    image = _scene(1)
    packet = FramePacket(index=1, pts=1, time_base=1, image=image, capture_s=0.0, faces=[skipped])
    compositor.process([packet])
    assert _bracket_pixels(packet.image, skipped, ENHANCER_BGR["generator"]) > 20
    other = Face(box_xyxy=np.array((101, 100, 117, 116), np.float32), score=0.9, track_id=4)
    image = _scene(2)
    packet = FramePacket(index=2, pts=2, time_base=1, image=image, capture_s=0.0, faces=[other])
    compositor.process([packet])
    np.testing.assert_array_equal(packet.image, _scene(2))  # never enhanced: never marked
