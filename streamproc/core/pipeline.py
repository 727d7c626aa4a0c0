"""The one engine, for 1..N sources: per-camera reader and writer threads, shared workers.

Each camera has its own source, reader thread, input queue, output queue, writer thread,
sinks and tracker; ``streamproc run INPUT`` is one camera, several inputs, ``--serve`` and
``fleet`` groups are N (:class:`streamproc.run.job.Job` builds them). Detection,
enhancement and compositing are done once for all cameras, by two shared workers: the
detect worker takes frames round-robin from every camera and detects them in one call
(then tracks them per camera); the enhance worker enhances and composites the batch in
one call while the detect worker already works on the next, as DeepStream muxes N sources
into one batch.

Which frames are detected is counted per camera (:class:`DetectionCadence`: every
``detect.every_n_frames``, more often while it has tiny faces). A live camera detects
only the newest of its frames in a batch (once it is due): while the
engine keeps up, batches hold one frame and the cadence is the same as a file's; when
detection is slower than the camera (a slow CPU), frames queue up and detection spreads
out over them, the tracker carrying the boxes in between, instead of frames being dropped.
The older, carried frames of such a batch are handed on before the newest is detected, so
they do not wait for it. A file keeps its cadence (its output does not depend on the
machine's speed or its batching). The detect worker never
blocks on one camera: it only takes a frame from a camera whose output queue has room for
it (counting the frames of that camera still between the two workers), and a camera that
is slow, reconnecting or finished simply contributes no frames.

Each arrow is a bounded ``queue.Queue``. An end-of-stream marker travels behind the last
frame; ``stop`` asks the sources to finish (the frames in flight are still written, so
Ctrl-C leaves a complete, playable file); ``abort`` makes every thread leave at once. A
source or sink failing ends its camera (status ``failed``); a failing shared stage stops
every camera (the first error wins and is re-raised by :meth:`Pipeline.finish`). A file
source blocks when the pipeline is behind (lossless); a live source drops its oldest
queued frame and counts the drop (fresh).
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from streamproc.core.cadence import DetectionCadence
from streamproc.core.config import Config
from streamproc.core.packet import FramePacket
from streamproc.core.stats import PipelineStats

if TYPE_CHECKING:  # the engine takes sources and sinks; io/ implements them
    from streamproc.io.sinks import Sink
    from streamproc.io.sources import Source

log = logging.getLogger(__name__)


class Stage(Protocol):
    name: str

    def process(self, packets: list[FramePacket]) -> list[FramePacket]: ...

    def close(self) -> None: ...


class _EndOfStream:
    """Marker put behind the last frame."""


EOS = _EndOfStream()
POLL_S = 0.05
# Batches in the shared workers at once: the detect worker's and the enhance worker's.
WORKER_BATCHES = 2
# How long finish() waits for threads that were told to stop (or have ended) to exit. It
# bounds a shutdown, not a run: callers wait for the run itself (join) before finish().
STOP_TIMEOUT_S = 30.0


def put_unless_aborted(q: queue.Queue, item: object, abort: threading.Event) -> bool:
    """Blocking put that gives up (returns False) when ``abort`` is set."""
    while not abort.is_set():
        try:
            q.put(item, timeout=POLL_S)
            return True
        except queue.Full:
            continue
    return False


def put_drop_oldest(q: queue.Queue, item: object) -> int:
    """Put without blocking, dropping the oldest queued frames; returns how many."""
    dropped = 0
    while True:
        try:
            q.put_nowait(item)
            return dropped
        except queue.Full:
            try:
                if q.get_nowait() is not EOS:
                    dropped += 1
            except queue.Empty:
                continue


class Threads:
    """The named daemon threads of one pipeline: started together, watched, joined."""

    def __init__(self) -> None:
        self._threads: list[threading.Thread] = []

    def start(self, name: str, target: Callable[..., None], *args: object) -> None:
        thread = threading.Thread(target=target, args=args, name=f"streamproc-{name}", daemon=True)
        self._threads.append(thread)
        thread.start()

    def alive(self) -> bool:
        return any(t.is_alive() for t in self._threads)

    def running(self) -> set[str]:
        """The names (without the ``streamproc-`` prefix) of the threads still running."""
        return {t.name.removeprefix("streamproc-") for t in self._threads if t.is_alive()}

    def join(self, timeout_s: float | None = None) -> bool:
        """Join all, sharing one deadline; True when none is left running."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        for thread in self._threads:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            thread.join(remaining)
        return not self.alive()


