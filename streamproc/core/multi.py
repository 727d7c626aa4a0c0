"""The engine, for 1..N inputs: per-camera reader and writer threads, shared workers.

``streamproc run INPUT`` is this engine with one camera (:class:`streamproc.run.job.Job`);
several inputs, ``--serve`` and ``fleet`` groups are N cameras (:class:`MultiJob`).

Each camera has its own source, reader thread, input queue, output queue, writer thread,
sinks and manifest. Detection, enhancement and compositing are done once for all cameras,
by two shared workers: the detect worker takes frames round-robin from every camera and
detects them in one call (then tracks them per camera); the enhance worker enhances and
composites the batch in one call while the detect worker already works on the next. So N
cameras cost less than N pipelines, and detection overlaps enhancement as in
``streamproc run`` with one input.

Tracks are per camera: each camera has its own :class:`FaceTracker`, and detection every
``detect.every_n_frames`` is counted per camera. The worker never blocks on one camera:
it only takes a frame from a camera whose output queue has room for it (counting the
frames of that camera still between the two workers), and a camera that is
slow, reconnecting or finished simply contributes no frames. A source or sink failing
ends that camera (status ``failed``); a failing shared stage stops every camera (the
first error wins and is re-raised by :meth:`MultiPipeline.finish`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from streamproc.audit.manifest import ManifestRecorder, manifest_path, models_info, run_header
from streamproc.core import pipeline as pipeline_module
from streamproc.core.config import Config, dump_config
from streamproc.core.errors import InputError, OutputError
from streamproc.core.events import FaceEvents
from streamproc.core.packet import FramePacket
from streamproc.core.pipeline import (
    EOS,
    POLL_S,
    FirstError,
    Stage,
    Threads,
    put_drop_oldest,
    put_unless_aborted,
    split_by_faces,
)
from streamproc.core.stats import PipelineStats
from streamproc.io.sinks import Sink
from streamproc.io.sinks.file import FileSink
from streamproc.io.sinks.images import ImageSink
from streamproc.io.sinks.mjpeg import MjpegSink
from streamproc.io.sinks.null import NullSink
from streamproc.io.sinks.rotating import RotatingFileSink
from streamproc.io.sources import Source, open_source
from streamproc.io.sources.images import ImageSource
from streamproc.io.sources.urls import mask_url
from streamproc.run.job import (
    NULL_OUTPUTS,
    default_output,
    existing_output,
    overwrites_input,
    write_error,
)
from streamproc.vision.composite import Compositor
from streamproc.vision.detect import FaceDetector
from streamproc.vision.enhance.stage import EnhanceStage
from streamproc.vision.track import FaceTracker

log = logging.getLogger(__name__)

VIEWS = ("enhanced", "original", "side")
FACES_SHOWN = 50  # operator #16: tracks kept per camera for the monitor's event list


class Preview:
    """The newest frame of one camera, as JPEG on demand (encoded once per view and frame).

    The writer thread publishes arrays; web clients ask for JPEG bytes. Nothing here ever
    blocks the pipeline: a slow viewer just skips frames.
    """

    def __init__(self, quality: int) -> None:
        self._lock = threading.Lock()
        self._quality = quality
        self.seq = 0
        self._frames: tuple[np.ndarray, np.ndarray] | None = None
        self._jpeg: dict[str, bytes] = {}
        self.events = FaceEvents(FACES_SHOWN)  # operator #16: one event per track
        self.closed = False

    def publish(self, packet: FramePacket, original: np.ndarray | None) -> None:
        self.events.add(packet, original)  # operator #16
        with self._lock:
            self._frames = (packet.image, packet.image if original is None else original)
            self._jpeg = {}
            self.seq += 1

    def jpeg(self, view: str) -> tuple[int, bytes | None]:
        """(seq, JPEG of the newest frame in ``view``), or (0, None) before the first frame."""
        with self._lock:
            seq, frames, cached = self.seq, self._frames, self._jpeg.get(view)
        if frames is None:
            return 0, None
        if cached is not None:
            return seq, cached
        enhanced, original = frames
        if view == "original":
            image = original
        elif view == "side" and original.shape == enhanced.shape:
            image = np.hstack([original, enhanced])
        else:
            image = enhanced
        ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, self._quality])
        jpeg = data.tobytes() if ok else None
        with self._lock:
            if self.seq == seq and jpeg is not None:
                self._jpeg[view] = jpeg
        return seq, jpeg

    def faces(self) -> list[dict[str, Any]]:
        """operator #16: one event per track, newest track first."""
        return self.events.list()

    def face_jpeg(self, track_id: int, kind: str = "enhanced") -> bytes | None:
        return self.events.jpeg(track_id, kind)  # operator #16


