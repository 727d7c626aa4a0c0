"""The engine with one input (fake source and stages): threads, queues, drop policy, error
propagation; and the MJPEG preview."""

from __future__ import annotations

import threading
import time
import urllib.request
from fractions import Fraction

import numpy as np
import pytest
from conftest import FAST, wait_for

from streamproc.core.config import load_config
from streamproc.core.packet import Face, FramePacket
from streamproc.core.pipeline import Camera, Pipeline
from streamproc.io.sinks.null import NullSink
from streamproc.io.sources import SourceInfo
from streamproc.run.job import Job


class FakeSource:
    """Frames at ``fps`` (0 = as fast as possible)."""

    def __init__(self, n_frames: int, live: bool, fps: float = 0.0) -> None:
        self.live = live
        self.n_frames, self.fps = n_frames, fps
        self.info = SourceInfo("fake", 64, 48, Fraction(25), Fraction(1, 25), n_frames, False, None)
        self.closed = False

    def frames(self, stop):
        for i in range(self.n_frames):
            if stop.is_set():
                return
            if self.fps:
                time.sleep(1 / self.fps)
            yield FramePacket(
                index=i,
                pts=i,
                time_base=Fraction(1, 25),
                image=np.full((48, 64, 3), i % 256, np.uint8),
                capture_s=time.monotonic(),
            )

    def close(self) -> None:
        self.closed = True


class SlowStage:
    name = "slow"

    def __init__(self, delay_s: float, fail_at: int = -1) -> None:
        self.delay_s, self.fail_at, self.seen = delay_s, fail_at, []
        self.batches = []

    def process(self, packets):
        self.batches.append(len(packets))
        for p in packets:
            if p.index == self.fail_at:
                raise RuntimeError(f"boom at {p.index}")
            self.seen.append(p.index)
        time.sleep(self.delay_s)
        return packets

    def close(self) -> None:
        pass


class Recorder(NullSink):
    def __init__(self) -> None:
        super().__init__()
        self.indices = []

    def write(self, packet):
        super().write(packet)
        self.indices.append(packet.index)


class Passing:
    """A detector or compositor that leaves the frames as they are."""

    def __init__(self, name: str) -> None:
        self.name = name

    def process(self, packets):
        return packets

    def close(self) -> None:
        pass


def engine(
    source: FakeSource,
    enhancer: SlowStage,
    sink: Recorder,
    queue_frames: int,
    live_queue_frames: int,
    max_batch_frames: int = 1,
    max_wait_ms: float = 0.0,
) -> Pipeline:
    """The one engine with one camera, as ``streamproc run INPUT`` builds it."""
    config = load_config(
        None,
        [
            f"pipeline.queue_frames={queue_frames}",
            f"pipeline.live_queue_frames={live_queue_frames}",
            f"enhance.max_batch_frames={max_batch_frames}",
            f"enhance.max_wait_ms={max_wait_ms}",
        ],
    )
    camera = Camera("0", source, [sink], config)
    return Pipeline([camera], Passing("detect"), [enhancer, Passing("composite")], config)


def no_pipeline_threads() -> bool:
    return not [t for t in threading.enumerate() if t.name.startswith("streamproc-")]


def test_file_source_is_lossless_under_backpressure():
    stage, sink = SlowStage(0.002), Recorder()
    pipe = engine(FakeSource(200, live=False), stage, sink, 4, 2)
    pipe.start()
    pipe.finish()
    assert sink.indices == list(range(200))
    assert pipe.stats.dropped == 0
    assert no_pipeline_threads()


def test_live_source_drops_oldest_when_behind():
    stage, sink = SlowStage(0.05), Recorder()
    pipe = engine(FakeSource(150, live=True, fps=200), stage, sink, 2, 2)
    pipe.start()
    depths = []
    while pipe.alive():
        depths.append(pipe.cameras[0].inbox.qsize())
        time.sleep(0.01)
    pipe.finish()
    assert pipe.stats.dropped > 50
    assert pipe.stats.frames_out + pipe.stats.dropped == 150
    assert max(depths) <= 2  # memory bounded
    assert sink.indices == sorted(sink.indices)  # still in order, just fewer
    assert sink.indices[-1] == 149  # the newest frame made it


