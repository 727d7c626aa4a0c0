"""Counters the pipeline threads update and the dashboard reads.

Each counter is written by exactly one thread, so no locks are needed; readers may see a
value one frame old, which is fine for a display.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np


@dataclass
class StageStats:
    name: str
    frames: int = 0
    busy_s: float = 0.0
    calls: int = 0

    def add(self, frames: int, busy_s: float) -> None:
        self.frames += frames
        self.busy_s += busy_s
        self.calls += 1

    @property
    def ms_per_frame(self) -> float:
        return 1000 * self.busy_s / self.frames if self.frames else 0.0

    @property
    def capacity_fps(self) -> float:
        """Frames per second this stage could sustain on its own."""
        return self.frames / self.busy_s if self.busy_s > 0 else 0.0


@dataclass
class PipelineStats:
    started_s: float = field(default_factory=time.monotonic)
    frames_in: int = 0
    frames_out: int = 0
    dropped: int = 0
    faces: int = 0
    faces_enhanced: int = 0
    faces_fused: int = 0  # faces merged with at least one earlier crop of their track
    stages: dict[str, StageStats] = field(default_factory=dict)
    latency_ms: deque = field(default_factory=lambda: deque(maxlen=2000))
    max_waiting: dict[str, int] = field(default_factory=dict)
    status: str = "starting"
    finished_s: float | None = None
    last_frame_s: float | None = None  # monotonic clock of the latest frame read

    def note_waiting(self, name: str, frames: int) -> None:
        """Track the most frames ever queued in front of ``name`` (memory, latency)."""
        if frames > self.max_waiting.get(name, 0):
            self.max_waiting[name] = frames

    def stage(self, name: str) -> StageStats:
        return self.stages.setdefault(name, StageStats(name))

    @property
    def elapsed_s(self) -> float:
        end = self.finished_s if self.finished_s is not None else time.monotonic()
        return max(1e-9, end - self.started_s)

    @property
    def fps(self) -> float:
        return self.frames_out / self.elapsed_s

    def latency_percentile_ms(self, q: float) -> float:
        values = list(self.latency_ms)
        return float(np.percentile(values, q)) if values else 0.0

    def summary(self) -> dict:
        return {
            "frames_in": self.frames_in,
            "frames_out": self.frames_out,
            "dropped": self.dropped,
            "faces": self.faces,
            "faces_enhanced": self.faces_enhanced,
            "faces_fused": self.faces_fused,
            "elapsed_s": round(self.elapsed_s, 3),
            "fps": round(self.fps, 2),
            "latency_ms_p50": round(self.latency_percentile_ms(50), 1),
            "latency_ms_p95": round(self.latency_percentile_ms(95), 1),
            "max_frames_waiting": dict(self.max_waiting),
            "stages": {
                s.name: {"frames": s.frames, "ms_per_frame": round(s.ms_per_frame, 2)}
                for s in self.stages.values()
            },
        }
