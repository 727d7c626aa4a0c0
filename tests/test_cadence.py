"""Which frames a camera detects (:class:`DetectionCadence`): every 3rd, and every 2nd for a
while after a face that moved fast between two detections (the tracker loses a small face
that crosses its own width between detections: RESULTS.md, "Fast faces")."""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction

import numpy as np
import pytest

from streamproc.core.cadence import SMALL_FACE_HOLD_FRAMES, DetectionCadence
from streamproc.core.config import load_config
from streamproc.core.packet import Face, FramePacket

FACE_PX = 30  # 25 px in the detector's input at 768x432: not a small face
IMAGE = np.zeros((432, 768, 3), np.uint8)


def detected_frames(
    lefts: Callable[[int], list[float]], n_frames: int, overrides: list[str]
) -> list[int]:
    """The frames detected, in the engine's order (planned, then observed), when the faces
    on frame i have their left edges at ``lefts(i)``."""
    cadence = DetectionCadence(load_config(None, overrides).detect)
    detected = []
    for index in range(n_frames):
        due = cadence.due()
        cadence.advance(due)
        if due:
            detected.append(index)
            packet = FramePacket(index, index, Fraction(1, 30), IMAGE, 0.0)
            packet.faces = [
                Face(np.array([x, 100, x + FACE_PX, 100 + FACE_PX], np.float32), 0.9)
                for x in lefts(index)
            ]
            cadence.observe(packet)
    return detected


@pytest.mark.parametrize(
    ("px_per_frame", "fast"),
    [(0.0, False), (3.0, False), (5.5, False), (6.5, True), (10.0, True)],
)
def test_a_face_moving_a_fifth_of_its_height_a_frame_is_detected_every_second_frame(
    px_per_frame, fast
):
    """Default ``detect.fast_face_speed`` 0.2: 6 px a frame for a 30 px face is fast."""
    frames = detected_frames(lambda i: [100 + px_per_frame * i], 24, [])
    # The first two detections (0 and 3) measure the speed; then every 2nd if fast.
    assert frames == (
        [0, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23] if fast else list(range(0, 24, 3))
    )


def test_the_shorter_interval_ends_once_the_face_has_slowed_down():
    """Fast until frame 30, then still: every 2nd frame for the hold, then every 3rd."""

    def lefts(i: int) -> list[float]:
        return [100 + 8.0 * min(i, 30)]

    frames = detected_frames(lefts, 120, [])
    last_fast = max(f for f in frames if f <= 30)
    later = [f for f in frames if f > last_fast + SMALL_FACE_HOLD_FRAMES + 3]
    assert np.all(np.diff(frames[1 : frames.index(last_fast) + 1]) == 2)
    assert later and np.all(np.diff(later) == 3)


def test_a_face_coming_in_far_from_the_others_is_not_a_fast_one():
    """A second face appears 300 px (10 heights) from the only face before: another face,
    not one that moved; and with the rule off (0) a fast face changes nothing."""
    assert detected_frames(lambda i: [100.0] + ([400.0] if i >= 6 else []), 24, []) == list(
        range(0, 24, 3)
    )
    off = ["detect.fast_face_speed=0"]
    assert detected_frames(lambda i: [100 + 10.0 * i], 24, off) == list(range(0, 24, 3))
