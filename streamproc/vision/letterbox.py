"""Letterboxing for the detector, and its exact inverse.

The detector takes any stride-32 input, so a 16:9 frame goes in at 640x384 rather than a
640x640 square: 40 % fewer pixels, the same faces. The forward map (frame -> detector
input) and the inverse (detector boxes -> frame) are one pair, tested as inverses, so a box
the detector returns lands on the frame where the face is.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

STRIDE_PX = 32
PAD_VALUE = 114  # ultralytics' padding grey: the detector was trained with it


@dataclass(frozen=True)
class Letterbox:
    """How a ``width_px`` x ``height_px`` image was scaled and padded into the input.

    The two axes have their own scale: rounding the resized size to whole pixels would
    otherwise shift boxes by up to half a pixel per 640.
    """

    width_px: int
    height_px: int
    scale_x: float
    scale_y: float
    pad_left_px: int
    pad_top_px: int
    input_width_px: int
    input_height_px: int

    def to_input(self, boxes_xyxy: np.ndarray) -> np.ndarray:
        """Frame px -> detector input px."""
        boxes = np.asarray(boxes_xyxy, np.float64).reshape(-1, 4).copy()
        boxes[:, 0::2] = boxes[:, 0::2] * self.scale_x + self.pad_left_px
        boxes[:, 1::2] = boxes[:, 1::2] * self.scale_y + self.pad_top_px
        return boxes

    def to_frame(self, boxes_xyxy: np.ndarray) -> np.ndarray:
        """Detector input px -> frame px, clipped to the frame."""
        boxes = np.asarray(boxes_xyxy, np.float64).reshape(-1, 4).copy()
        boxes[:, 0::2] = (boxes[:, 0::2] - self.pad_left_px) / self.scale_x
        boxes[:, 1::2] = (boxes[:, 1::2] - self.pad_top_px) / self.scale_y
        boxes[:, 0::2] = boxes[:, 0::2].clip(0, self.width_px)
        boxes[:, 1::2] = boxes[:, 1::2].clip(0, self.height_px)
        return boxes


def plan_letterbox(width_px: int, height_px: int, long_side_px: int) -> Letterbox:
    """Scale the long side to ``long_side_px`` (never up), pad each side to a stride
    multiple, centred (as ultralytics' rectangular inference does)."""
    ratio = min(1.0, long_side_px / max(width_px, height_px))
    new_w = max(1, round(width_px * ratio))
    new_h = max(1, round(height_px * ratio))
    in_w = math.ceil(new_w / STRIDE_PX) * STRIDE_PX
    in_h = math.ceil(new_h / STRIDE_PX) * STRIDE_PX
    return Letterbox(
        width_px=width_px,
        height_px=height_px,
        scale_x=new_w / width_px,
        scale_y=new_h / height_px,
        pad_left_px=(in_w - new_w) // 2,
        pad_top_px=(in_h - new_h) // 2,
        input_width_px=in_w,
        input_height_px=in_h,
    )


def apply_letterbox(image: np.ndarray, box: Letterbox) -> np.ndarray:
    """The BGR image resized and padded as ``box`` says (HxWx3 uint8)."""
    new_w = round(box.width_px * box.scale_x)
    new_h = round(box.height_px * box.scale_y)
    if (new_w, new_h) != (box.width_px, box.height_px):
        image = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    right = box.input_width_px - new_w - box.pad_left_px
    bottom = box.input_height_px - new_h - box.pad_top_px
    if box.pad_left_px or box.pad_top_px or right or bottom:
        image = cv2.copyMakeBorder(
            image,
            box.pad_top_px,
            bottom,
            box.pad_left_px,
            right,
            cv2.BORDER_CONSTANT,
            value=(PAD_VALUE, PAD_VALUE, PAD_VALUE),
        )
    return image


def input_blob(images: list[np.ndarray], box: Letterbox) -> np.ndarray:
    """BGR images of one shape as the detector's input: letterboxed by ``box``, RGB,
    0-1, (N, 3, H, W) float32."""
    padded = [apply_letterbox(image, box) for image in images]
    height, width = padded[0].shape[:2]
    blob = np.empty((len(padded), 3, height, width), np.float32)
    # Plane by plane, then one scale: the same values as cv2.dnn.blobFromImages, which took
    # 4.5 ms at 640x384 on one thread against 0.45 (RESULTS.md, stop 24).
    for i, image in enumerate(padded):
        for channel, plane in enumerate(reversed(cv2.split(image))):  # BGR -> RGB
            blob[i, channel] = plane
    blob *= np.float32(1 / 255.0)
    return blob