class Camera:
    """One source with its own threads, queues, sinks, manifest and stats."""

    def __init__(
        self,
        cam_id: str,
        spec: str,
        source: Source,
        output: Path | None,
        config: Config,
        preview: bool,
        sinks: list[Sink] | None = None,
        record: Callable[[FramePacket], None] | None = None,
        track: bool = True,
    ) -> None:
        """``sinks``: built by the caller (default: from ``output`` and the config);
        ``record``: called with each written frame (default: this camera's manifest);
        ``track``: False for unrelated images (``--faces``)."""
        self.id, self.spec, self.source, self.config = cam_id, spec, source, config
        self.null_output = output is None
        self.output = output
        self.stats = PipelineStats()
        self.recorder = ManifestRecorder()
        pcfg = config.pipeline
        self.live = source.live
        self.inbox: queue.Queue = queue.Queue(
            maxsize=pcfg.live_queue_frames if self.live else pcfg.queue_frames
        )
        self.outbox: queue.Queue = queue.Queue(maxsize=pcfg.queue_frames)
        self.tracker = FaceTracker(config.track) if track else None
        self.frames_seen = 0  # for detect.every_n_frames, counted per camera
        self.preview = Preview(config.serve.jpeg_quality) if preview else None
        self.reader_done = False
        self.error: BaseException | None = None
        # -- operator #16: the name shown (set by the CLI; default the source's name) and
        # whether the source ended by itself (a file at its end), not by a stop.
        self.label = ""
        self.source_ended = False
        # -- end operator #16
        # Set by the pipeline once its models are loaded: (status, error) -> manifest header.
        self.header_fn: Callable[[str, BaseException | None], dict[str, Any]] | None = None
        self.sinks = self._sinks() if sinks is None else sinks
        self.rotating = isinstance(self.sinks[0], RotatingFileSink)
        if record is None and not self.null_output and config.output.manifest:
            record = None if self.rotating else self.recorder.record
        self.record = record

    @property
    def name(self) -> str:
        return self.label or self.source.info.name  # operator #16: label

    @property
    def status(self) -> str:
        """starting | live | reconnecting | running | ended | failed."""
        if self.error is not None:
            return "failed"
        if self.stats.status in ("finished", "failed"):
            return "ended" if self.stats.status == "finished" else "failed"
        if self.reader_done:
            return "ended"
        source_status = getattr(self.source, "status", "running")
        if self.stats.frames_in == 0:
            return "connecting" if source_status == "connecting" else "starting"
        return source_status

    def _sinks(self) -> list[Sink]:
        """The output sink, then (with ``output.mjpeg_port``) this camera's MJPEG preview
        on port ``mjpeg_port + camera index``, as a single-input run has on the port."""
        out_cfg = self.config.output
        sinks = [self._output_sink()]
        if out_cfg.mjpeg_port:
            try:
                port = out_cfg.mjpeg_port + int(self.id)
                sinks.append(MjpegSink(out_cfg.mjpeg_host, port, out_cfg.mjpeg_quality))
            except BaseException:
                sinks[0].close()
                raise
        return sinks

    def _output_sink(self) -> Sink:
        if self.null_output:
            return NullSink()
        if isinstance(self.source, ImageSource):
            return ImageSink(self.output, self.source.names)
        out_cfg = self.config.output
        if self.live and out_cfg.rotate_s > 0:
            header = self._part_header if out_cfg.manifest else None
            return RotatingFileSink(self.output, self.source.info, out_cfg, header)
        return FileSink(self.output, self.source.info, out_cfg, self.live)

    @property
    def mjpeg_url(self) -> str | None:
        return next((s.url for s in self.sinks if isinstance(s, MjpegSink)), None)

    def _part_header(self, status: str, error: BaseException | None) -> dict[str, Any]:
        assert self.header_fn is not None, "models are loaded before any frame is written"
        return self.header_fn(status, error)


