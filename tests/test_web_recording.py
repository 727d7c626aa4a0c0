"""The monitor's recording player and full-screen wipe: each camera's recorded file served
by camera id with Range requests (playable while written when it is a fragmented MP4,
else once the camera ends), a face event opening the recording at its first-seen time,
and the original | AI-enhanced wipe."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path

import av
import httpx
import pytest
from conftest import FAST, wait_for
from synth import read_frames, scene_frame
from test_web_monitor import _browser_missing

from streamproc.core.config import load_config
from streamproc.core.pipeline import Pipeline
from streamproc.io.sinks.file import FileSink
from streamproc.run.job import Job
from streamproc.web.app import MonitorServer

FPS = 12


def _clip_with_late_face(path: Path, n_frames: int, first_face: int) -> Path:
    """A clip whose one face comes in at frame ``first_face`` (so its event does not start
    at 0 s: opening the recording there is a real seek)."""
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        stream.options = {"crf": "18", "preset": "ultrafast"}
        for i in range(n_frames):
            image, _ = scene_frame(i, 320, 240, 1 if i >= first_face else 0, 80)
            frame = av.VideoFrame.from_ndarray(image, format="bgr24")
            frame.pts, frame.time_base = i, Fraction(1, FPS)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


def _hold_writer_at(monkeypatch: pytest.MonkeyPatch, frames: int) -> threading.Event:
    """Every file sink stops writing after ``frames`` frames until the event is set: the
    recording is caught mid-run, however fast the machine."""
    release = threading.Event()
    write = FileSink.write

    def held_write(self: FileSink, packet) -> None:
        if self.frames_written >= frames:
            release.wait(60)
        write(self, packet)

    monkeypatch.setattr(FileSink, "write", held_write)
    return release


@contextmanager
def _served(pipeline: Pipeline) -> Iterator[httpx.Client]:
    server = MonitorServer(pipeline, "127.0.0.1", 0)
    try:
        with httpx.Client(base_url=server.url, timeout=10) as client:
            yield client
    finally:
        server.close()


def _job(clip: Path, out: Path, *overrides: str) -> Job:
    config = load_config(None, [*FAST, *overrides])
    return Job([str(clip)], config, out, preview=True, folder=True)


@pytest.mark.parametrize("fragmented", [True, False])
def test_recording_is_served_by_camera_id_with_ranges(tmp_path, monkeypatch, fragmented):
    """Mid-run a fragmented MP4 is served (206 for a range, the exact bytes; what is there
    decodes), a plain MP4 is refused with the reason the page shows; after the end both
    are served whole. Nothing but the job's own file: unknown cameras are 404."""
    clip = _clip_with_late_face(tmp_path / "in.mp4", 96, 0)
    release = _hold_writer_at(monkeypatch, 72)
    job = _job(clip, tmp_path / "out", f"output.fragmented_mp4={str(fragmented).lower()}")
    sink = job.pipeline.cameras[0].sinks[0]
    with _served(job.pipeline) as client:

        def recording() -> dict:
            return client.get("api/stats").json()["cameras"][0]["recording"]

        try:
            job.start()
            wait_for(lambda: sink.frames_written == 72, 60, "72 frames written")
            if fragmented:
                wait_for(lambda: recording()["ready"], 10, "the first fragments on disk")
                size = sink.path.stat().st_size
                part = client.get("cam/0/recording", headers={"Range": "bytes=100-1099"})
                assert part.status_code == 206
                assert part.headers["content-range"] == f"bytes 100-1099/{size}"
                assert part.headers["content-type"] == "video/mp4"
                assert part.content == sink.path.read_bytes()[100:1100]
                whole = client.get("cam/0/recording")
                (tmp_path / "partial.mp4").write_bytes(whole.content)
                frames, _, _ = read_frames(tmp_path / "partial.mp4")
                assert 24 <= len(frames) <= 72  # whole fragments only: x264 still holds some
            else:
                assert recording() == {
                    "url": "/cam/0/recording",
                    "ready": False,
                    "why": "recording available when the camera ends",
                }
                refused = client.get("cam/0/recording")
                assert refused.status_code == 409
                assert refused.text == "recording available when the camera ends"
            release.set()
            job.finish("finished")
            assert recording()["ready"]
            data = sink.path.read_bytes()
            tail = client.get("cam/0/recording", headers={"Range": f"bytes={len(data) - 500}-"})
            assert tail.status_code == 206 and tail.content == data[-500:]
            whole = client.get("cam/0/recording")
            assert whole.status_code == 200 and whole.content == data
            assert client.get("cam/1/recording").status_code == 404
            assert client.get("cam/..%2F..%2Fetc%2Fpasswd/recording").status_code == 404
        finally:
            release.set()
            if job.pipeline.shared.status not in ("finished", "failed"):
                job.pipeline.request_stop()
                job.finish("interrupted")
    frames, _, _ = read_frames(sink.path)
    assert len(frames) == 96


