"""Stable track ids (ByteTrack: vision/bytetrack.py) and smoothed boxes: pastes don't jitter.

Between detections (``detect.every_n_frames`` > 1) each track's box is carried forward
with its smoothed velocity; a track not seen for ``track_buffer`` frames is dropped. A
detection the tracker has not confirmed (a new or low-score face: tiny CCTV faces often
stay below ``new_track_thresh``) is carried where it was, until the next detection: else
it would be enhanced and marked on detection frames only, blinking at half the frame rate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from streamproc.core.config import TrackConfig
from streamproc.core.packet import Face, FramePacket
from streamproc.vision.bytetrack import ByteTracker


@dataclass
class _TrackState:
    box: np.ndarray  # smoothed xyxy
    velocity: np.ndarray  # px/frame, smoothed
    last_frame: int
    score: float


class FaceTracker:
    name = "track"

    def __init__(self, config: TrackConfig) -> None:
        self.config = config
        self._tracker = ByteTracker(config)
        self._states: dict[int, _TrackState] = {}
        self._frame = 0
        self._last_detect_frame = -1
        self._untracked: list[Face] = []  # the latest detection's unconfirmed faces

    def process(self, packets: list[FramePacket]) -> list[FramePacket]:
        for packet in packets:
            if not self.config.enabled:
                continue
            if packet.detected:
                self._update(packet)
            else:
                packet.faces = self._carry_forward(packet.width_px, packet.height_px)
            self._frame += 1
        return packets

    def _update(self, packet: FramePacket) -> None:
        faces = packet.faces
        since = self._frame - self._last_detect_frame if self._last_detect_frame >= 0 else 1
        tracks = self._tracker.update(
            np.array([f.box_xyxy for f in faces]) if faces else np.zeros((0, 4)),
            np.array([f.score for f in faces]) if faces else np.zeros(0),
            since,
        )
        self._last_detect_frame = self._frame
        alpha = self.config.box_smoothing
        for track in tracks:
            track_id, det_index = track.track_id, track.det_index
            face = faces[det_index]
            face.track_id = track_id
            raw = face.box_xyxy.copy()
            state = self._states.get(track_id)
            if state is None:
                self._states[track_id] = _TrackState(
                    raw, np.zeros(4, np.float32), self._frame, face.score
                )
                continue
            gap = max(1, self._frame - state.last_frame)
            predicted = state.box + state.velocity * gap
            smoothed = alpha * predicted + (1 - alpha) * raw
            state.velocity = alpha * state.velocity + (1 - alpha) * (smoothed - state.box) / gap
            state.box, state.last_frame, state.score = smoothed, self._frame, face.score
            face.box_xyxy = smoothed.astype(np.float32)
        stale = [
            t
            for t, s in self._states.items()
            if self._frame - s.last_frame > self.config.track_buffer
        ]
        for track_id in stale:
            del self._states[track_id]
        self._untracked = [f for f in faces if f.track_id < 0]

    def _carry_forward(self, width: int, height: int) -> list[Face]:
        """The faces of the latest detection, moved on by their velocity and kept inside
        the ``width`` x ``height`` frame (a face walking out of the picture is dropped once
        less than a pixel of it is left; its crop could not be cut)."""
        faces = []
        limits = np.array([width, height, width, height], np.float32)
        for track_id, state in self._states.items():
            if state.last_frame != self._last_detect_frame:
                continue  # only faces seen at the latest detection are carried
            gap = self._frame - state.last_frame
            box = np.clip(state.box + state.velocity * gap, 0, limits)
            if box[2] - box[0] >= 1 and box[3] - box[1] >= 1:
                faces.append(Face(box_xyxy=box, score=state.score, track_id=track_id))
        faces += [Face(box_xyxy=f.box_xyxy.copy(), score=f.score) for f in self._untracked]
        return faces

    def close(self) -> None:
        self._states.clear()
        self._untracked = []