def test_gather_batches_frames_up_to_limit():
    stage, sink = SlowStage(0.0), Recorder()
    pipe = engine(
        FakeSource(40, live=False), stage, sink, 16, 2, max_batch_frames=4, max_wait_ms=50
    )
    pipe.start()
    pipe.finish()
    assert max(stage.batches) == 4 and sum(stage.batches) == 40
    assert sink.indices == list(range(40))


class SlowSink(Recorder):
    """A writer slower than the stages, so that its camera's outbox fills up."""

    def write(self, packet):
        time.sleep(0.002)
        super().write(packet)


def test_a_full_outbox_does_not_stall_the_detect_worker_until_its_next_poll(monkeypatch):
    """The detect worker takes no frame of a camera whose outbox is full; the writer wakes
    it when it frees a slot. Without that it would sleep out its poll (here 2 s) each time,
    with the reader blocked on the full inbox and no one else to wake it."""
    import streamproc.core.pipeline as engine_module

    monkeypatch.setattr(engine_module, "POLL_S", 2.0)
    sink = SlowSink()
    pipe = engine(FakeSource(60, live=False), SlowStage(0.0), sink, 1, 1)
    assert pipe.cameras[0].outbox.maxsize == 1 + 2  # queue_frames + 2 worker batches of 1
    pipe.start()
    try:
        wait_for(lambda: len(sink.indices) == 60, 20, "all 60 frames written")
    finally:
        pipe.finish()
    assert sink.indices == list(range(60))


def packets_of(cam_id: str, indices: range) -> list[FramePacket]:
    image = np.zeros((48, 64, 3), np.uint8)
    return [FramePacket(i, i, Fraction(1, 25), image, 0.0, source_id=cam_id) for i in indices]


def test_a_live_camera_detects_its_newest_frame_a_file_keeps_the_cadence():
    """every_n_frames=2: a file detects frames 0, 2, 4, ... however it is batched; a live
    camera detects the newest frame of each batch once 2 have passed since its last one,
    so a backlog (batches of several frames) spreads detection out instead of dropping."""
    config = load_config(None, ["detect.every_n_frames=2"])
    live = Camera("live", FakeSource(0, live=True), [NullSink()], config)
    file = Camera("file", FakeSource(0, live=False), [NullSink()], config)
    pipe = Pipeline([live, file], Passing("detect"), [], config)
    cams = {"live": live, "file": file}
    detected = {"live": [], "file": []}
    batches = [range(0, 1), range(1, 2), range(2, 3), range(3, 7), range(7, 8), range(8, 9)]
    for batch in batches:
        pairs = zip(packets_of("live", batch), packets_of("file", batch), strict=True)
        mixed = [p for pair in pairs for p in pair]
        todo, _ = pipe._plan_detection(mixed, cams)
        for packet in todo:
            detected[packet.source_id].append(packet.index)
    assert detected["file"] == [0, 2, 4, 6, 8]
    # Keeping up (one frame a batch): the file's cadence. Behind (3..6 in one batch): only
    # the newest, 6; then 7 is too soon after it and 8 is due.
    assert detected["live"] == [0, 2, 6, 8]


class SmallFaceOn:
    """A detector that finds one face on the frames ``small`` (8 px tall in a 64 px wide
    frame: 80 px at imgsz 640, so not small) or a tiny one (1 px: 10 px at 640)."""

    name = "detect"

    def __init__(self, small: set[int]) -> None:
        self.small, self.calls = small, []

    def process(self, packets):
        self.calls.append([p.index for p in packets])
        for packet in packets:
            height = 1.0 if packet.index in self.small else 8.0
            packet.faces = [Face(np.array([10, 10, 10 + height, 10 + height]), 0.9)]
            packet.detected = True
        return packets

    def close(self) -> None:
        pass


