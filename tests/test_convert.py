"""Frame conversions: OpenCV's fast path agrees with swscale, and is used only where it may."""

from __future__ import annotations

import av
import numpy as np
import pytest

from streamproc.io.convert import bgr_to_frame, frame_to_bgr


def _picture(height: int, width: int) -> np.ndarray:
    """Smooth colour ramps plus a sharp-edged square: chroma detail both ways."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    image = np.stack([x / width * 255, y / height * 255, (x + y) / (width + height) * 255], -1)
    image[height // 4 : height // 2, width // 4 : width // 2] = (20, 200, 90)
    return image.astype(np.uint8)


def _yuv_frame(image: np.ndarray) -> av.VideoFrame:
    return av.VideoFrame.from_ndarray(image, format="bgr24").reformat(format="yuv420p")


def test_bgr_to_yuv420p_matches_swscale():
    image = _picture(72, 128)
    ours = bgr_to_frame(image, "yuv420p")
    theirs = _yuv_frame(image)
    assert ours.format.name == "yuv420p"
    diff = np.abs(ours.to_ndarray().astype(int) - theirs.to_ndarray())
    assert diff.max() <= 5 and diff.mean() < 1.0


def test_yuv420p_to_bgr_matches_swscale():
    frame = _yuv_frame(_picture(72, 128))
    diff = np.abs(frame_to_bgr(frame).astype(int) - frame.to_ndarray(format="bgr24"))
    assert diff.max() <= 8 and diff.mean() < 1.5


@pytest.mark.parametrize(("colorspace", "color_range"), [(1, 0), (2, 2)])
def test_tagged_frames_go_through_swscale(colorspace, color_range):
    """BT.709 and full-range frames decode with their own matrix, exactly as swscale does."""
    frame = _yuv_frame(_picture(72, 128))
    frame.colorspace, frame.color_range = colorspace, color_range
    np.testing.assert_array_equal(frame_to_bgr(frame), frame.to_ndarray(format="bgr24"))


def test_odd_sizes_and_other_encoder_formats_stay_bgr():
    assert bgr_to_frame(_picture(71, 128), "yuv420p").format.name == "bgr24"
    assert bgr_to_frame(_picture(72, 128), "yuvj420p").format.name == "bgr24"
