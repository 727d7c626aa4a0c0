"""Motion gating for static cameras: detect where the picture changed, not everywhere.

A CCTV camera looks at the same scene all day; faces arrive with people, and people move.
So between full-frame passes the detector only looks at (a) what changed since the last
detection, found on a small grey copy of the frame (a few hundred microseconds), and (b)
the neighbourhood of the faces it found last time, so a person who stops walking keeps
being detected. Both are cut from the frame at native resolution, where a 16 px face is
16 px, not the 13 px it becomes when a 768 px frame is shrunk to 640. A full-frame pass
every ``detect.full_every_n`` detections finds whoever neither moved nor was seen yet (a
face turning towards the camera, lights coming on). Crops that would cost more
than ``detect.motion_max_area`` of a full pass (a busy scene, the camera moved, an
exposure jump) get the full pass instead: the gate is never much slower than no gate.
In a scene that stays busy, every other detection (right after a full pass) looks only
around the faces that pass found, in square tiles of one shape (``detect.busy_face_tiles``):
the busy store clip ran half its full passes so, 27 % less detector time, and found more of
the faces the detector finds on every frame (100 vs 99.6 %: the tiles are native resolution
for faces up to 42 px). People who walk in are found at the next full pass, 2 detections on.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from streamproc.core.config import DetectConfig
from streamproc.vision.letterbox import plan_letterbox

# Crops smaller than this lack the context the detector needs (and cost the same).
MIN_REGION_PX = 128
# Crop sides are rounded up to multiples of this: OpenVINO compiles each new input shape
# once (~40 ms measured), so the 24 shapes of a 768x432 frame are paid for in the first
# seconds, and crops of one size share a batch.
BUCKET_PX = 128
# The fixed cost of one detector call, in input pixels of the same backend, measured on 2
# cores (median of 15, a 128x128 crop against a 640x384 frame): OpenVINO 7.8 vs 21.9 ms,
# so ~5 ms a call, a quarter of a full pass; ONNX Runtime 5.7 vs 48.8 ms, ~4 ms.
CALL_COST_PX = {"openvino": 56_000, "ort": 20_000, "ultralytics": 20_000}
# Face tiles (busy scenes) go to the detector at this side, at most this many per call:
# a few fixed shapes, each run by a graph compiled for it.
TILE_PX = 128
TILE_BATCH = 4
# Around moving blobs: a head sits above the moving torso, give it room.
MOTION_MARGIN_PX = 24
# Around a face found last time: it may have moved this many face sizes since.
FACE_MARGIN = 1.0


@dataclass(frozen=True)
class Region:
    """A crop of the frame, integer px, inside the frame. ``input_px`` > 0: a face tile,
    a square given to the detector at that side (shrunk if larger); 0: native resolution."""

    x1: int
    y1: int
    x2: int
    y2: int
    input_px: int = 0

    @property
    def area_px(self) -> int:
        """What the detector sees of it, in input px."""
        if self.input_px:
            return self.input_px * self.input_px
        return (self.x2 - self.x1) * (self.y2 - self.y1)

    @property
    def input_shape(self) -> tuple[int, int]:
        if self.input_px:
            return self.input_px, self.input_px
        return self.x2 - self.x1, self.y2 - self.y1


def _span(lo: float, hi: float, limit: int) -> tuple[float, float]:
    """[lo, hi] widened to MIN_REGION_PX (about its centre), then shifted inside [0, limit]."""
    short = MIN_REGION_PX - (hi - lo)
    if short > 0:
        lo, hi = lo - short / 2, hi + short / 2
    if lo < 0:
        lo, hi = 0.0, hi - lo
    if hi > limit:
        lo, hi = max(0.0, lo - (hi - limit)), float(limit)
    return lo, hi


def _grow(box: np.ndarray, margin_px: float, width: int, height: int) -> np.ndarray:
    """Grow by ``margin_px`` per side, then to at least MIN_REGION_PX, inside the frame."""
    x1, x2 = _span(box[0] - margin_px, box[2] + margin_px, width)
    y1, y2 = _span(box[1] - margin_px, box[3] + margin_px, height)
    return np.array([x1, y1, x2, y2], np.float64)


def _bucket(lo: float, hi: float, limit: int) -> tuple[int, int]:
    """Integer [lo, hi) grown (about its centre) to a multiple of BUCKET_PX, inside
    [0, limit]; the whole axis when the bucket does not fit."""
    lo_px, hi_px = int(np.floor(lo)), int(np.ceil(hi))
    side = -(-(hi_px - lo_px) // BUCKET_PX) * BUCKET_PX
    if side >= limit:
        return 0, limit
    lo_px -= (side - (hi_px - lo_px)) // 2
    lo_px = min(max(0, lo_px), limit - side)
    return lo_px, lo_px + side


def _overlap(a: np.ndarray, b: np.ndarray) -> bool:
    return bool(a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3])


def merge_boxes(boxes: list[np.ndarray]) -> list[np.ndarray]:
    """Union overlapping boxes until none overlap (one crop per cluster, no double work)."""
    merged = [b.copy() for b in boxes]
    changed = True
    while changed:
        changed = False
        out: list[np.ndarray] = []
        for box in merged:
            for i, other in enumerate(out):
                if _overlap(box, other):
                    out[i] = np.r_[np.minimum(box[:2], other[:2]), np.maximum(box[2:], other[2:])]
                    changed = True
                    break
            else:
                out.append(box)
        merged = out
    return merged


class MotionGate:
    """One camera's motion state: the small grey copy of the frame detected last."""

    def __init__(self, config: DetectConfig, call_cost_px: int = CALL_COST_PX["ort"]) -> None:
        """``call_cost_px``: the detector backend's fixed cost per call (CALL_COST_PX)."""
        self.config = config
        self.call_cost_px = call_cost_px
        self._previous: np.ndarray | None = None
        self._since_full = 0

    def _small(self, image: np.ndarray) -> np.ndarray:
        height, width = image.shape[:2]
        small_w = min(width, self.config.motion_width_px)
        small_h = max(1, round(height * small_w / width))
        grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        small = cv2.resize(grey, (small_w, small_h), interpolation=cv2.INTER_AREA)
        return cv2.GaussianBlur(small, (3, 3), 0)

    def motion_boxes(self, small: np.ndarray, width: int, height: int) -> list[np.ndarray]:
        """Bounding boxes (frame px) of what changed since the previous small frame."""
        assert self._previous is not None
        diff = cv2.absdiff(small, self._previous)
        mask = (diff > self.config.motion_threshold).astype(np.uint8)
        mask = cv2.dilate(mask, np.ones((3, 3), np.uint8))
        count, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
        sx, sy = width / small.shape[1], height / small.shape[0]
        boxes = []
        for x, y, w, h, area in stats[1:count]:
            if area < 2:  # one changed pixel at this scale is noise, not a person
                continue
            boxes.append(np.array([x * sx, y * sy, (x + w) * sx, (y + h) * sy], np.float64))
        return boxes

    def _tiles_instead(self, last_faces_xyxy: np.ndarray) -> bool:
        """Face tiles instead of a full pass (a busy scene): right after a full pass that
        found faces, none under ``detect.small_face_px``. Those are at the detector's limit:
        a full pass finds them now and then, tiles around them less often, so a scene with
        one keeps full passes (sample-720p: of 32 exhaustive sightings of 13-15 px faces,
        26 found with full passes only, 10 with tiles regardless, 16 with this rule; every
        face of 16 px or more found in all three)."""
        if not (self.config.busy_face_tiles and self._since_full == 1 and len(last_faces_xyxy)):
            return False
        heights = last_faces_xyxy[:, 3] - last_faces_xyxy[:, 1]
        return bool(heights.min() >= self.config.small_face_px)

    def plan(self, image: np.ndarray, last_faces_xyxy: np.ndarray) -> list[Region] | None:
        """None: detect the full frame. Else the crops to detect on (maybe none: nothing
        moved and no face was there last time)."""
        height, width = image.shape[:2]
        small = self._small(image)
        previous_shape = None if self._previous is None else self._previous.shape
        first = previous_shape != small.shape
        due = self._since_full >= self.config.full_every_n - 1
        boxes = [] if first else self.motion_boxes(small, width, height)
        self._previous = small
        if first or due:
            self._since_full = 0
            return None
        self._since_full += 1
        grown = [_grow(b, MOTION_MARGIN_PX, width, height) for b in boxes]
        regions = crop_regions(grown + grown_faces(last_faces_xyxy, width, height), width, height)
        full_px = full_cost_px(width, height, self.config.imgsz, self.call_cost_px)
        small = small_in_full_pass(last_faces_xyxy, width, height, self.config)
        if len(small):  # a full pass looks again for these at native resolution (detect.py)
            again = crop_regions(grown_faces(small, width, height), width, height)
            full_px += crops_cost_px(again, self.call_cost_px)
        limit = self.config.motion_max_area * full_px
        if crops_cost_px(regions, self.call_cost_px) <= limit:
            return regions
        if self._tiles_instead(last_faces_xyxy):
            # A busy scene, and the last detection was a full pass: look around its faces.
            tiles = face_tiles(last_faces_xyxy, width, height)
            if crops_cost_px(tiles, self.call_cost_px) <= limit:
                return tiles
        self._since_full = 0
        return None


