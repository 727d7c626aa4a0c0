"""Square face crops and the symmetric pre/post-processing pair around the generator."""

from __future__ import annotations

import cv2
import numpy as np

CropBox = tuple[int, int, int, int]  # x1, y1, x2, y2 in frame px; square; may leave the frame


def square_box(box_xyxy: np.ndarray, margin: float) -> CropBox:
    """The square around a face box, grown by ``margin`` of its longer side on each side."""
    x1, y1, x2, y2 = (float(v) for v in box_xyxy)
    side = max(x2 - x1, y2 - y1) * (1 + 2 * margin)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    side_px = max(2, round(side))
    left, top = round(cx - side_px / 2), round(cy - side_px / 2)
    return left, top, left + side_px, top + side_px


def visible_region(box: CropBox, width: int, height: int) -> tuple[slice, slice, slice, slice]:
    """(frame_rows, frame_cols, crop_rows, crop_cols) of the part of ``box`` inside the frame
    (empty slices, never negative ones, when none of it is)."""
    x1, y1, x2, y2 = box
    cx1, cy1 = max(x1, 0), max(y1, 0)
    cx2, cy2 = max(cx1, min(x2, width)), max(cy1, min(y2, height))
    return (
        slice(cy1, cy2),
        slice(cx1, cx2),
        slice(cy1 - y1, cy2 - y1),
        slice(cx1 - x1, cx2 - x1),
    )


def extract(image: np.ndarray, box: CropBox) -> np.ndarray:
    """Cut ``box`` out of ``image``; parts outside the frame are filled by edge replication."""
    height, width = image.shape[:2]
    rows, cols, crop_rows, crop_cols = visible_region(box, width, height)
    if rows.stop <= rows.start or cols.stop <= cols.start:
        raise ValueError(f"crop {box} lies outside the {width}x{height} frame")
    crop = image[rows, cols]
    x1, y1, x2, y2 = box
    pads = (crop_rows.start, y2 - y1 - crop_rows.stop, crop_cols.start, x2 - x1 - crop_cols.stop)
    if any(pads):
        crop = cv2.copyMakeBorder(crop, *pads, borderType=cv2.BORDER_REPLICATE)
    return np.ascontiguousarray(crop)


def to_model_input(crops_bgr: list[np.ndarray], size_px: int, dtype: np.dtype) -> np.ndarray:
    """BGR uint8 crops of any size -> (N, 3, S, S) RGB in [-1, 1], the generator's input."""
    batch = np.empty((len(crops_bgr), 3, size_px, size_px), dtype=np.float32)
    for i, crop in enumerate(crops_bgr):
        interp = cv2.INTER_AREA if crop.shape[0] > size_px else cv2.INTER_CUBIC
        resized = cv2.resize(crop, (size_px, size_px), interpolation=interp)
        batch[i] = resized[:, :, ::-1].transpose(2, 0, 1)
    batch *= 1 / 127.5
    batch -= 1.0
    return batch.astype(dtype, copy=False)


def from_model_output(batch: np.ndarray, sizes_px: list[int]) -> list[np.ndarray]:
    """Inverse of :func:`to_model_input`: (N, 3, S, S) in [-1, 1] -> BGR uint8 crops.

    Each plane is scaled and rounded to uint8 by OpenCV (saturating above 255; values under
    -1 are clipped first, so its absolute value never folds them back): 2x faster than the
    same in numpy, which made four passes over the float batch."""
    out = []
    for img, side in zip(np.maximum(batch, -1.0, dtype=np.float32), sizes_px, strict=True):
        bgr = cv2.merge([cv2.convertScaleAbs(img[c], alpha=127.5, beta=127.5) for c in (2, 1, 0)])
        interp = cv2.INTER_AREA if side < bgr.shape[0] else cv2.INTER_CUBIC
        out.append(cv2.resize(bgr, (side, side), interpolation=interp))
    return out


def ellipse_radius(height_px: int, width_px: int, box_xyxy: tuple[float, ...]) -> np.ndarray:
    """(H, W) normalised distance from the centre of ``box_xyxy``: 1 on its inscribed ellipse.

    Faces are ovals: statistics and pastes taken over the square crop (or even the box)
    include background, which is what lifts a bright face's surroundings in a dark scene.
    """
    x1, y1, x2, y2 = (float(v) for v in box_xyxy)
    semi_x, semi_y = max(0.5, (x2 - x1) / 2), max(0.5, (y2 - y1) / 2)
    dx = (np.arange(width_px, dtype=np.float32) + 0.5 - (x1 + x2) / 2) / semi_x
    dy = (np.arange(height_px, dtype=np.float32) + 0.5 - (y1 + y2) / 2) / semi_y
    return np.sqrt(dy[:, None] ** 2 + dx[None, :] ** 2)


def face_box_in_crop(height_px: int, width_px: int, margin: float) -> tuple[float, ...]:
    """Where the face lies in a crop cut by :func:`square_box` with ``margin``: the centre."""
    inner_w, inner_h = width_px / (1 + 2 * margin), height_px / (1 + 2 * margin)
    left, top = (width_px - inner_w) / 2, (height_px - inner_h) / 2
    return left, top, left + inner_w, top + inner_h