class MultiPipeline:
    """Readers -> shared detect+track worker -> shared enhance+composite worker ->
    per-camera writers. One input is one camera."""

    def __init__(
        self,
        cameras: Sequence[Camera],
        stages: tuple[Stage, Stage, Stage],
        config: Config,
        preview: bool = False,
        unopened: Sequence[dict[str, str]] = (),
        every_n_frames: int | None = None,
    ) -> None:
        """``stages``: (detector, enhancer, compositor), shared by every camera; the
        detector detects every frame it is given (``every_n_frames``, default
        ``detect.every_n_frames``, is applied per camera here)."""
        self.config = config
        self.shared = PipelineStats()  # the shared stages' timings, all cameras together
        self.stop = threading.Event()
        self.abort = threading.Event()
        self._wake = threading.Event()
        self._errors = FirstError(self.stop, self.abort)
        self._preview = preview
        self._threads = Threads()
        # Detected batches waiting for the enhance worker, and per camera the frames taken
        # from its inbox but not yet in its outbox (they hold a reserved outbox slot).
        self._detected: queue.Queue = queue.Queue(maxsize=2)
        self._in_flight_lock = threading.Lock()
        self.cameras = list(cameras)
        self.unopened = list(unopened)  # {"id", "name", "error"} per skipped camera
        self.detector, self.enhancer, self.compositor = stages
        self.every_n_frames = every_n_frames or config.detect.every_n_frames
        self.max_frames = max(config.enhance.max_batch_frames, len(self.cameras))
        self._in_flight = {cam.id: 0 for cam in self.cameras}
        self._cams = {cam.id: cam for cam in self.cameras}

    @property
    def stats(self) -> PipelineStats:
        """With one camera, its counters (what a caller of one input reads); with several,
        the shared stages' (:attr:`shared`; each camera has its own ``stats``)."""
        return self.cameras[0].stats if len(self.cameras) == 1 else self.shared

    @classmethod
    def open(
        cls,
        specs: Sequence[str],
        config: Config,
        output: str | None = None,
        preview: bool = False,
        skip_unopenable: bool = False,
        overwrite: bool = True,
    ) -> MultiPipeline:
        """``output``: the folder for every camera's output (default ``out/``) or 'null'.
        ``overwrite``: False refuses a camera output that already exists.

        ``skip_unopenable``: a live camera that does not answer yet is waited for (status
        ``connecting``, retried with backoff); any other input that cannot be opened is
        reported (in ``unopened`` and the snapshot, status ``failed``) while the others
        run. By default either fails the whole pipeline, and it always does when no camera
        opens.
        """
        cameras: list[Camera] = []
        unopened: list[dict[str, str]] = []
        taken: set[Path] = set()
        try:
            for i, spec in enumerate(specs):
                try:
                    # Lenient runs also wait for cameras that are down at start-up.
                    source = open_source(spec, config.source, wait_for_camera=skip_unopenable)
                except InputError as err:
                    if not skip_unopenable or (not cameras and i == len(specs) - 1):
                        raise
                    log.error("camera %s not started: %s", i, err)
                    unopened.append(
                        {"id": str(i), "name": mask_url(spec), "error": mask_url(str(err))}
                    )
                    continue
                try:
                    path = camera_output(spec, source, output, i, taken, overwrite)
                    camera = Camera(str(i), spec, source, path, config, preview)
                except BaseException:
                    source.close()
                    raise
                cameras.append(camera)
            stages = shared_stages(config)
        except BaseException:
            close_cameras(cameras)
            raise
        pipeline = cls(cameras, stages, config, preview, unopened)
        pipeline.models = models_info(pipeline.detector, pipeline.enhancer.generator)
        for cam in cameras:
            cam.header_fn = functools.partial(pipeline.camera_header, cam)
        return pipeline

    def camera_header(
        self,
        cam: Camera,
        status: str,
        error: BaseException | None,
        summary: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The manifest header of one camera's run (so far)."""
        summary = cam.stats.summary() if summary is None else summary
        header = run_header(status, error, cam.source, self.models, self.config, summary)
        header["camera"] = {"id": cam.id, "cameras_in_process": len(self.cameras)}
        return header

    # -- control -------------------------------------------------------------------------
    def request_stop(self) -> None:
        self.stop.set()

    def _fail(self, err: BaseException) -> None:
        self._errors.record(err)

    def _put(self, q: queue.Queue, item: object) -> bool:
        return put_unless_aborted(q, item, self.abort)

    @staticmethod
    def _put_drop_oldest(q: queue.Queue, item: object, stats: PipelineStats) -> None:
        stats.dropped += put_drop_oldest(q, item)

    # -- threads -------------------------------------------------------------------------
    def _read(self, cam: Camera) -> None:
        try:
            for packet in cam.source.frames(self.stop):
                packet.source_id = cam.id
                cam.stats.frames_in += 1
                cam.stats.last_frame_s = time.monotonic()  # operator #16
                if cam.live:
                    self._put_drop_oldest(cam.inbox, packet, cam.stats)
                elif not self._put(cam.inbox, packet):
                    return
                self._wake.set()
                if self.stop.is_set():
                    break
            else:  # operator #16: the source ran out (a file's end), not stopped
                cam.source_ended = not self.stop.is_set()
        except Exception as err:  # noqa: BLE001 - a dead camera ends only itself
            log.error("camera %s (%s) failed: %s", cam.id, cam.name, err)
            cam.error = err
        finally:
            cam.reader_done = True
            if cam.live:
                self._put_drop_oldest(cam.inbox, EOS, cam.stats)
            else:
                self._put(cam.inbox, EOS)
            self._wake.set()

    def _take(self, active: list[Camera], start: int) -> tuple[list[FramePacket], list[Camera]]:
        """Round-robin: at most one frame per camera per pass, until the batch is full.

        A camera whose output queue is full (with its frames in flight) is skipped, never
        waited on, so a slow writer holds back only its own camera. Each frame taken
        reserves a slot in its camera's output queue until the enhance worker fills it.
        Returns the frames and the cameras that ended.
        """
        packets: list[FramePacket] = []
        ended: list[Camera] = []
        for cam in active:  # memory and latency: the most frames ever queued, per stage
            cam.stats.note_waiting("detect", cam.inbox.qsize())
        with self._in_flight_lock:
            room = {
                cam.id: cam.outbox.maxsize - cam.outbox.qsize() - self._in_flight[cam.id]
                for cam in active
            }
        progress = True
        while progress and len(packets) < self.max_frames:
            progress = False
            for k in range(len(active)):
                cam = active[(start + k) % len(active)]
                if cam in ended or room[cam.id] <= 0 or len(packets) >= self.max_frames:
                    continue
                try:
                    item = cam.inbox.get_nowait()
                except queue.Empty:
                    continue
                if item is EOS:
                    ended.append(cam)
                    continue
                packets.append(item)
                room[cam.id] -= 1
                with self._in_flight_lock:
                    self._in_flight[cam.id] += 1
                progress = True
        return packets, ended

    def _gather(self, active: list[Camera], start: int) -> tuple[list[FramePacket], list[Camera]]:
        """Wait for the first frame from any camera, then up to ``max_wait_ms`` for more."""
        packets: list[FramePacket] = []
        ended: list[Camera] = []
        while not (packets or ended):
            if self.abort.is_set():
                return [], []
            self._wake.clear()
            packets, ended = self._take(active, start)
            if not (packets or ended):
                self._wake.wait(POLL_S)
        deadline = time.monotonic() + self.config.enhance.max_wait_ms / 1000
        while len(packets) < self.max_frames and time.monotonic() < deadline:
            still = [c for c in active if c not in ended]
            if not still:  # every camera has ended: nothing more will come
                break
            self._wake.clear()
            self._wake.wait(max(0.0, deadline - time.monotonic()))
            more, more_ended = self._take(still, start)
            packets += more
            ended += more_ended
        return packets, ended

    def _timed(self, name: str, packets: list[FramePacket], fn) -> list[FramePacket]:
        t0 = time.perf_counter()
        out = fn(packets)
        elapsed = time.perf_counter() - t0
        self.shared.stage(name).add(len(packets), elapsed)
        share_ms = 1000 * elapsed / max(1, len(packets))
        for packet in packets:
            packet.timings_ms[name] = packet.timings_ms.get(name, 0.0) + share_ms
        # Each camera's stats get its frames' share of the measured call (one writer per
        # stage and camera: this worker).
        per_camera: dict[str, int] = {}
        for packet in packets:
            per_camera[packet.source_id] = per_camera.get(packet.source_id, 0) + 1
        for cam_id, frames in per_camera.items():
            self._cams[cam_id].stats.stage(name).add(frames, elapsed * frames / len(packets))
        return out

    def _detect_and_track(self, packets: list[FramePacket], cams: dict[str, Camera]) -> None:
        """Detect (one call for every camera's frames), then track per camera."""
        every_n = self.every_n_frames
        todo = []
        for packet in packets:
            cam = cams[packet.source_id]
            if cam.frames_seen % every_n == 0:
                todo.append(packet)
            cam.frames_seen += 1
        if todo:
            self._timed("detect", todo, self.detector.process)
        for cam_id in dict.fromkeys(p.source_id for p in packets):
            tracker = cams[cam_id].tracker
            if tracker is not None:
                mine = [p for p in packets if p.source_id == cam_id]
                self._timed("track", mine, tracker.process)

    def _detect_work(self) -> None:
        """Gather frames across cameras, detect + track them, hand the batch on."""
        cams = {cam.id: cam for cam in self.cameras}
        active = list(self.cameras)
        start = 0
        try:
            while active and not self.abort.is_set():
                packets, ended = self._gather(active, start)
                start += 1
                if packets:
                    self.shared.frames_in += len(packets)
                    self.shared.stage("batch").add(len(packets), 0.0)
                    self._detect_and_track(packets, cams)
                for cam in ended:
                    active.remove(cam)
                if (packets or ended) and not self._put(self._detected, (packets, ended)):
                    return
        except Exception as err:  # noqa: BLE001 - a shared stage failing stops everything
            self._fail(err)
        finally:
            self._put(self._detected, EOS)

    def _enhance_work(self) -> None:
        """Enhance + composite each detected batch (one call), deliver frames and EOS."""
        cams = {cam.id: cam for cam in self.cameras}
        closing: list[Camera] = []  # ended cameras whose writer has not taken the EOS yet
        closed: set[str] = set()
        detect_done = False
        try:
            while not (detect_done and not closing) and not self.abort.is_set():
                # Never wait on one camera's writer: hand over the EOS when there is room.
                for cam in list(closing):
                    try:
                        cam.outbox.put_nowait(EOS)
                        closing.remove(cam)
                        closed.add(cam.id)
                    except queue.Full:
                        pass
                try:
                    item = self._detected.get(timeout=POLL_S)
                except queue.Empty:
                    continue
                if item is EOS:
                    detect_done = True
                    continue
                packets, ended = item
                for group in split_by_faces(packets, self.config.enhance.max_batch):
                    self._enhance(group, cams)
                closing += ended
        except Exception as err:  # noqa: BLE001 - a shared stage failing stops everything
            self._fail(err)
        finally:
            # Only an abort leaves a camera unclosed, and its writer leaves on the abort:
            # the EOS is a courtesy, never a reason to drop (and count, from this thread,
            # in the reader's ``dropped``) a frame that is waiting to be written.
            for cam in self.cameras:
                if cam.id not in closed:
                    with contextlib.suppress(queue.Full):
                        cam.outbox.put_nowait(EOS)

    def _enhance(self, packets: list[FramePacket], cams: dict[str, Camera]) -> None:
        """Enhance + composite frames (one call each) and hand each to its camera."""
        originals = [p.image.copy() if self._preview else None for p in packets]
        self._timed("enhance", packets, self.enhancer.process)
        self._timed("composite", packets, self.compositor.process)
        for packet, original in zip(packets, originals, strict=True):
            cam = cams[packet.source_id]
            # The slot was reserved in _take: this never waits on a slow camera.
            cam.outbox.put_nowait((packet, original))
            with self._in_flight_lock:
                cam.stats.note_waiting("enhance", self._in_flight[cam.id])
                self._in_flight[cam.id] -= 1

    def _write(self, cam: Camera) -> None:
        stats = cam.stats.stage("write")
        try:
            while not self.abort.is_set():
                cam.stats.note_waiting("write", cam.outbox.qsize())
                try:
                    item = cam.outbox.get(timeout=POLL_S)
                except queue.Empty:
                    continue
                if item is EOS:
                    cam.stats.finished_s = time.monotonic()  # operator #16: its own end
                    return
                item, original = item
                t0 = time.perf_counter()
                for sink in cam.sinks:
                    sink.write(item)
                stats.add(1, time.perf_counter() - t0)
                cam.stats.frames_out += 1
                cam.stats.faces += len(item.faces)
                cam.stats.faces_enhanced += sum(f.enhanced is not None for f in item.faces)
                cam.stats.latency_ms.append(1000 * (time.monotonic() - item.capture_s))
                if cam.record is not None:
                    cam.record(item)
                if cam.preview is not None:
                    cam.preview.publish(item, original)
        except Exception as err:  # noqa: BLE001 - a failing sink ends only its camera
            log.error("camera %s output failed: %s", cam.id, err)
            cam.error = err
            # Keep draining so the shared worker never waits on this camera.
            while not self.abort.is_set():
                try:
                    if cam.outbox.get(timeout=POLL_S) is EOS:
                        return
                except queue.Empty:
                    continue

    # -- run -----------------------------------------------------------------------------
    def start(self) -> None:
        now = time.monotonic()
        self.shared.status, self.shared.started_s = "running", now
        for cam in self.cameras:
            cam.stats.status, cam.stats.started_s = "running", now
            names = ("detect", "track", "enhance", "composite", "write")
            for name in names if cam.tracker is not None else names[:1] + names[2:]:
                cam.stats.stage(name)  # in pipeline order, for the dashboard and summary
            self._threads.start(f"read-{cam.id}", self._read, cam)
            self._threads.start(f"write-{cam.id}", self._write, cam)
        self._threads.start("shared-detect", self._detect_work)
        self._threads.start("shared-enhance", self._enhance_work)

    def alive(self) -> bool:
        return self._threads.alive()

    def join(self, timeout_s: float | None = None) -> bool:
        return self._threads.join(timeout_s)

    def queue_depths(self) -> dict[str, int]:
        """Frames waiting in front of the shared workers and of the writers."""
        return {
            "detect": sum(cam.inbox.qsize() for cam in self.cameras),
            "enhance": self._detected.qsize(),
            "write": sum(cam.outbox.qsize() for cam in self.cameras),
        }

    def finish_without_start(self) -> None:
        """Release stages, sinks and sources of a pipeline that never started."""
        self.abort.set()
        self.finish()

    def finish(self) -> None:
        """Join the threads, close stages, sinks and sources; re-raise the first error."""
        timeout_s = pipeline_module.STOP_TIMEOUT_S  # read now: tests shrink it
        try:
            if not self.join(timeout_s=timeout_s):
                self._fail(TimeoutError(f"pipeline threads did not stop within {timeout_s:g} s"))
                self.join(timeout_s=5)
        finally:
            now = time.monotonic()
            self.shared.finished_s = now
            errors = []
            for closer in (self.detector.close, self.enhancer.close, self.compositor.close):
                try:
                    closer()
                except Exception as err:  # noqa: BLE001
                    errors.append(err)
            errors += close_cameras(self.cameras)
            for cam in self.cameras:
                cam.stats.finished_s = cam.stats.finished_s or now  # operator #16
                cam.stats.status = "failed" if cam.error or self._errors.error else "finished"
            self.shared.status = "failed" if (self._errors.error or errors) else "finished"
        if self._errors.error is not None:
            raise self._errors.error
        if errors:
            raise errors[0]


def shared_stages(config: Config) -> tuple[FaceDetector, EnhanceStage, Compositor]:
    """Detector, enhancer, compositor for several cameras (every_n_frames is applied per
    camera, so the shared detector detects every frame it is given)."""
    detector = FaceDetector(dataclasses.replace(config.detect, every_n_frames=1))
    try:
        return detector, EnhanceStage(config.enhance), Compositor(config.composite)
    except BaseException:
        detector.close()
        raise


def close_cameras(cameras: Sequence[Camera]) -> list[BaseException]:
    """Close every camera's tracker, sinks and source; return the errors."""
    errors: list[BaseException] = []
    for cam in cameras:
        closers = [*(s.close for s in cam.sinks), cam.source.close]
        if cam.tracker is not None:
            closers.insert(0, cam.tracker.close)
        for closer in closers:
            try:
                closer()
            except Exception as err:  # noqa: BLE001 - close everything, report the first
                errors.append(err)
        if cam.preview is not None:
            cam.preview.closed = True
    return errors


def camera_output(
    spec: str,
    source: Source,
    output: str | None,
    index: int,
    taken: set[Path],
    overwrite: bool = True,
) -> Path | None:
    """The output of camera ``index``: named as a single-source run would name it, inside
    the folder ``output`` (default ``out/``), prefixed ``camN-`` if two cameras collide."""
    if output in NULL_OUTPUTS:
        return None
    path = default_output(spec, source, Path(output) if output else Path("out"))
    if path in taken:
        path = path.with_name(f"cam{index}-{path.name}")
    taken.add(path)
    if overwrites_input(path, source.info.path):
        raise OutputError(f"output {path} would overwrite the input")
    if not overwrite and path.exists():
        raise existing_output(path)
    return path


class MultiJob:
    """Several inputs, one shared pipeline, a file + manifest + config per camera."""

    def __init__(
        self,
        specs: Sequence[str],
        config: Config,
        output: str | None = None,
        preview: bool = False,
        skip_unopenable: bool = False,
        overwrite: bool = True,
    ) -> None:
        self.config = config
        self.pipeline = MultiPipeline.open(
            specs, config, output, preview, skip_unopenable, overwrite
        )
        self.outputs = [cam.output for cam in self.pipeline.cameras]

    def start(self) -> None:
        for path in self.outputs:
            if path is None:
                continue
            config_file = path.with_name(path.name + ".config.yaml")
            try:
                config_file.parent.mkdir(parents=True, exist_ok=True)
                config_file.write_text(dump_config(self.config))
            except OSError as err:
                self.pipeline.abort.set()
                self.pipeline.finish()
                raise write_error(config_file, err) from None
        self.pipeline.start()

    def finish(self, status: str) -> list[dict[str, Any]]:
        """Close everything, write one manifest per camera; return per-camera summaries."""
        error: BaseException | None = None
        try:
            self.pipeline.finish()
        except BaseException as err:
            error, status = err, "failed"
        summaries = []
        for cam in self.pipeline.cameras:
            summary = cam.stats.summary()
            summary["status"] = cam.status
            summaries.append(summary)
            if cam.null_output or not self.config.output.manifest:
                continue
            cam_status = "failed" if cam.error is not None else status
            done = cam.stats.frames_out + cam.stats.dropped >= cam.stats.frames_in
            ended_before = cam.source_ended and done  # operator #16: all written
            if cam.error is None and status == "interrupted" and ended_before:
                cam_status = "finished"  # it had ended before the stop: not interrupted
            try:
                self._write_manifest(cam, cam_status, summary, error or cam.error)
            except OSError as err:
                # Keep the first error (often the same full disk) as the one reported.
                error = error or write_error(manifest_path(cam.output), err)
        if error is not None:
            raise error
        return summaries

    def _write_manifest(
        self, cam: Camera, status: str, summary: dict, error: BaseException | None
    ) -> None:
        if cam.rotating:
            cam.sinks[0].finish(status, error)
            return
        header = self.pipeline.camera_header(cam, status, error, summary)
        out = cam.output
        outputs = [out] if out.is_file() else sorted(getattr(cam.sinks[0], "written", []))
        try:
            cam.recorder.write(manifest_path(out), header, outputs)
        finally:
            cam.recorder.close()