class FirstError:
    """The first error of any thread wins; recording it stops and aborts everything."""

    def __init__(self, stop: threading.Event, abort: threading.Event) -> None:
        self._lock = threading.Lock()
        self._stop, self._abort = stop, abort
        self.error: BaseException | None = None

    def record(self, err: BaseException) -> None:
        with self._lock:
            if self.error is None:
                self.error = err
        self._stop.set()
        self._abort.set()


def split_by_faces(packets: list[FramePacket], max_faces: int) -> list[list[FramePacket]]:
    """Consecutive groups of frames, each closed once it holds ``max_faces`` faces (0: no
    limit), so that one enhance call never holds more than ``enhance.max_batch`` faces: the
    frames were gathered (for the detector) before their faces were known."""
    if not max_faces:
        return [packets] if packets else []
    groups: list[list[FramePacket]] = [[]]
    faces = 0
    for packet in packets:
        groups[-1].append(packet)
        faces += len(packet.faces)
        if faces >= max_faces:
            groups.append([])
            faces = 0
    return [group for group in groups if group]


class Observer(Protocol):
    """Watches a camera's written frames (the monitor's preview, in web/): the engine
    hands it each frame and the original image, and closes it at the end."""

    def publish(self, packet: FramePacket, original: np.ndarray | None) -> None: ...

    def close(self) -> None: ...


class Camera:
    """One source with its own threads, queues, sinks and stats."""

    def __init__(
        self,
        cam_id: str,
        source: Source,
        sinks: list[Sink],
        config: Config,
        record: Callable[[FramePacket], None] | None = None,
        preview: Observer | None = None,
        tracker: Stage | None = None,
        output: Path | None = None,
    ) -> None:
        """``record``: called with each written frame (the manifest); ``preview``: sees
        each written frame with its original; ``tracker``: this camera's (None for
        unrelated images); ``output``: where its sinks record, for reports (None:
        nowhere)."""
        self.id, self.source, self.sinks, self.record = cam_id, source, sinks, record
        self.output = output
        self.stats = PipelineStats()
        pcfg = config.pipeline
        self.live = source.live
        self.inbox: queue.Queue = queue.Queue(
            maxsize=pcfg.live_queue_frames if self.live else pcfg.queue_frames
        )
        # Frames the shared workers hold (a batch each, detecting and enhancing) have their
        # outbox slot reserved (Pipeline._take): room for them besides the queue_frames
        # waiting for the writer, else the writer would wait on the workers' next batch.
        self.outbox: queue.Queue = queue.Queue(
            maxsize=pcfg.queue_frames + WORKER_BATCHES * config.enhance.max_batch_frames
        )
        self.tracker = tracker
        self.cadence = DetectionCadence(config.detect)  # which of its frames are detected
        self.preview = preview
        self.reader_done = False
        self.error: BaseException | None = None
        self.label = ""  # the name shown (``name: input`` in --inputs); default the source's
        self.source_ended = False  # the source ran out by itself (a file's end), not stopped

    @property
    def name(self) -> str:
        return self.label or self.source.info.name

    @property
    def written_all(self) -> bool:
        """Every frame read has been written (or dropped): nothing is left in its queues."""
        s = self.stats
        return s.frames_out + s.dropped >= s.frames_in

    @property
    def finished_by_itself(self) -> bool:
        """Its source ran out (a file's end) and every frame was written, without an
        error: it had ended before any stop, so it is finished, not interrupted."""
        return self.error is None and self.source_ended and self.written_all

    @property
    def status(self) -> str:
        """starting | connecting | live | reconnecting | running | ended | failed."""
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


