"""ByteTrack (Zhang et al., 2022) in numpy: track ids across frames without torch.

ultralytics' tracker imports torch with the package (~4 s of start-up for ~200 lines of
numpy), so the runtime path has its own. The algorithm is the paper's: a constant-velocity
Kalman filter on (centre x, centre y, aspect, height); high-score detections matched to
tracked and lost tracks first (IoU fused with the score), then low-score detections to
the tracks still unmatched (which keeps a face through a blurry frame), unconfirmed tracks
last; new tracks from unmatched high-score detections; lost tracks forgotten after
``track_buffer`` frames (of video: detections are ``frames`` apart).

Detections frames apart (the engine detects every n-th frame) are this module's own
extension, and on consecutive frames it gives ultralytics' ids (tests/test_bytetrack.py).
Unconfirmed and young tracks, whose velocity the filter does not know yet, are matched
with boxes grown by the gap, and unconfirmed tracks are predicted as well, so that their
second detection gives the filter their velocity.
"""

from __future__ import annotations

from dataclasses import dataclass

import lap
import numpy as np

from streamproc.core.config import TrackConfig

TRACKED, LOST, REMOVED = 0, 1, 2
# Kalman noise, relative to the box height (the paper's / SORT's values).
STD_POSITION = 1 / 20
STD_VELOCITY = 1 / 160
SECOND_MATCH_IOU_COST = 0.5
UNCONFIRMED_COST = 0.7
# Detections frames apart: an unconfirmed track (seen once, no velocity yet) is matched
# with both boxes grown by this fraction of their size per side, per frame since the
# detection before (a walking 20 px face is ~8 px on three frames later, out of its own
# box; RESULTS.md, "Detection cadence by face size").
UNCONFIRMED_BUFFER_PER_FRAME = 0.15
# A track matched fewer times than this has no reliable velocity yet: detections frames
# apart, it is also matched with the grown boxes (its Kalman prediction lags a walking
# face: a 16 px face at 4 px a frame, detected every 3rd frame, got a new id every second
# detection). Three updates give the filter the velocity.
YOUNG_TRACK_HITS = 3


