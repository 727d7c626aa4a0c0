"""Paste enhanced faces back: feathered, colour-matched, marked as AI-enhanced.

Only the face changes: the enhanced crop is blended in through a feathered ellipse around
the face box, so the square's corners (background the enhancer also touched) keep the
original, and every pixel outside the square is left exactly as decoded, except for the
marker: thin corner brackets outside each enhanced face and one badge per frame, drawn
after every paste so that no face pixel is under them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import cv2
import numpy as np

from streamproc.core.config import CompositeConfig
from streamproc.core.packet import Face, FramePacket
from streamproc.vision.enhance.crops import ellipse_radius, visible_region

# Most the shadows may be stretched to bring a lifted black point back down.
MAX_SHADOW_GAIN = 2.0
# Black points closer than this (luma levels) count as equal.
BLACK_TOLERANCE = 1.0
# Faces are lifted at most to this mean lightness (8-bit Lab L, ~ luma 105), and a face
# already brighter is not lifted at all: the low-light lift is for dark faces. (A generator
# trained on studio portraits brightens every face into a pale mask on real footage.)
LIFT_TARGET_L = 115.0


def feather_mask(side_px: int, feather: float) -> np.ndarray:
    """An (S, S, 1) float mask: 1 inside, a smooth ramp to 0 over ``feather`` of the side."""
    ramp = max(1.0, feather * side_px)
    idx = np.arange(side_px, dtype=np.float32) + 0.5
    edge = np.minimum(idx, side_px - idx)
    profile = np.clip(edge / ramp, 0.0, 1.0)
    profile = profile * profile * (3 - 2 * profile)  # smoothstep: no visible seam
    return np.minimum.outer(profile, profile)[:, :, None]


def face_mask(
    side_px: int, box_xyxy: Sequence[float], feather: float, radius: np.ndarray | None = None
) -> np.ndarray:
    """An (S, S, 1) mask: 1 over the ellipse inscribed in the face box (crop px), a smooth
    ramp outside it, and never more than :func:`feather_mask` so the crop's edges are 0.
    ``radius``: :func:`ellipse_radius` of the box, when the caller already has it.

    Pasting the whole square pastes background the enhancer also changed (a generator
    re-renders it, a low-light lift brightens it): a visible light square around the face.
    """
    if radius is None:
        radius = ellipse_radius(side_px, side_px, box_xyxy)
    x1, y1, x2, y2 = box_xyxy
    # The ramp, in units of the semi-axis: ``2 * feather`` of it, and at least 1.5 px.
    ramp = max(2 * feather, 1.5 / max(0.5, min(x2 - x1, y2 - y1) / 2), 1e-3)
    profile = np.clip((1 + ramp - radius) / ramp, 0.0, 1.0)
    profile = profile * profile * (3 - 2 * profile)
    return np.minimum(profile[:, :, None], feather_mask(side_px, feather))


def match_colour(enhanced: np.ndarray, original: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Match the low-frequency colour of the face (where ``mask`` weighs) to the original.

    Two things, measured on the face only (``mask``), never on the background around it:
    the mean chroma (Lab a, b: generators drift in tint; the paste must agree with its
    surroundings), the mean lightness (a dark face may be lifted up to ``LIFT_TARGET_L``,
    a face already brighter keeps its own) and the black point (generators and gamma lifts
    raise it: the haze of a washed-out face). Within those limits the enhancer's tones stay.

    Every correction is a function of the pixel's own 8-bit Lab value, so it is applied as
    one lookup table per channel: the statistics are float, the pixels are never converted.
    """
    weights = mask[:, :, 0]
    total = float(weights.sum()) or 1.0
    lab_e = cv2.cvtColor(enhanced, cv2.COLOR_BGR2LAB)
    lab_o = cv2.cvtColor(original, cv2.COLOR_BGR2LAB)
    flat = weights.reshape(-1).astype(np.float64)
    shift = (flat @ lab_o.reshape(-1, 3) - flat @ lab_e.reshape(-1, 3)) / total
    levels = np.arange(256, dtype=np.float32)
    tables = np.empty((256, 3), np.float32)
    tables[:, 1] = levels + np.float32(shift[1])
    tables[:, 2] = levels + np.float32(shift[2])
    tables[:, 0] = levels
    region = weights >= 0.5
    if region.sum() >= 4:
        luma_e, luma_o = lab_e[:, :, 0], lab_o[:, :, 0]
        mean_e, mean_o = float(luma_e[region].mean()), float(luma_o[region].mean())
        allowed = max(mean_o, LIFT_TARGET_L)
        drop = np.float32(max(0.0, mean_e - allowed))  # lightness above what is allowed
        tables[:, 0] -= drop
        luma = luma_e.astype(np.float32) - drop
        tables[:, 0] = black_point_curve(luma, luma_o.astype(np.float32), region)(tables[:, 0])
    lut = np.clip(tables + 0.5, 0, 255).astype(np.uint8).reshape(256, 1, 3)
    return cv2.cvtColor(cv2.LUT(lab_e, lut), cv2.COLOR_LAB2BGR)


