"""The one typed packet that flows through every stage, and the faces it carries."""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np


@dataclass
class Face:
    """One detected face. ``box_xyxy`` is in frame pixels (float, may be sub-pixel).

    ``track_id`` is -1 for a detection the tracker has not confirmed yet. ``crop`` and
    ``enhanced`` are filled by the enhance stage (BGR uint8, same shape), and ``crop_box``
    is the square region (integer px, may extend past the frame) they cover.
    """

    box_xyxy: np.ndarray
    score: float
    track_id: int = -1
    crop_box: tuple[int, int, int, int] | None = None
    crop: np.ndarray | None = None
    enhanced: np.ndarray | None = None
    enhancer: str = ""  # what made ``enhanced``: "classical", "generator", "classical+generator"
    fused_frames: int = 0  # frames merged into ``crop`` by the fuse stage (0: not fused)

    def __post_init__(self) -> None:
        self.box_xyxy = np.asarray(self.box_xyxy, dtype=np.float32).reshape(4)
        x1, y1, x2, y2 = self.box_xyxy
        if not (x2 > x1 and y2 > y1):
            raise ValueError(f"degenerate face box {self.box_xyxy.tolist()}")

    @property
    def height_px(self) -> float:
        return float(self.box_xyxy[3] - self.box_xyxy[1])

    @property
    def width_px(self) -> float:
        return float(self.box_xyxy[2] - self.box_xyxy[0])


@dataclass
class FramePacket:
    """A decoded frame and everything the stages learn about it.

    ``pts``/``time_base`` are the source's timestamps (kept so file output has the input's
    timing); ``capture_s`` is the monotonic clock when the source produced the frame (for
    latency). ``timings_ms`` collects per-stage processing time.
    """

    index: int
    pts: int
    time_base: Fraction
    image: np.ndarray
    capture_s: float
    faces: list[Face] = field(default_factory=list)
    detected: bool = False
    timings_ms: dict[str, float] = field(default_factory=dict)
    source_id: str = "0"

    def __post_init__(self) -> None:
        img = self.image
        if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
            raise ValueError(f"frame image must be HxWx3 uint8 BGR, got {img.dtype} {img.shape}")
        if self.index < 0:
            raise ValueError("frame index must be >= 0")

    @property
    def time_s(self) -> float:
        return float(self.pts * self.time_base)

    @property
    def height_px(self) -> int:
        return int(self.image.shape[0])

    @property
    def width_px(self) -> int:
        return int(self.image.shape[1])