class KalmanXYAH:
    """Constant-velocity Kalman filter on (cx, cy, aspect, h) and their velocities."""

    def __init__(self) -> None:
        self.update_mat = np.eye(4, 8)

    def initiate(self, xyah: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mean = np.r_[xyah, np.zeros(4)]
        h = xyah[3]
        std = [
            2 * STD_POSITION * h,
            2 * STD_POSITION * h,
            1e-2,
            2 * STD_POSITION * h,
            10 * STD_VELOCITY * h,
            10 * STD_VELOCITY * h,
            1e-5,
            10 * STD_VELOCITY * h,
        ]
        return mean, np.diag(np.square(std))

    def predict(
        self, mean: np.ndarray, cov: np.ndarray, frames: int = 1
    ) -> tuple[np.ndarray, np.ndarray]:
        """``frames`` ahead: velocities are per frame, however often the camera is detected."""
        h = mean[3]
        std = [STD_POSITION * h, STD_POSITION * h, 1e-2, STD_POSITION * h]
        std += [STD_VELOCITY * h, STD_VELOCITY * h, 1e-5, STD_VELOCITY * h]
        motion = np.eye(8)
        motion[:4, 4:] = frames * np.eye(4)
        mean = motion @ mean
        cov = motion @ cov @ motion.T + frames * np.diag(np.square(std))
        return mean, cov

    def update(
        self, mean: np.ndarray, cov: np.ndarray, xyah: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        h = mean[3]
        std = [STD_POSITION * h, STD_POSITION * h, 1e-1, STD_POSITION * h]
        proj_mean = self.update_mat @ mean
        proj_cov = self.update_mat @ cov @ self.update_mat.T + np.diag(np.square(std))
        gain = np.linalg.solve(proj_cov, (cov @ self.update_mat.T).T).T
        mean = mean + gain @ (xyah - proj_mean)
        cov = cov - gain @ proj_cov @ gain.T
        return mean, cov


def xyxy_to_xyah(box: np.ndarray) -> np.ndarray:
    w, h = box[2] - box[0], box[3] - box[1]
    return np.array([box[0] + w / 2, box[1] + h / 2, w / max(h, 1e-6), h], np.float64)


def xyah_to_xyxy(xyah: np.ndarray) -> np.ndarray:
    cx, cy, a, h = xyah[:4]
    w = a * h
    return np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], np.float64)


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(len(a), len(b)) IoU of xyxy boxes."""
    if not len(a) or not len(b):
        return np.zeros((len(a), len(b)))
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)


def assign(cost: np.ndarray, limit: float) -> tuple[list[tuple[int, int]], list[int], list[int]]:
    """Minimum-cost matching with no pair above ``limit`` (lap's Jonker-Volgenant)."""
    if cost.size == 0:
        return [], list(range(cost.shape[0])), list(range(cost.shape[1]))
    _, rows, cols = lap.lapjv(cost, extend_cost=True, cost_limit=limit)
    matches = [(i, int(j)) for i, j in enumerate(rows) if j >= 0]
    left_rows = [i for i, j in enumerate(rows) if j < 0]
    return matches, left_rows, [j for j, i in enumerate(cols) if i < 0]


@dataclass
class Track:
    mean: np.ndarray
    cov: np.ndarray
    score: float
    det_index: int
    track_id: int = 0
    state: int = TRACKED
    activated: bool = False
    frame: int = 0
    start_frame: int = 0
    hits: int = 1  # detections matched to it, the first included

    @property
    def xyxy(self) -> np.ndarray:
        return xyah_to_xyxy(self.mean)


class ByteTracker:
    """One camera's tracks. :meth:`update` takes one frame's detections."""

    def __init__(self, config: TrackConfig) -> None:
        self.config = config
        self.kalman = KalmanXYAH()
        self.tracked: list[Track] = []
        self.lost: list[Track] = []
        self.frame = 0  # video frames: a lost track is kept ``track_buffer`` of them
        self.updates = 0
        self._next_id = 1

    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id - 1

    def _cost(self, tracks: list[Track], boxes: np.ndarray, scores: np.ndarray, fuse: bool):
        iou = iou_matrix(np.array([t.xyxy for t in tracks]).reshape(-1, 4), boxes)
        if fuse and iou.size:
            iou = iou * scores[None, :]
        return 1 - iou

    def _buffered_cost(self, tracks: list[Track], boxes: np.ndarray, buffer: float):
        """1 - IoU of the boxes grown by ``buffer`` of their width and height per side."""

        def grow(b: np.ndarray) -> np.ndarray:
            pad = buffer * np.stack([b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]], axis=1)
            return np.concatenate([b[:, :2] - pad, b[:, 2:] + pad], axis=1)

        return 1 - iou_matrix(grow(np.array([t.xyxy for t in tracks]).reshape(-1, 4)), grow(boxes))

    def _young_fallback(
        self, cost: np.ndarray, tracks: list[Track], boxes: np.ndarray, frames: int
    ) -> None:
        """Where a young track's grown box matches (as an unconfirmed track's would), that
        cost instead, if lower: in place."""
        young = [i for i, t in enumerate(tracks) if t.hits < YOUNG_TRACK_HITS]
        if not young or not len(boxes):
            return
        buffered = self._buffered_cost(
            [tracks[i] for i in young], boxes, UNCONFIRMED_BUFFER_PER_FRAME * frames
        )
        buffered = np.where(buffered <= UNCONFIRMED_COST, buffered, 1.0)
        cost[young] = np.minimum(cost[young], buffered)

    def _refresh(self, track: Track, box: np.ndarray, score: float, index: int) -> None:
        track.mean, track.cov = self.kalman.update(track.mean, track.cov, xyxy_to_xyah(box))
        track.score, track.det_index, track.frame = score, index, self.frame
        track.state, track.activated = TRACKED, True
        track.hits += 1

    def update(self, boxes_xyxy: np.ndarray, scores: np.ndarray, frames: int = 1) -> list[Track]:
        """The activated tracks matched to a detection this frame (``det_index`` says which).
        ``frames``: since the detection before (the engine detects every n-th frame)."""
        cfg = self.config
        self.frame += frames
        self.updates += 1
        boxes = np.asarray(boxes_xyxy, np.float64).reshape(-1, 4)
        scores = np.asarray(scores, np.float64).reshape(-1)
        high_idx = np.flatnonzero(scores >= cfg.track_high_thresh)
        low_idx = np.flatnonzero((scores > cfg.track_low_thresh) & (scores < cfg.track_high_thresh))
        confirmed = [t for t in self.tracked if t.activated]
        unconfirmed = [t for t in self.tracked if not t.activated]
        pool = confirmed + self.lost
        # Detections frames apart: unconfirmed tracks are predicted too (with no velocity
        # their box stays; the covariance grows), so that their second detection teaches
        # the filter their velocity. On consecutive frames, the paper's (and ultralytics').
        for track in pool + (unconfirmed if frames > 1 else []):
            track.mean, track.cov = self.kalman.predict(track.mean, track.cov, frames)
        tracked_now: list[Track] = []
        # 1: high-score detections against tracked + lost tracks.
        cost = self._cost(pool, boxes[high_idx], scores[high_idx], fuse=True)
        if frames > 1:
            self._young_fallback(cost, pool, boxes[high_idx], frames)
        matches, left_tracks, left_high = assign(cost, cfg.match_thresh)
        for t, d in matches:
            index = int(high_idx[d])
            self._refresh(pool[t], boxes[index], float(scores[index]), index)
            tracked_now.append(pool[t])
        # 2: low-score detections against the tracked tracks still unmatched.
        remaining = [pool[t] for t in left_tracks if pool[t].state == TRACKED]
        cost = self._cost(remaining, boxes[low_idx], scores[low_idx], fuse=False)
        matches, left_remaining, _ = assign(cost, SECOND_MATCH_IOU_COST)
        for t, d in matches:
            index = int(low_idx[d])
            self._refresh(remaining[t], boxes[index], float(scores[index]), index)
            tracked_now.append(remaining[t])
        newly_lost = [remaining[t] for t in left_remaining]
        for track in newly_lost:
            track.state = LOST
        # 3: unconfirmed tracks (seen once) against the high-score detections left.
        left_high_idx = high_idx[left_high]
        if frames == 1:  # consecutive frames: the paper's matching (ultralytics' too)
            cost = self._cost(unconfirmed, boxes[left_high_idx], scores[left_high_idx], fuse=True)
        else:
            buffer = UNCONFIRMED_BUFFER_PER_FRAME * frames
            cost = self._buffered_cost(unconfirmed, boxes[left_high_idx], buffer)
        matches, _, still_left = assign(cost, UNCONFIRMED_COST)
        for t, d in matches:
            index = int(left_high_idx[d])
            self._refresh(unconfirmed[t], boxes[index], float(scores[index]), index)
            tracked_now.append(unconfirmed[t])
        # 4: new tracks (activated at once only on the very first frame, as in the paper).
        for d in still_left:
            index = int(left_high_idx[d])
            if scores[index] < cfg.new_track_thresh:
                continue
            mean, cov = self.kalman.initiate(xyxy_to_xyah(boxes[index]))
            track = Track(mean, cov, float(scores[index]), index, self._new_id())
            track.frame = track.start_frame = self.frame
            track.activated = self.updates == 1
            tracked_now.append(track)
        lost = [t for t in self.lost if t.state == LOST] + newly_lost
        self.lost = [t for t in lost if self.frame - t.frame <= cfg.track_buffer]
        self.tracked = tracked_now
        return [t for t in tracked_now if t.activated and t.frame == self.frame]