def test_no_recording_without_an_output(tmp_path):
    """``-o null``: the camera has no recording; the page says so and nothing is served."""
    clip = _clip_with_late_face(tmp_path / "in.mp4", 12, 0)
    job = Job([str(clip)], load_config(None, FAST), "null", preview=True)
    job.start()
    job.finish("finished")
    with _served(job.pipeline) as client:
        assert client.get("api/stats").json()["cameras"][0]["recording"] is None
        assert client.get("cam/0/recording").status_code == 404


def _video_state(page) -> dict:
    return page.locator("#enlarged video").evaluate(
        """v => ({ready: v.readyState, seeking: v.seeking, t: v.currentTime,
                  duration: v.duration, error: v.error && v.error.code,
                  width: v.videoWidth, hidden: v.hidden})"""
    )


def _at(state: dict, time_s: float) -> bool:
    """The player has decoded the frame at ``time_s`` (within a frame)."""
    return state["ready"] >= 2 and not state["seeking"] and abs(state["t"] - time_s) < 1 / FPS


@pytest.mark.skipif(_browser_missing() is not None, reason=str(_browser_missing()))
def test_browser_event_opens_the_recording_at_its_time_and_the_wipe(tmp_path, monkeypatch):
    """Headless Chromium: a face event (a face that comes in at 3 s) opens its crops and the
    camera's recording at its first-seen time, mid-run (the fragmented MP4 being written)
    and after the end; a full-screen tile is a wipe with both captions whose handle follows
    a drag."""
    from playwright.sync_api import sync_playwright
    from test_web_monitor import launch_chromium

    from streamproc.web.app import MonitorServer

    clip = _clip_with_late_face(tmp_path / "in.mp4", 96, 36)
    release = _hold_writer_at(monkeypatch, 84)
    job = _job(clip, tmp_path / "out")
    cam = job.pipeline.cameras[0]
    server = MonitorServer(job.pipeline, "127.0.0.1", 0)
    finished = False
    try:
        job.start()
        with sync_playwright() as pw:
            browser = launch_chromium(
                pw, tmp_path / "profile", viewport={"width": 1100, "height": 700}
            )
            try:
                page = browser.new_page()
                ranges: list[tuple[int, str]] = []
                page.on(
                    "response",
                    lambda r: (
                        ranges.append((r.status, r.headers.get("content-range", "")))
                        if "/recording" in r.url
                        else None
                    ),
                )
                page.goto(server.url, wait_until="domcontentloaded")
                wait_for(lambda: cam.preview.faces(), 60, "the face event")
                first = min(cam.preview.faces(), key=lambda f: f["first_s"])
                event = page.locator(
                    f'.tile[data-cam="0"] figure[data-track="{first["track_id"]}"]'
                )
                wait_for(lambda: event.count() == 1, 10, "the event on the page")
                wait_for(
                    lambda: page.evaluate("() => latest.get('0').recording.ready"),
                    30,
                    "the first fragments of the recording",
                )
                # The writer held mid-file: what x264 has given out for 84 frames is on disk
                # (whole fragments, 2 s each: the face's first frame, 3 s, is in the second).
                wait_for(lambda: cam.sinks[0].frames_written == 84, 60, "84 frames written")
                first_s = first["first_s"]
                assert first_s >= 3.0, first_s

                # Mid-run: the crops, and the recording seeked to the first-seen time.
                event.click()
                wait_for(lambda: page.is_visible("#enlarged"), 10, "the enlarged face")
                for kind in ("original", "enhanced"):
                    wait_for(
                        lambda kind=kind: page.locator(f"#enlarged img.{kind}").evaluate(
                            "img => img.complete && img.naturalWidth > 0"
                        ),
                        10,
                        f"the enlarged {kind} crop",
                    )
                wait_for(lambda: _at(_video_state(page), first_s), 20, "the recording at 3 s")
                state = _video_state(page)
                assert state["error"] is None and state["width"] == 320
                assert state["duration"] < 96 / FPS  # the part written so far
                assert any(status == 206 for status, _ in ranges), ranges
                assert "first seen" in page.inner_text("#enlarged .note")
                page.mouse.click(5, 5)  # outside the player: closes
                wait_for(lambda: not page.is_visible("#enlarged"), 10, "closed")
                assert _video_state(page)["hidden"]

                # After the end: the whole recording, the same seek.
                release.set()
                job.finish("finished")
                finished = True
                event.click()
                wait_for(lambda: _at(_video_state(page), first_s), 20, "the whole recording")
                assert abs(_video_state(page)["duration"] - 96 / FPS) < 0.2
                page.keyboard.press("Escape")
                wait_for(lambda: not page.is_visible("#enlarged"), 10, "closed again")

                # Full-screen: the wipe, captions on both sides of the handle, which follows a
                # drag.
                tile = '.tile[data-cam="0"]'
                grid_width = page.locator(f"{tile} img.video").bounding_box()["width"]
                page.locator(f"{tile} img.video").click()
                wipe = page.locator(f"{tile} .wipe")
                wait_for(lambda: wipe.is_visible(), 10, "the wipe")
                assert page.inner_text(f"{tile} .wipe .cap.original") == "original"
                assert page.inner_text(f"{tile} .wipe .cap.enhanced") == "AI-enhanced"
                for side in ("original", "enhanced"):
                    wait_for(
                        lambda side=side: page.locator(f"{tile} .wipe img.{side}").evaluate(
                            "img => img.complete && img.naturalWidth > 0"
                        ),
                        10,
                        f"the wipe's {side} stream",
                    )
                box = wipe.bounding_box()
                assert box["width"] > 1000
                handle = page.locator(f"{tile} .wipe .handle")

                def handle_share() -> float:
                    h = handle.bounding_box()
                    return (h["x"] + h["width"] / 2 - box["x"]) / box["width"]

                assert abs(handle_share() - 0.5) < 0.01
                y = box["y"] + box["height"] / 2
                shots = {}
                for share in (0.2, 0.9, 0.0, 1.0):
                    start = handle.bounding_box()
                    page.mouse.move(start["x"] + start["width"] / 2, y)
                    page.mouse.down()
                    page.mouse.move(box["x"] + share * box["width"], y, steps=5)
                    page.mouse.up()
                    wait_for(lambda s=share: abs(handle_share() - s) < 0.01, 10, f"at {share}")
                    assert handle.get_attribute("aria-valuenow") == str(round(share * 100))
                    if 0 < share < 1:  # each caption beside the handle, on its side
                        x = box["x"] + share * box["width"]
                        left = page.locator(f"{tile} .wipe .cap.original").bounding_box()
                        right = page.locator(f"{tile} .wipe .cap.enhanced").bounding_box()
                        assert x - 20 < left["x"] + left["width"] < x < right["x"] < x + 20
                    shots[share] = wipe.screenshot()
                # All enhanced (handle left) and all original (handle right) differ.
                assert shots[0.0] != shots[1.0]
                page.keyboard.press("Escape")
                wait_for(
                    lambda: (
                        page.locator(f"{tile} img.video").bounding_box() is not None
                        and page.locator(f"{tile} img.video").bounding_box()["width"] == grid_width
                    ),
                    10,
                    "the grid",
                )
                assert page.locator(f"{tile} .wipe img[src]").count() == 0  # streams closed
            finally:
                browser.close()
    finally:
        release.set()
        if not finished:
            job.pipeline.request_stop()
            job.finish("interrupted")
        server.close()