def percentile(values: np.ndarray, q: float) -> float:
    """``np.percentile(values, q)`` (linear interpolation) by a partial sort: the same
    value, 5-10x faster on a face's few thousand pixels (it ran for every paste)."""
    position = q / 100 * (values.size - 1)
    lower = int(position)
    upper = min(lower + 1, values.size - 1)
    part = np.partition(values, (lower, upper))
    low, high = float(part[lower]), float(part[upper])
    return low + (high - low) * (position - lower)


def black_point_curve(
    luma: np.ndarray, original_luma: np.ndarray, region: np.ndarray
) -> Callable[[np.ndarray], np.ndarray]:
    """The tone curve that pulls a lifted black point (5th percentile of the low-passed
    ``luma`` in ``region``) back to the original's by stretching only the tones below the
    face's mean luma; measured on ``luma`` (float), applied to any luma values (here an
    8-bit lookup table).

    Low-passed, so noise (which a denoiser removes) does not count as black; the mean and
    everything brighter are kept as the enhancer made them.
    """
    sigma_px = max(1.0, luma.shape[0] / 48)
    low = cv2.GaussianBlur(luma, (0, 0), sigma_px)[region]
    low_original = cv2.GaussianBlur(original_luma, (0, 0), sigma_px)[region]
    black, black_original = percentile(low, 5), percentile(low_original, 5)
    mid = float(low.mean())
    if black <= black_original + BLACK_TOLERANCE or mid <= black + BLACK_TOLERANCE:
        return lambda values: values
    gain = min(MAX_SHADOW_GAIN, (mid - black_original) / (mid - black))
    return lambda values: np.where(values < mid, mid - (mid - values) * gain, values)


# Marker colour (BGR) by what enhanced the face; the frame badge uses the first face's.
ENHANCER_BGR = {
    "generator": (255, 0, 255),  # magenta
    "classical": (255, 255, 0),  # cyan
    "classical+generator": (0, 165, 255),  # orange
}
MARKER_BGR = (0, 255, 255)  # yellow: an enhancer this table does not name
# A tracked face's marker is kept this many of its camera's frames after it was last
# enhanced or marked (far longer than the tracker remembers a lost face: 30 frames).
HOLD_FORGET_FRAMES = 300
# The frame badge's text is this fraction of the frame height (at least BADGE_MIN_PX).
BADGE_HEIGHT = 0.035
BADGE_MIN_PX = 10


def marker_colour(enhancer: str) -> tuple[int, int, int]:
    return ENHANCER_BGR.get(enhancer, MARKER_BGR)