def small_in_full_pass(
    faces_xyxy: np.ndarray, width: int, height: int, config: DetectConfig
) -> np.ndarray:
    """The faces at least ``detect.small_face_px`` tall in the frame but under it once the
    frame is shrunk to the full pass's input: where it may not see them, the crops that
    found them at native resolution still do. (Smaller ones are at the detector's limit
    at either scale: looking again costs a call for a face it finds now and then.)"""
    scale = plan_letterbox(width, height, config.imgsz).scale_y
    heights = faces_xyxy[:, 3] - faces_xyxy[:, 1]
    small = (heights >= config.small_face_px) & (heights * scale < config.small_face_px)
    return faces_xyxy[small]


def grown_faces(faces_xyxy: np.ndarray, width: int, height: int) -> list[np.ndarray]:
    """Each face grown by FACE_MARGIN of its size per side (where it may have moved to)."""
    grown = []
    for face in faces_xyxy:
        margin = FACE_MARGIN * max(face[2] - face[0], face[3] - face[1])
        grown.append(_grow(face.astype(np.float64), margin, width, height))
    return grown


def face_tiles(faces_xyxy: np.ndarray, width: int, height: int) -> list[Region]:
    """One square tile per face, FACE_MARGIN of the face's size around it, the side
    rounded up to BUCKET_PX and given to the detector at TILE_PX. Unlike
    :func:`crop_regions` nothing is merged and every tile has one input shape, so a
    frame's tiles go through the detector in one batch (of at most TILE_BATCH), by a
    graph compiled for that shape. Faces up to 42 px stay at native resolution; a 60 px
    face's 256 px tile is shrunk by 2, to a 30 px face, well within what it finds."""
    tiles: dict[Region, None] = {}
    for face in faces_xyxy.astype(np.float64):
        size = (1 + 2 * FACE_MARGIN) * max(face[2] - face[0], face[3] - face[1])
        side = -(-max(int(np.ceil(size)), MIN_REGION_PX) // BUCKET_PX) * BUCKET_PX
        x1, x2 = _centred(float(face[0] + face[2]) / 2, side, width)
        y1, y2 = _centred(float(face[1] + face[3]) / 2, side, height)
        square = x2 - x1 == y2 - y1  # else the frame is smaller than the tile
        tiles[Region(x1, y1, x2, y2, TILE_PX if square else 0)] = None
    return list(tiles)


def _centred(centre: float, side: int, limit: int) -> tuple[int, int]:
    """[lo, lo + side) about ``centre``, inside [0, limit]; the whole axis if it is shorter."""
    if side >= limit:
        return 0, limit
    lo = min(max(0, round(centre - side / 2)), limit - side)
    return lo, lo + side


def crop_regions(boxes: list[np.ndarray], width: int, height: int) -> list[Region]:
    """The crops that cover ``boxes``: overlapping ones merged, sides bucketed."""
    regions = []
    for box in merge_boxes(boxes):
        x1, x2 = _bucket(box[0], box[2], width)
        y1, y2 = _bucket(box[1], box[3], height)
        regions.append(Region(x1, y1, x2, y2))
    return regions


def full_cost_px(width: int, height: int, imgsz: int, call_cost_px: int) -> int:
    box = plan_letterbox(width, height, imgsz)
    return box.input_width_px * box.input_height_px + call_cost_px


def crops_cost_px(regions: list[Region], call_cost_px: int) -> int:
    """What the crops cost the detector, in input pixels: their area (native resolution:
    larger than a downscaled full pass) plus a fixed cost per batch of one shape."""
    shapes = {r.input_shape for r in regions if not r.input_px}
    tiles = sum(1 for r in regions if r.input_px)
    calls = len(shapes) + -(-tiles // TILE_BATCH)
    return sum(r.area_px for r in regions) + call_cost_px * calls
