"""Paste enhanced faces back: feathered, colour-matched, marked as AI-enhanced.

Only the face changes: the enhanced crop is blended in through a feathered ellipse around
the face box, so the square's corners (background the enhancer also touched) keep the
original, and every pixel outside the square is left exactly as decoded.
"""

from __future__ import annotations

from collections.abc import Sequence

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


def face_mask(side_px: int, box_xyxy: Sequence[float], feather: float) -> np.ndarray:
    """An (S, S, 1) mask: 1 over the ellipse inscribed in the face box (crop px), a smooth
    ramp outside it, and never more than :func:`feather_mask` so the crop's edges are 0.

    Pasting the whole square pastes background the enhancer also changed (a generator
    re-renders it, a low-light lift brightens it): a visible light square around the face.
    """
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
    """
    weights = mask[:, :, 0]
    total = float(weights.sum()) or 1.0
    lab_e = cv2.cvtColor(enhanced, cv2.COLOR_BGR2LAB).astype(np.float32)
    lab_o = cv2.cvtColor(original, cv2.COLOR_BGR2LAB).astype(np.float32)
    shift = ((lab_o - lab_e) * weights[:, :, None]).sum(axis=(0, 1)) / total
    lab_e[:, :, 1:] += shift[1:]
    region = weights >= 0.5
    if region.sum() >= 4:
        mean_e, mean_o = float(lab_e[:, :, 0][region].mean()), float(lab_o[:, :, 0][region].mean())
        allowed = max(mean_o, LIFT_TARGET_L)
        if mean_e > allowed:
            lab_e[:, :, 0] -= mean_e - allowed
        lab_e[:, :, 0] = restore_black_point(lab_e[:, :, 0], lab_o[:, :, 0], region)
    return cv2.cvtColor(np.clip(lab_e + 0.5, 0, 255).astype(np.uint8), cv2.COLOR_LAB2BGR)


def restore_black_point(
    luma: np.ndarray, original_luma: np.ndarray, region: np.ndarray
) -> np.ndarray:
    """Pull a lifted black point (5th percentile of the low-passed luma in ``region``) back
    to the original's, by stretching only the tones below the face's mean luma.

    Low-passed, so noise (which a denoiser removes) does not count as black; the mean and
    everything brighter are kept as the enhancer made them.
    """
    sigma_px = max(1.0, luma.shape[0] / 48)
    low = cv2.GaussianBlur(luma, (0, 0), sigma_px)[region]
    low_original = cv2.GaussianBlur(original_luma, (0, 0), sigma_px)[region]
    black, black_original = np.percentile(low, 5), np.percentile(low_original, 5)
    mid = float(low.mean())
    if black <= black_original + BLACK_TOLERANCE or mid <= black + BLACK_TOLERANCE:
        return luma
    gain = min(MAX_SHADOW_GAIN, (mid - black_original) / (mid - black))
    return np.where(luma < mid, mid - (mid - luma) * gain, luma)


class Compositor:
    """``whole_image``: each frame is one face crop (``--faces``): the enhanced crop replaces
    the whole image (there is no scene to blend into) and the marker goes in a corner."""

    name = "composite"

    def __init__(self, config: CompositeConfig, whole_image: bool = False) -> None:
        self.config = config
        self.whole_image = whole_image

    def _masks(self, face: Face) -> tuple[np.ndarray, np.ndarray]:
        """(paste mask, face region): where the enhanced crop goes, where colour is matched."""
        side = face.enhanced.shape[0]
        x1, y1 = face.crop_box[:2]
        bx1, by1, bx2, by2 = (float(v) for v in face.box_xyxy)
        box = (bx1 - x1, by1 - y1, bx2 - x1, by2 - y1)
        face = (ellipse_radius(side, side, box) <= 1.0).astype(np.float32)[:, :, None]
        if self.whole_image:
            return np.ones((side, side, 1), np.float32), face
        return face_mask(side, box, self.config.feather), face

    def process(self, packets: list[FramePacket]) -> list[FramePacket]:
        for packet in packets:
            original = packet.image.copy() if self.config.side_by_side else None
            for face in packet.faces:
                if face.enhanced is not None:
                    self.paste(packet.image, face)
            if self.config.draw_boxes:
                self._draw_boxes(packet)
            if original is not None:
                packet.image = np.ascontiguousarray(np.hstack([original, packet.image]))
        return packets

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
        elif self.config.marker:
            enhanced = self._mark(enhanced)
            self._mark_mask(mask)
        region = image[rows, cols].astype(np.float32)
        m = mask[crop_rows, crop_cols]
        blended = region + (enhanced[crop_rows, crop_cols].astype(np.float32) - region) * m
        image[rows, cols] = np.clip(blended + 0.5, 0, 255).astype(np.uint8)

    def _marker_size(self, side: int) -> tuple[float, int, int]:
        scale = max(0.25, side / 320)
        (tw, th), base = cv2.getTextSize(
            self.config.marker_text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1
        )
        return scale, th + base + 2, tw + 4

    def _mark(self, crop: np.ndarray) -> np.ndarray:
        """A small label in the crop's top-left corner, inside the pasted area."""
        side = crop.shape[0]
        scale, height, width = self._marker_size(side)
        out = crop.copy()
        cv2.rectangle(out, (0, 0), (min(width, side - 1), height), (0, 0, 0), -1)
        cv2.putText(
            out,
            self.config.marker_text,
            (2, height - 3),
            cv2.FONT_HERSHEY_SIMPLEX,
            scale,
            (0, 255, 255),
            1,
            cv2.LINE_AA,
        )
        return out

    def _mark_mask(self, mask: np.ndarray) -> None:
        _, height, width = self._marker_size(mask.shape[0])
        mask[: height + 1, : width + 1] = 1.0

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

    def _draw_boxes(self, packet: FramePacket) -> None:
        for face in packet.faces:
            x1, y1, x2, y2 = (int(round(v)) for v in face.box_xyxy)
            cv2.rectangle(packet.image, (x1, y1), (x2, y2), (0, 255, 0), 1)
            if face.track_id >= 0:
                cv2.putText(
                    packet.image,
                    f"#{face.track_id}",
                    (x1, max(10, y1 - 3)),
                    cv2.FONT_HERSHEY_SIMPLEX,
                    0.4,
                    (0, 255, 0),
                    1,
                    cv2.LINE_AA,
                )
