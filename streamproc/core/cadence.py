"""Which of a camera's frames are detected; the tracker carries the faces in between.

Every ``detect.every_n_frames``-th frame, or every ``detect.small_face_every_n``-th for a
while after a detection found a face smaller than ``detect.small_face_px`` in the
detector's input (its height scaled as the full-frame pass scales the frame). Measured
(RESULTS.md, "Detection cadence"): faces of 16 px and more in the detector's input were
found as often detecting every 3rd frame as every 2nd, faces under 12 px were not (they
are found on some detection frames only, and carried without a velocity until confirmed).
Also every ``small_face_every_n``-th for as long after a face moved ``detect.fast_face_speed``
of its height a frame between two detections (its centre against the nearest one the
detection before found): a small face that crosses its own width between detections is
lost by the tracker (RESULTS.md, "Fast faces").

The interval after a detected frame depends on what that frame's detection found, so the
engine detects a camera's frame before it plans that camera's next one (a file's batches
never change which frames are detected: ``streamproc verify`` reproduces a run).
"""

from __future__ import annotations

from streamproc.core.config import DetectConfig
from streamproc.core.packet import FramePacket

# A tiny face is found on some detection frames only: the shorter interval holds for this
# many frames after one was last found (the tracker's default memory of a lost face).
SMALL_FACE_HOLD_FRAMES = 30
# A face whose nearest face in the detection before is further than this many of its
# heights is taken for another face (one that came in), not a fast one; so is a face of
# a height more than this factor off.
FAST_FACE_MAX_JUMP = 2.0
FAST_FACE_MAX_SCALE = 1.5


class DetectionCadence:
    """One camera's detection plan: count its frames, say which are due, learn from the
    faces each detection found."""

    def __init__(self, config: DetectConfig) -> None:
        # ``--faces``: every image is its own face crop.
        self.every_n = 1 if config.whole_image else config.every_n_frames
        self.small_every_n = min(config.small_face_every_n, self.every_n)
        self.small_face_px = config.small_face_px
        self.imgsz = config.imgsz
        self.frames_seen = 0
        self.last_detected = -1_000_000  # frames_seen of its latest detected frame
        self.small_seen = -1_000_000  # frames_seen of the latest frame with a tiny face
        self.fast_face_speed = config.fast_face_speed
        self.fast_seen = -1_000_000  # ... with a face that moved fast since the detection before
        self._previous: tuple[int, list[tuple[float, float, float]]] = (0, [])

    @property
    def small_faces(self) -> bool:
        """A face under ``small_face_px`` was found within the last hold frames."""
        return self.frames_seen - self.small_seen <= SMALL_FACE_HOLD_FRAMES

    @property
    def fast_faces(self) -> bool:
        """A face moved at least ``fast_face_speed`` within the last hold frames."""
        return self.frames_seen - self.fast_seen <= SMALL_FACE_HOLD_FRAMES

    @property
    def interval(self) -> int:
        short = self.small_faces or self.fast_faces
        return self.small_every_n if short else self.every_n

    @property
    def may_be_due(self) -> bool:
        """The next frame is due at the shorter interval: whether it is due at all depends
        on the faces of the latest detected frame."""
        return self.frames_seen - self.last_detected >= self.small_every_n

    def due(self) -> bool:
        """The next frame is due (the latest detected frame's faces must be known)."""
        return self.frames_seen - self.last_detected >= self.interval

    def advance(self, detected: bool) -> None:
        """The next frame was planned: detected or carried."""
        if detected:
            self.last_detected = self.frames_seen
        self.frames_seen += 1

    def observe(self, packet: FramePacket) -> None:
        """What the detection of ``packet`` (the latest detected frame) found."""
        height, width = packet.image.shape[:2]
        scale = self.imgsz / max(height, width)
        faces = [  # centre x, centre y, height (frame px)
            (
                (f.box_xyxy[0] + f.box_xyxy[2]) / 2,
                (f.box_xyxy[1] + f.box_xyxy[3]) / 2,
                f.box_xyxy[3] - f.box_xyxy[1],
            )
            for f in packet.faces
        ]
        if any(h * scale < self.small_face_px for _, _, h in faces):
            self.small_seen = self.last_detected
        if self.fast_face_speed > 0 and self._moved_fast(faces):
            self.fast_seen = self.last_detected
        self._previous = (self.last_detected, faces)

    def _moved_fast(self, faces: list[tuple[float, float, float]]) -> bool:
        """Some face is ``fast_face_speed`` heights a frame from its nearest face of about
        its size in the detection before (centres; nearer than FAST_FACE_MAX_JUMP
        heights)."""
        frame, before = self._previous
        gap = self.last_detected - frame
        if gap <= 0:
            return False
        for cx, cy, height in faces:
            alike = [
                ((cx - x) ** 2 + (cy - y) ** 2) ** 0.5
                for x, y, h in before
                if height / FAST_FACE_MAX_SCALE <= h <= height * FAST_FACE_MAX_SCALE
            ]
            moved = min(alike, default=float("inf"))
            if self.fast_face_speed * gap * height <= moved <= FAST_FACE_MAX_JUMP * height:
                return True
        return False
