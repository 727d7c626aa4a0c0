"""The numpy ByteTrack gives the ids ultralytics' BYTETracker gives (the runtime path no
longer imports ultralytics; the tests still have it)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from streamproc.core.config import TrackConfig
from streamproc.vision.bytetrack import ByteTracker


class _Dets:
    """The detections view ultralytics' tracker consumes."""

    def __init__(self, xyxy: np.ndarray, conf: np.ndarray) -> None:
        self.xyxy, self.conf = xyxy.astype(np.float32), conf.astype(np.float32)
        self.cls = np.zeros_like(self.conf)

    @property
    def xywh(self) -> np.ndarray:
        centre = (self.xyxy[:, :2] + self.xyxy[:, 2:]) / 2
        return np.concatenate([centre, self.xyxy[:, 2:] - self.xyxy[:, :2]], axis=1)

    def __len__(self) -> int:
        return len(self.conf)

    def __getitem__(self, mask: np.ndarray) -> _Dets:
        return _Dets(self.xyxy[mask], self.conf[mask])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_same_ids_and_boxes_as_ultralytics(seed: int) -> None:
    from ultralytics.trackers.byte_tracker import BYTETracker

    cfg = TrackConfig()
    reference = BYTETracker(
        SimpleNamespace(
            track_high_thresh=cfg.track_high_thresh,
            track_low_thresh=cfg.track_low_thresh,
            new_track_thresh=cfg.new_track_thresh,
            track_buffer=cfg.track_buffer,
            match_thresh=cfg.match_thresh,
            fuse_score=True,
        )
    )
    ours = ByteTracker(cfg)
    rng = np.random.default_rng(seed)
    for frame in range(150):
        boxes, scores = [], []
        for k in range(4):  # four faces that come and go, drift and jitter
            if (frame // (20 + 7 * k)) % 3 == 2:
                continue
            x = 50 + 120 * k + 40 * np.sin(frame / 10 + k)
            boxes.append(
                np.array([x, 60 + 10 * k, x + 30 + k, 100 + 10 * k]) + rng.normal(0, 1.5, 4)
            )
            scores.append(rng.uniform(0.2, 0.9))
        xyxy, conf = np.array(boxes).reshape(-1, 4), np.array(scores)
        expected = sorted(
            (int(r[7]), int(r[4]), *r[:4]) for r in reference.update(_Dets(xyxy, conf))
        )
        got = sorted((t.det_index, t.track_id, *t.xyxy) for t in ours.update(xyxy, conf))
        assert [e[:2] for e in expected] == [g[:2] for g in got], f"frame {frame}"
        for e, g in zip(expected, got, strict=True):
            np.testing.assert_allclose(g[2:], e[2:], atol=0.05)


@pytest.mark.parametrize(("gap_frames", "same_id"), [(24, True), (45, False)])
def test_a_lost_track_is_remembered_for_track_buffer_frames_whatever_the_cadence(
    gap_frames, same_id
):
    """Detected every 3rd frame, a face missing for ``gap_frames`` comes back where it was:
    it keeps its id within ``track_buffer`` (30) frames, not 30 detections (90 frames)."""
    tracker = ByteTracker(TrackConfig())
    box, score = np.array([[100.0, 100.0, 130.0, 140.0]]), np.array([0.9])
    for _ in range(5):
        (track,) = tracker.update(box, score, frames=3)
    first_id = track.track_id
    for _ in range(gap_frames // 3 - 1):
        assert tracker.update(np.zeros((0, 4)), np.zeros(0), frames=3) == []
    back = tracker.update(box, score, frames=3)
    if not same_id:  # a new track: unconfirmed on its first detection
        assert back == []
        back = tracker.update(box, score, frames=3)
    assert len(back) == 1
    assert (back[0].track_id == first_id) is same_id


def walk(start_x: float, y: float, px_per_frame: float, size: float, k: int) -> list[float]:
    """A face's box on the k-th detection, 3 frames after the one before."""
    x = start_x + 3 * px_per_frame * k
    return [x, y, x + size, y + size]


@pytest.mark.parametrize(("px_per_frame", "size"), [(4, 16), (6, 24), (8, 24)])
@pytest.mark.parametrize("first_detection", [0, 2])
def test_a_fast_small_face_detected_every_third_frame_keeps_one_id(
    px_per_frame, size, first_detection
):
    """A 16 px face at 4 px a frame, detected every 3rd frame, is 75 % of its width on from
    its last box. Until a track has the velocity, it is matched with the grown boxes (as
    an unconfirmed one is), and an unconfirmed track is predicted so that its second
    detection gives it the velocity. Without that, it got a new id every second detection
    (1, -, 2, -, 3, ...), and each new id restarted its fusion."""
    tracker = ByteTracker(TrackConfig())
    ids = []
    for k in range(16):
        boxes = [walk(40, 100, px_per_frame, size, k)] if k >= first_detection else []
        out = tracker.update(np.array(boxes).reshape(-1, 4), np.full(len(boxes), 0.8), 3)
        ids.append(out[0].track_id if out else None)
    seen = ids[first_detection + (1 if first_detection else 0) :]  # a new track: unconfirmed
    assert None not in seen and len(set(seen)) == 1, ids


def test_two_young_tracks_passing_each_other_keep_their_own_faces():
    """The grown boxes of the young-track fallback do not swap two faces walking past each
    other 30 px apart, detected every 3rd frame from their first frame."""
    tracker = ByteTracker(TrackConfig())
    by_face: dict[str, set[int]] = {"right": set(), "left": set()}
    for k in range(12):
        right, left = walk(60, 100, 4, 24, k), walk(200, 130, -4, 24, k)
        out = tracker.update(np.array([right, left]), np.array([0.8, 0.8]), 3)
        for track in out:
            by_face["right" if track.det_index == 0 else "left"].add(track.track_id)
    assert len(by_face["right"]) == 1 and len(by_face["left"]) == 1, by_face
    assert by_face["right"] != by_face["left"]