@pytest.mark.parametrize("batches", [[1] * 50, [4] * 12 + [2], [3, 7, 2, 8, 30], [50]])
def test_a_file_detects_tiny_faces_more_often_however_it_is_batched(batches):
    """Every 3rd frame; every 2nd for 30 frames after a detection found a face under 16 px
    in the detector's input: the frames detected depend on the faces, not on the batching
    (a frame whose plan needs an earlier frame's faces waits for that detection)."""
    config = load_config(None, ["detect.every_n_frames=3"])
    assert config.detect.small_face_every_n == 2
    file = Camera("file", FakeSource(0, live=False), [NullSink()], config)
    detector = SmallFaceOn(small={6, 8})
    pipe = Pipeline([file], detector, [], config)
    detected, start = [], 0
    for size in batches:
        batch = packets_of("file", range(start, start + size))
        todo, done = pipe._plan_detection(batch, {"file": file})
        pipe._detect_and_track(batch, todo, {"file": file}, done)
        detected += [p.index for p in todo]
        start += size
    # A tiny face on 6 and 8: every 2nd frame up to 38 (30 after 8), then every 3rd again.
    assert detected == [0, 3, 6, *range(8, 39, 2), 41, 44, 47]
    assert sorted(i for call in detector.calls for i in call) == detected  # each once


class WaitsForCarried:
    """A detector that, before detecting a frame, waits until the frames before it have
    been written: they were carried by the tracker, and must not wait for detection."""

    name = "detect"

    def __init__(self, sink: Recorder) -> None:
        self.sink, self.calls = sink, []

    def process(self, packets):
        newest = packets[-1].index
        self.calls.append(newest)
        wait_for(lambda: set(range(newest)) <= set(self.sink.indices), 10, "carried frames")
        return packets

    def close(self) -> None:
        pass


def test_a_live_backlog_hands_on_carried_frames_before_detecting_the_newest():
    source = FakeSource(12, live=True)  # all at once: one backlog of frames
    sink = Recorder()
    config = load_config(
        None,
        [
            "pipeline.live_queue_frames=16",
            "pipeline.queue_frames=16",
            "enhance.max_batch_frames=16",
            "enhance.max_wait_ms=200",
        ],
    )
    camera = Camera("0", source, [sink], config)
    detector = WaitsForCarried(sink)
    pipe = Pipeline([camera], detector, [Passing("composite")], config)
    pipe.start()
    pipe.finish()
    assert sink.indices == list(range(12)) and pipe.stats.dropped == 0
    # One backlog (a slow reader thread may make it two or three): its newest frame is
    # detected, the rest were written before that (WaitsForCarried would time out).
    assert detector.calls[-1] == 11 and len(detector.calls) <= 3


def test_first_error_stops_every_thread_and_is_reraised():
    source = FakeSource(10_000, live=False)
    stage = SlowStage(0.0, fail_at=25)
    pipe = engine(source, stage, Recorder(), 4, 2)
    pipe.start()
    with pytest.raises(RuntimeError, match="boom at 25"):
        pipe.finish()
    assert source.closed
    assert no_pipeline_threads()
    assert pipe.stats.frames_in < 10_000


def test_stage_error_still_leaves_a_playable_file(long_clip, tmp_path, monkeypatch):
    from synth import read_frames

    from streamproc.vision.composite import Compositor

    original = Compositor.process
    failed_at: list[int] = []

    def failing(self, packets):
        if any(p.index >= 30 for p in packets):
            # Fail once every frame before this batch has been written (a condition, not
            # a race between the writer and the abort): all of them must stay in the file.
            first = min(p.index for p in packets)
            deadline = time.monotonic() + 30
            while job.stats.frames_out < first and time.monotonic() < deadline:
                time.sleep(0.01)
            failed_at.append(first)
            raise RuntimeError("composite failed")
        return original(self, packets)

    monkeypatch.setattr(Compositor, "process", failing)
    out = tmp_path / "partial.mp4"
    job = Job([str(long_clip)], load_config(None, FAST), out)
    job.start()
    with pytest.raises(RuntimeError, match="composite failed"):
        job.finish("finished")
    frames, pts, _ = read_frames(out)
    assert failed_at and len(frames) == failed_at[0] <= 30
    import json

    assert json.loads((tmp_path / "partial.mp4.manifest.json").read_text())["status"] == "failed"
    assert no_pipeline_threads()


