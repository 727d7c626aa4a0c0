"""Paste enhanced faces back: feathered, colour-matched, marked as AI-enhanced.

Only the square crop of each face changes; every other pixel of the frame is left
exactly as decoded.
"""

from __future__ import annotations

import cv2
import numpy as np

from streamproc.config import CompositeConfig
from streamproc.enhance.crops import visible_region
from streamproc.packet import Face, FramePacket


def feather_mask(side_px: int, feather: float) -> np.ndarray:
    """An (S, S, 1) float mask: 1 inside, a smooth ramp to 0 over ``feather`` of the side."""
    ramp = max(1.0, feather * side_px)
    idx = np.arange(side_px, dtype=np.float32) + 0.5
    edge = np.minimum(idx, side_px - idx)
    profile = np.clip(edge / ramp, 0.0, 1.0)
    profile = profile * profile * (3 - 2 * profile)  # smoothstep: no visible seam
    return np.minimum.outer(profile, profile)[:, :, None]


def match_colour(enhanced: np.ndarray, original: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Shift the enhanced crop's mean chroma (Lab a, b) to the original's, mask-weighted.

    Generators drift in tint; the paste must agree with its surroundings. Lightness is
    left alone: lifting a dark face is the enhancer's job and must not be undone here.
    """
    weights = mask[:, :, 0]
    total = float(weights.sum()) or 1.0
    lab_e = cv2.cvtColor(enhanced, cv2.COLOR_BGR2LAB).astype(np.float32)
    lab_o = cv2.cvtColor(original, cv2.COLOR_BGR2LAB).astype(np.float32)
    shift = ((lab_o - lab_e) * weights[:, :, None]).sum(axis=(0, 1)) / total
    shift[0] = 0.0
    lab_e += shift
    return cv2.cvtColor(np.clip(lab_e, 0, 255).astype(np.uint8), cv2.COLOR_LAB2BGR)


class Compositor:
    name = "composite"

    def __init__(self, config: CompositeConfig) -> None:
        self.config = config
        self._masks: dict[int, np.ndarray] = {}

    def _mask(self, side_px: int) -> np.ndarray:
        mask = self._masks.get(side_px)
        if mask is None:
            mask = self._masks[side_px] = feather_mask(side_px, self.config.feather)
        return mask

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
        side = face.enhanced.shape[0]
        mask = self._mask(side)
        enhanced = face.enhanced
        if self.config.color_match:
            enhanced = match_colour(enhanced, face.crop, mask)
        if self.config.marker:
            enhanced = self._mark(enhanced)
            mask = mask.copy()
            self._mark_mask(mask)
        rows, cols, crop_rows, crop_cols = visible_region(
            face.crop_box, image.shape[1], image.shape[0]
        )
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

    def close(self) -> None:
        self._masks.clear()

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