def bracket_rects(box_xyxy: Sequence[float]) -> list[tuple[int, int, int, int]]:
    """The eight bars (x1, y1, x2, y2, end-exclusive px) of four corner brackets drawn
    around a face box, a gap away from it: every bar lies outside the box's pixels.

    Thin and outside, so a 14 px face keeps every pixel: a label over a tiny face hid it.
    """
    bx1, by1 = int(np.floor(box_xyxy[0])), int(np.floor(box_xyxy[1]))
    bx2, by2 = int(np.ceil(box_xyxy[2])), int(np.ceil(box_xyxy[3]))
    side = max(bx2 - bx1, by2 - by1)
    gap = max(2, round(0.1 * side))
    thick = max(1, round(side / 32))
    x1, y1, x2, y2 = bx1 - gap - thick, by1 - gap - thick, bx2 + gap + thick, by2 + gap + thick
    arm = max(4, round(0.3 * (x2 - x1)))
    return [
        (x1, y1, x1 + arm, y1 + thick),  # top-left
        (x1, y1, x1 + thick, y1 + arm),
        (x2 - arm, y1, x2, y1 + thick),  # top-right
        (x2 - thick, y1, x2, y1 + arm),
        (x1, y2 - thick, x1 + arm, y2),  # bottom-left
        (x1, y2 - arm, x1 + thick, y2),
        (x2 - arm, y2 - thick, x2, y2),  # bottom-right
        (x2 - thick, y2 - arm, x2, y2),
    ]


def bracket_bounds(box_xyxy: Sequence[float]) -> tuple[int, int, int, int]:
    """The outer edge of a face's brackets (x1, y1, x2, y2, end-exclusive)."""
    rects = bracket_rects(box_xyxy)
    return rects[0][0], rects[0][1], rects[-1][2], rects[-1][3]


def fill(image: np.ndarray, rect: tuple[int, int, int, int], bgr: tuple[int, int, int]) -> None:
    """Fill ``rect`` (end-exclusive, may stick out of the image) with ``bgr``."""
    h, w = image.shape[:2]
    x1, y1, x2, y2 = max(0, rect[0]), max(0, rect[1]), min(w, rect[2]), min(h, rect[3])
    if x2 > x1 and y2 > y1:
        image[y1:y2, x1:x2] = bgr


def badge_layout(text: str, frame_w: int, frame_h: int) -> tuple[float, int, tuple[int, int], int]:
    """(font scale, thickness, text size, baseline) of the frame badge: its text is
    ``BADGE_HEIGHT`` of the frame tall (legible in a monitor tile), at most 60% wide."""
    target_px = max(BADGE_MIN_PX, round(BADGE_HEIGHT * frame_h))
    scale = target_px / 22  # HERSHEY_SIMPLEX capitals are ~22 px tall at scale 1
    thick = max(1, round(target_px / 14))
    size, base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
    if size[0] > 0.6 * frame_w:
        scale *= 0.6 * frame_w / size[0]
        size, base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
    return scale, thick, size, base