def test_mjpeg_preview_serves_frames_on_loopback(long_clip, tmp_path):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = load_config(None, [*FAST, f"output.mjpeg_port={port}"])
    job = Job([str(long_clip)], config, tmp_path / "o.mp4")
    assert job.mjpeg_url == f"http://127.0.0.1:{port}/stream.mjpg"
    job.start()
    try:
        with urllib.request.urlopen(job.mjpeg_url, timeout=20) as response:
            assert response.headers["Content-Type"].startswith("multipart/x-mixed-replace")
            data = b""
            while data.count(b"\xff\xd9") < 2:
                data += response.read(4096)
    finally:
        job.pipeline.request_stop()
        job.finish("interrupted")
    start = data.index(b"\xff\xd8")
    import cv2

    image = cv2.imdecode(np.frombuffer(data[start : data.index(b"\xff\xd9") + 2], np.uint8), 1)
    assert image.shape == (240, 320, 3)


def test_dashboard_renders_stage_rows():
    from rich.console import Console

    from streamproc.run.dashboard import Dashboard

    stage, sink = SlowStage(0.0), Recorder()
    pipe = engine(FakeSource(30, live=False), stage, sink, 4, 2)
    pipe.start()
    pipe.finish()
    console = Console(record=True, width=120)
    console.print(Dashboard(pipe, "fake", 30).render())
    text = console.export_text()
    assert "enhance" in text and "write" in text and "30/30 frames" in text
    assert "dropped 0" in text


def test_http_mjpeg_stream_as_input(long_clip, tmp_path):
    """An HTTP camera (MJPEG): our own preview stream read back as a live source."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    camera = Job(
        [str(long_clip)],
        load_config(None, [*FAST, f"output.mjpeg_port={port}"]),
        tmp_path / "camera.mp4",
    )
    camera.start()
    try:
        viewer = Job(
            [camera.mjpeg_url],
            load_config(None, [*FAST, "source.reconnect=false"]),
            tmp_path / "viewer.mp4",
        )
        assert viewer.source.live
        viewer.start()
        wait_for(lambda: viewer.stats.frames_out >= 5, 30, "frames from the viewer")
        viewer.pipeline.request_stop()
        (summary,) = viewer.finish("interrupted")
    finally:
        camera.pipeline.request_stop()
        camera.finish("interrupted")
    assert summary["frames_out"] >= 5
    from synth import read_frames

    frames, pts, _ = read_frames(tmp_path / "viewer.mp4")
    assert len(frames) == summary["frames_out"] and frames[0].shape == (240, 320, 3)
    assert pts == sorted(pts)


class StuckStage(SlowStage):
    """Blocks inside ``process`` until released: a thread that will not stop."""

    def __init__(self) -> None:
        super().__init__(0.0)
        self.inside, self.release, self.closed = threading.Event(), threading.Event(), False

    def process(self, packets):
        self.inside.set()
        self.release.wait(60)
        return packets

    def close(self) -> None:
        self.closed = True


def test_a_thread_that_will_not_stop_keeps_what_it_uses(monkeypatch):
    """finish() gives up on a stuck thread with a clear error, and does not close the stage
    it is inside (closing a model under a running thread can crash the process)."""
    import streamproc.core.pipeline as engine_module

    monkeypatch.setattr(engine_module, "STOP_TIMEOUT_S", 0.05)
    stage, source = StuckStage(), FakeSource(50, live=False)
    pipe = engine(source, stage, Recorder(), 4, 2)
    pipe.start()
    try:
        wait_for(stage.inside.is_set, 10, "the stage to get stuck")
        pipe.request_stop()
        with pytest.raises(TimeoutError, match="did not stop"):
            pipe.finish()
        assert not stage.closed
    finally:
        stage.release.set()
        pipe.join(10)
    assert no_pipeline_threads()
