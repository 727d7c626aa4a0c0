"""Stable track ids (ultralytics ByteTrack) and smoothed boxes, so pastes do not jitter.

Between detections (``detect.every_n_frames`` > 1) each track's box is carried forward
with its smoothed velocity; a track not seen for ``track_buffer`` frames is dropped. A
detection the tracker has not confirmed (a new or low-score face: tiny CCTV faces often
stay below ``new_track_thresh``) is carried where it was, until the next detection: else
it would be enhanced and marked on detection frames only, blinking at half the frame rate.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np

from streamproc.core.config import TrackConfig
from streamproc.core.packet import Face, FramePacket


class _Detections:
    """The numpy view of detections that ultralytics' trackers consume."""

    def __init__(self, xyxy: np.ndarray, conf: np.ndarray) -> None:
        self.xyxy = xyxy.reshape(-1, 4).astype(np.float32)
        self.conf = conf.reshape(-1).astype(np.float32)
        self.cls = np.zeros_like(self.conf)

    @property
    def xywh(self) -> np.ndarray:
        xy = (self.xyxy[:, :2] + self.xyxy[:, 2:]) / 2
        return np.concatenate([xy, self.xyxy[:, 2:] - self.xyxy[:, :2]], axis=1)

    def __len__(self) -> int:
        return len(self.conf)

    def __getitem__(self, mask: np.ndarray) -> _Detections:
        return _Detections(self.xyxy[mask], self.conf[mask])


@dataclass
class _TrackState:
    box: np.ndarray  # smoothed xyxy
    velocity: np.ndarray  # px/frame, smoothed
    last_frame: int
    score: float


class FaceTracker:
    name = "track"

    def __init__(self, config: TrackConfig) -> None:
        from ultralytics.trackers.byte_tracker import BYTETracker

        self.config = config
        self._tracker = BYTETracker(
            SimpleNamespace(
                track_high_thresh=config.track_high_thresh,
                track_low_thresh=config.track_low_thresh,
                new_track_thresh=config.new_track_thresh,
                track_buffer=config.track_buffer,
                match_thresh=config.match_thresh,
                fuse_score=True,
            )
        )
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
                packet.faces = self._carry_forward()
            self._frame += 1
        return packets

    def _update(self, packet: FramePacket) -> None:
        faces = packet.faces
        dets = _Detections(
            np.array([f.box_xyxy for f in faces]) if faces else np.zeros((0, 4)),
            np.array([f.score for f in faces]) if faces else np.zeros(0),
        )
        tracks = self._tracker.update(dets)
        self._last_detect_frame = self._frame
        alpha = self.config.box_smoothing
        for row in tracks:
            track_id, det_index = int(row[4]), int(row[7])
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

    def _carry_forward(self) -> list[Face]:
        faces = []
        for track_id, state in self._states.items():
            if state.last_frame != self._last_detect_frame:
                continue  # only faces seen at the latest detection are carried
            gap = self._frame - state.last_frame
            box = state.box + state.velocity * gap
            if box[2] > box[0] and box[3] > box[1]:
                faces.append(Face(box_xyxy=box, score=state.score, track_id=track_id))
        faces += [Face(box_xyxy=f.box_xyxy.copy(), score=f.score) for f in self._untracked]
        return faces

    def close(self) -> None:
        self._states.clear()
        self._untracked = []