def badge_rect(
    size: tuple[int, int], base: int, frame_w: int, frame_h: int, avoid: list[tuple]
) -> tuple[int, int, int, int]:
    """The corner (top-right, top-left, bottom-right, bottom-left, in that order) whose
    badge covers the fewest pixels of ``avoid`` (the faces and their brackets)."""
    pad = max(2, size[1] // 4)
    w, h = size[0] + 2 * pad, size[1] + base + 2 * pad
    margin = max(2, frame_h // 100)
    corners = [
        (frame_w - margin - w, margin),
        (margin, margin),
        (frame_w - margin - w, frame_h - margin - h),
        (margin, frame_h - margin - h),
    ]

    def covered(x: int, y: int) -> int:
        total = 0
        for ax1, ay1, ax2, ay2 in avoid:
            ox = min(x + w, ax2) - max(x, ax1)
            oy = min(y + h, ay2) - max(y, ay1)
            total += max(0, ox) * max(0, oy)
        return total

    x, y = min(corners, key=lambda c: covered(*c))  # min keeps the first of equals
    return max(0, x), max(0, y), min(frame_w, x + w), min(frame_h, y + h)


class Compositor:
    """Pastes enhanced faces back and marks them: thin corner brackets around each
    enhanced face (outside its box, in the enhancer's colour) and one badge per frame
    ("AI-enhanced: 3 faces") in the corner that covers no face.

    A tracked face keeps its marker on every frame its track carries it, also a frame the
    enhancer skipped (e.g. a size at the edge of an ``auto`` band): a marker that blinks
    reads as noise, and the manifest still says, per frame, which faces were enhanced.

    ``whole_image``: each frame is one face crop (``--faces``): the enhanced crop replaces
    the whole image (there is no scene to blend into) and the marker goes in a corner."""

    name = "composite"

    def __init__(self, config: CompositeConfig, whole_image: bool = False) -> None:
        self.config = config
        self.whole_image = whole_image
        # (camera, track id) -> (the camera's frame index it was last marked, enhancer)
        self._held: dict[tuple[str, int], tuple[int, str]] = {}

    def _masks(self, face: Face) -> tuple[np.ndarray, np.ndarray]:
        """(paste mask, face region): where the enhanced crop goes, where colour is matched."""
        side = face.enhanced.shape[0]
        x1, y1 = face.crop_box[:2]
        bx1, by1, bx2, by2 = (float(v) for v in face.box_xyxy)
        box = (bx1 - x1, by1 - y1, bx2 - x1, by2 - y1)
        radius = ellipse_radius(side, side, box)
        face = (radius <= 1.0).astype(np.float32)[:, :, None]
        if self.whole_image:
            return np.ones((side, side, 1), np.float32), face
        return face_mask(side, box, self.config.feather, radius), face

    def process(self, packets: list[FramePacket]) -> list[FramePacket]:
        for packet in packets:
            original = packet.image.copy() if self.config.side_by_side else None
            for face in packet.faces:
                if face.enhanced is not None:
                    self.paste(packet.image, face)
            marked = self.marked_faces(packet)
            if self.config.marker and not self.whole_image:
                self._draw_marker(packet.image, marked)
            if self.config.draw_boxes:
                self._draw_boxes(packet, marked)
            if original is not None:
                packet.image = np.ascontiguousarray(np.hstack([original, packet.image]))
        return packets

    def marked_faces(self, packet: FramePacket) -> list[tuple[Face, str]]:
        """(face, enhancer) of each face to mark: enhanced on this frame, or a tracked face
        enhanced on an earlier frame of its track."""
        marked = []
        for face in packet.faces:
            key = (packet.source_id, face.track_id)
            if face.enhanced is not None:
                enhancer = face.enhancer
            elif face.track_id >= 0 and key in self._held:
                enhancer = self._held[key][1]
            else:
                continue
            if face.track_id >= 0:
                self._held[key] = (packet.index, enhancer)
            marked.append((face, enhancer))
        stale = [
            key
            for key, (index, _) in self._held.items()
            if key[0] == packet.source_id and packet.index - index > HOLD_FORGET_FRAMES
        ]
        for key in stale:
            del self._held[key]
        return marked

    def paste(self, image: np.ndarray, face: Face) -> None:
        mask, region = self._masks(face)
        enhanced = face.enhanced
        if self.config.color_match:
            enhanced = match_colour(enhanced, face.crop, region)
        rows, cols, crop_rows, crop_cols = visible_region(
            face.crop_box, image.shape[1], image.shape[0]
        )
        if self.config.marker and self.whole_image:
            enhanced = self._mark_corner(enhanced, crop_rows, crop_cols)
        weight = np.ascontiguousarray(mask[crop_rows, crop_cols, 0])
        if weight.size == 0:  # none of the crop is in the frame (blendLinear refuses empty)
            return
        image[rows, cols] = cv2.blendLinear(
            np.ascontiguousarray(enhanced[crop_rows, crop_cols]),
            np.ascontiguousarray(image[rows, cols]),
            weight,
            1.0 - weight,
        )

    def _draw_marker(self, image: np.ndarray, marked: list[tuple[Face, str]]) -> None:
        """Brackets around each marked face, then the frame badge (drawn after every
        paste, so no paste blends over a bracket and no bracket lies on a face)."""
        if not marked:
            return
        for face, enhancer in marked:
            for rect in bracket_rects(face.box_xyxy):
                fill(image, rect, marker_colour(enhancer))
        self._draw_badge(image, marked)

    def _draw_badge(self, image: np.ndarray, marked: list[tuple[Face, str]]) -> None:
        n = len(marked)
        text = f"{self.config.marker_text}: {n} face{'s' if n != 1 else ''}"
        h, w = image.shape[:2]
        scale, thick, size, base = badge_layout(text, w, h)
        avoid = [bracket_bounds(face.box_xyxy) for face, _ in marked]
        x1, y1, x2, y2 = badge_rect(size, base, w, h, avoid)
        fill(image, (x1, y1, x2, y2), (0, 0, 0))
        pad = max(2, size[1] // 4)
        cv2.putText(
            image,
            text,
            (x1 + pad, y1 + pad + size[1]),
            cv2.FONT_HERSHEY_SIMPLEX,
            scale,
            marker_colour(marked[0][1]),
            thick,
            cv2.LINE_AA,
        )

    def _mark_corner(self, crop: np.ndarray, rows: slice, cols: slice) -> np.ndarray:
        """The label in the bottom-right corner of the visible image: in a face crop the
        top-left corner is forehead and eyes, the bottom-right is background or collar. It
        takes at most 60% of the width; on a crop too narrow for the text it reads "AI"."""
        out = crop.copy()
        view = out[rows, cols]
        height, width = view.shape[:2]
        text, scale, size, base = self._corner_label(width, height)
        box_h, box_w = min(height, size[1] + base + 1), min(width, size[0] + 3)
        cv2.rectangle(view, (width - box_w, height - box_h), (width - 1, height - 1), (0, 0, 0), -1)
        cv2.putText(
            view,
            text,
            (width - box_w + 1, height - base),
            cv2.FONT_HERSHEY_SIMPLEX,
            scale,
            (0, 255, 255),
            1,
            cv2.LINE_AA,
        )
        return out

    def _corner_label(self, width: int, height: int) -> tuple[str, float, tuple[int, int], int]:
        largest = float(np.clip(height / 160, 0.25, 0.5))
        tried = []
        for text, share in ((self.config.marker_text, 0.6), ("AI", 1.0)):
            for scale in (largest, 0.25):
                size, base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
                tried.append((text, scale, size, base))
                if size[0] + 3 <= share * width:
                    return tried[-1]
        return tried[-1]

    def close(self) -> None:
        """Nothing held between frames."""

    def _draw_boxes(self, packet: FramePacket, marked: list[tuple[Face, str]]) -> None:
        """Investigate mode: each face box and its track id, the id above the face's
        brackets when it is marked (never over them), else just above the box."""
        marked_ids = {id(face) for face, _ in marked}
        for face in packet.faces:
            x1, y1, x2, y2 = (int(round(v)) for v in face.box_xyxy)
            cv2.rectangle(packet.image, (x1, y1), (x2, y2), (0, 255, 0), 1)
            if face.track_id < 0:
                continue
            label = f"#{face.track_id}"
            top = y1
            if self.config.marker and id(face) in marked_ids:
                x1, top = bracket_bounds(face.box_xyxy)[:2]
            (_, text_h), base = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, 0.4, 1)
            baseline_y = top - base - 1
            if baseline_y - text_h < 0:  # no room above: below the box (and brackets)
                bottom = bracket_bounds(face.box_xyxy)[3] if id(face) in marked_ids else y2
                baseline_y = bottom + text_h + 1
            cv2.putText(
                packet.image,
                label,
                (x1, baseline_y),
                cv2.FONT_HERSHEY_SIMPLEX,
                0.4,
                (0, 255, 0),
                1,
                cv2.LINE_AA,
            )