class Pipeline:
    """Readers -> shared detect+track worker -> shared enhance+composite worker ->
    per-camera writers. One input is one camera."""

    def __init__(
        self,
        cameras: Sequence[Camera],
        detector: Stage,
        stages: Sequence[Stage],
        config: Config,
        unopened: Sequence[dict[str, str]] = (),
    ) -> None:
        """``detector`` and ``stages`` (the enhance worker's chain: e.g. fuse, enhance,
        composite) are shared by every camera. The detector detects every frame it is
        given: each camera's :class:`DetectionCadence` says which frames those are."""
        self.config = config
        self.shared = PipelineStats()  # the shared stages' timings, all cameras together
        self.stop = threading.Event()
        self.abort = threading.Event()
        self._wake = threading.Event()
        self._errors = FirstError(self.stop, self.abort)
        self._threads = Threads()
        # Detected batches waiting for the enhance worker, and per camera the frames taken
        # from its inbox but not yet in its outbox (they hold a reserved outbox slot).
        self._detected: queue.Queue = queue.Queue(maxsize=2)
        self._in_flight_lock = threading.Lock()
        self.cameras = list(cameras)
        self.unopened = list(unopened)  # {"id", "name", "error"} per skipped camera
        self.detector, self.stages = detector, list(stages)
        self.max_frames = max(config.enhance.max_batch_frames, len(self.cameras))
        self._in_flight = {cam.id: 0 for cam in self.cameras}
        self._cams = {cam.id: cam for cam in self.cameras}

    @property
    def stats(self) -> PipelineStats:
        """With one camera, its counters (what a caller of one input reads); with several,
        the shared stages' (:attr:`shared`; each camera has its own ``stats``)."""
        return self.cameras[0].stats if len(self.cameras) == 1 else self.shared

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
                cam.stats.last_frame_s = time.monotonic()
                if cam.live:
                    self._put_drop_oldest(cam.inbox, packet, cam.stats)
                elif not self._put(cam.inbox, packet):
                    return
                self._wake.set()
                if self.stop.is_set():
                    break
            else:  # the source ran out (a file's end), not stopped
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

    def _take(
        self, active: list[Camera], start: int, limit: int
    ) -> tuple[list[FramePacket], list[Camera]]:
        """Round-robin: at most one frame per camera per pass, up to ``limit`` frames.

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
        while progress and len(packets) < limit:
            progress = False
            for k in range(len(active)):
                cam = active[(start + k) % len(active)]
                if cam in ended or room[cam.id] <= 0 or len(packets) >= limit:
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
            packets, ended = self._take(active, start, self.max_frames)
            if not (packets or ended):
                self._wake.wait(POLL_S)
        deadline = time.monotonic() + self.config.enhance.max_wait_ms / 1000
        while len(packets) < self.max_frames and time.monotonic() < deadline:
            still = [c for c in active if c not in ended]
            if not still:  # every camera has ended: nothing more will come
                break
            self._wake.clear()
            self._wake.wait(max(0.0, deadline - time.monotonic()))
            # Only what still fits: the batch never grows past max_frames.
            more, more_ended = self._take(still, start, self.max_frames - len(packets))
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

    def _plan_detection(
        self, packets: list[FramePacket], cams: dict[str, Camera]
    ) -> tuple[list[FramePacket], list[FramePacket]]:
        """The frames to detect (per camera :class:`DetectionCadence`): a file's every due
        frame, a live camera's newest in the batch once it is due. Returns them and those
        of them already detected: a file's frame that may be due only as an earlier frame's
        faces say is planned once that frame is detected (with every frame planned before
        it), so which frames are detected never depends on how a file was batched."""
        newest = {p.source_id: p for p in packets}
        todo: list[FramePacket] = []
        done = 0  # todo[:done] are detected
        for packet in packets:
            cam = cams[packet.source_id]
            cadence = cam.cadence
            if cam.live:
                due = packet is newest[cam.id] and cadence.due()
            else:
                waiting = any(p.source_id == cam.id for p in todo[done:])
                if waiting and cadence.may_be_due:
                    self._detect(todo[done:], cams)
                    done = len(todo)
                due = cadence.due()
            if due:
                todo.append(packet)
            cadence.advance(due)
        return todo, todo[:done]

    def _detect(self, packets: list[FramePacket], cams: dict[str, Camera]) -> None:
        """One detector call for ``packets`` (every camera's); each camera's cadence learns
        what its frames' detections found."""
        if packets:
            self._timed("detect", packets, self.detector.process)
            for packet in packets:
                cams[packet.source_id].cadence.observe(packet)

    def _detect_and_track(
        self,
        packets: list[FramePacket],
        todo: list[FramePacket],
        cams: dict[str, Camera],
        detected: Sequence[FramePacket] = (),
    ) -> None:
        """Detect ``todo`` but those ``detected`` already, then track per camera."""
        self._detect([p for p in todo if not any(p is d for d in detected)], cams)
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
                    todo, detected = self._plan_detection(packets, cams)
                    # Live frames that come before the first one to detect are only
                    # carried by the tracker: on to the enhance worker now.
                    first = packets.index(todo[0]) if todo else 0
                    if first and all(cams[p.source_id].live for p in packets[:first]):
                        carried, packets = packets[:first], packets[first:]
                        self._detect_and_track(carried, [], cams)
                        if not self._put(self._detected, (carried, [])):
                            return
                    self._detect_and_track(packets, todo, cams, detected)
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
        originals = [
            p.image.copy() if cams[p.source_id].preview is not None else None for p in packets
        ]
        for stage in self.stages:
            self._timed(stage.name, packets, stage.process)
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
                # A slot is free: the detect worker, which takes no frame of a camera whose
                # outbox is full, may take the next one now instead of at its next poll.
                self._wake.set()
                if item is EOS:
                    cam.stats.finished_s = time.monotonic()  # its own end, for its fps
                    return
                item, original = item
                t0 = time.perf_counter()
                for sink in cam.sinks:
                    sink.write(item)
                stats.add(1, time.perf_counter() - t0)
                cam.stats.frames_out += 1
                cam.stats.faces += len(item.faces)
                cam.stats.faces_enhanced += sum(f.enhanced is not None for f in item.faces)
                cam.stats.faces_fused += sum(f.fused_frames > 1 for f in item.faces)
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
            tracked = ("detect", "track") if cam.tracker is not None else ("detect",)
            for name in (*tracked, *(stage.name for stage in self.stages), "write"):
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
        timeout_s = STOP_TIMEOUT_S
        try:
            if not self.join(timeout_s=timeout_s):
                self._fail(TimeoutError(f"pipeline threads did not stop within {timeout_s:g} s"))
                self.join(timeout_s=5)
        finally:
            now = time.monotonic()
            self.shared.finished_s = now
            # A thread that would not stop may still be inside a stage, a source or a sink:
            # those are left to it (closing a model or a container under a running thread
            # can crash the process); everything else is closed.
            stuck = self._threads.running()
            errors = []
            if not stuck & {"shared-detect", "shared-enhance"}:
                for closer in (self.detector.close, *(stage.close for stage in self.stages)):
                    try:
                        closer()
                    except Exception as err:  # noqa: BLE001
                        errors.append(err)
            done = [c for c in self.cameras if not stuck & {f"read-{c.id}", f"write-{c.id}"}]
            errors += close_cameras(done)
            for cam in self.cameras:
                cam.stats.finished_s = cam.stats.finished_s or now
                cam.stats.status = "failed" if cam.error or self._errors.error else "finished"
            self.shared.status = "failed" if (self._errors.error or errors) else "finished"
        if self._errors.error is not None:
            raise self._errors.error
        if errors:
            raise errors[0]


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
            cam.preview.close()
    return errors
