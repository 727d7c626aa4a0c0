"""Decoded frames to BGR arrays and back, for every source and sink.

Nearly every camera and file delivers 8-bit 4:2:0 video in BT.601 or untagged, limited
range, and every H.264 output is the same. For those, OpenCV's vectorised conversion does
what swscale's default does (the same BT.601 limited-range matrix; values differ by
rounding and chroma interpolation, at most a few levels) 2-4x faster: measured per frame,
768x432 / 1280x720, decode 0.82 -> 0.38 / 0.90 -> 0.63 ms, encode 1.82 -> 0.43 / 3.12 ->
0.87 ms (benchmarks/RESULTS.md, "Frame conversions"). Anything else (BT.709 tags, full
range, 4:2:2, 10-bit, odd sizes) goes through swscale, which honours the frame's tags.
"""

from __future__ import annotations

import av
import cv2
import numpy as np

# AVColorSpace values converted with BT.601: unspecified (swscale's default), BT470BG,
# SMPTE170M.
BT601_COLORSPACES = frozenset({2, 5, 6})
# AVColorRange: unspecified (limited by default), MPEG (limited).
LIMITED_RANGES = frozenset({0, 1})


def _even(width: int, height: int) -> bool:
    return width % 2 == 0 and height % 2 == 0


def frame_to_bgr(frame: av.VideoFrame) -> np.ndarray:
    """An (H, W, 3) uint8 BGR copy of a decoded frame."""
    if (
        frame.format.name == "yuv420p"
        and frame.colorspace in BT601_COLORSPACES
        and frame.color_range in LIMITED_RANGES
        and _even(frame.width, frame.height)
    ):
        return cv2.cvtColor(frame.to_ndarray(), cv2.COLOR_YUV2BGR_I420)
    return frame.to_ndarray(format="bgr24")


def bgr_to_frame(image: np.ndarray, pix_fmt: str) -> av.VideoFrame:
    """A frame for an encoder of ``pix_fmt``: for yuv420p of an even size, converted here
    (BT.601, limited range, untagged, as swscale would make it); else BGR, which the
    encoder converts to its format itself."""
    height, width = image.shape[:2]
    if pix_fmt == "yuv420p" and _even(width, height):
        return av.VideoFrame.from_ndarray(
            cv2.cvtColor(image, cv2.COLOR_BGR2YUV_I420), format="yuv420p"
        )
    return av.VideoFrame.from_ndarray(image, format="bgr24")
