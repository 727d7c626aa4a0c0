"""Threads and bounded queues: source -> detect+track -> enhance+composite -> sinks.

The queue helpers here (EOS, put_unless_aborted, put_drop_oldest, FirstError, Threads,
split_by_faces) serve the one engine, :mod:`streamproc.core.multi`. :class:`Pipeline` (a chain
of generic workers) no longer runs any input and no test uses it; it remains only for
benchmarks/measure.py, until that moves to the engine (#18).

Each arrow is a ``queue.Queue(maxsize=...)``. An end-of-stream marker travels behind the
last frame; ``stop`` asks the source to finish (the frames in flight are still written, so
Ctrl-C leaves a complete, playable file); ``abort`` makes every thread leave at once (the
first error wins, is re-raised in the caller's thread, and the sinks are still closed).
A file source blocks when the pipeline is behind (lossless); a live source drops its
oldest queued frame and counts the drop (fresh).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from streamproc.core.packet import FramePacket
from streamproc.core.stats import PipelineStats
from streamproc.io.sinks import Sink
from streamproc.io.sources import Source


class Stage(Protocol):
    name: str

    def process(self, packets: list[FramePacket]) -> list[FramePacket]: ...

    def close(self) -> None: ...


class _EndOfStream:
    """Marker put behind the last frame."""


EOS = _EndOfStream()
POLL_S = 0.05
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


@dataclass(frozen=True)
class Gather:
    """How many frames a worker takes at once, and how long it waits to fill them."""

    max_frames: int = 1
    max_wait_ms: float = 0.0
    max_faces: int = 0  # stop gathering once this many faces are in hand (0 = no limit)


def split_by_faces(packets: list[FramePacket], max_faces: int) -> list[list[FramePacket]]:
    """Consecutive groups of frames, each closed once it holds ``max_faces`` faces (0: no
    limit): the rule :meth:`Pipeline._gather` applies, for frames gathered before their
    faces were known (several cameras gather frames for the detector)."""
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


@dataclass(frozen=True)
class Worker:
    name: str
    stages: Sequence[Stage]
    gather: Gather = Gather()


class Pipeline:
    def __init__(
        self,
        source: Source,
        workers: Sequence[Worker],
        sinks: Sequence[Sink],
        queue_frames: int,
        live_queue_frames: int,
        on_written: Callable[[FramePacket], None] | None = None,
    ) -> None:
        self.source = source
        self.workers = list(workers)
        self.sinks = list(sinks)
        self.stats = PipelineStats()
        self.stop = threading.Event()
        self.abort = threading.Event()
        self._errors = FirstError(self.stop, self.abort)
        self._on_written = on_written
        first_size = live_queue_frames if source.live else queue_frames
        self.queues = [queue.Queue(maxsize=first_size)]
        self.queues += [queue.Queue(maxsize=queue_frames) for _ in self.workers]
        self._threads = Threads()

    # -- control -------------------------------------------------------------------------
    def request_stop(self) -> None:
        """Finish gracefully: no new frames; frames in flight are written."""
        self.stop.set()

    def _fail(self, err: BaseException) -> None:
        self._errors.record(err)

    def _put(self, q: queue.Queue, item: object) -> bool:
        return put_unless_aborted(q, item, self.abort)

    def _put_drop_oldest(self, q: queue.Queue, item: object) -> None:
        self.stats.dropped += put_drop_oldest(q, item)

    def _get(self, q: queue.Queue, timeout_s: float | None) -> object | None:
        """Get with a deadline (None = wait until an item or abort)."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while not self.abort.is_set():
            wait = POLL_S if deadline is None else min(POLL_S, deadline - time.monotonic())
            if wait <= 0:
                return None
            try:
                return q.get(timeout=wait)
            except queue.Empty:
                continue
        return None

    # -- threads -------------------------------------------------------------------------
    def _read(self) -> None:
        out = self.queues[0]
        try:
            for packet in self.source.frames(self.stop):
                self.stats.frames_in += 1
                if self.source.live:
                    self._put_drop_oldest(out, packet)
                elif not self._put(out, packet):
                    return
                if self.stop.is_set():
                    break
        except Exception as err:  # noqa: BLE001 - any failure must stop every thread
            self._fail(err)
        finally:
            if self.source.live:
                self._put_drop_oldest(out, EOS)
            else:
                self._put(out, EOS)

    def _gather(self, q: queue.Queue, gather: Gather) -> tuple[list[FramePacket], bool]:
        first = self._get(q, None)
        if first is None or first is EOS:
            return [], True
        packets = [first]
        faces = len(first.faces)
        deadline = time.monotonic() + gather.max_wait_ms / 1000
        while len(packets) < gather.max_frames and (
            not gather.max_faces or faces < gather.max_faces
        ):
            try:
                item = q.get_nowait()
            except queue.Empty:
                remaining = deadline - time.monotonic()
                item = self._get(q, remaining) if remaining > 0 else None
                if item is None:
                    break
            if item is EOS:
                return packets, True
            packets.append(item)
            faces += len(item.faces)
        return packets, False

    def _work(self, worker: Worker, q_in: queue.Queue, q_out: queue.Queue) -> None:
        stats = [self.stats.stage(stage.name) for stage in worker.stages]
        try:
            ended = False
            while not ended and not self.abort.is_set():
                self.stats.note_waiting(worker.name, q_in.qsize())
                packets, ended = self._gather(q_in, worker.gather)
                for stage, stage_stats in zip(worker.stages, stats, strict=True):
                    if not packets:
                        break
                    t0 = time.perf_counter()
                    packets = stage.process(packets)
                    elapsed = time.perf_counter() - t0
                    stage_stats.add(len(packets), elapsed)
                    share_ms = 1000 * elapsed / max(1, len(packets))
                    for packet in packets:
                        packet.timings_ms[stage.name] = share_ms
                for packet in packets:
                    if not self._put(q_out, packet):
                        return
        except Exception as err:  # noqa: BLE001 - any failure must stop every thread
            self._fail(err)
        finally:
            self._put(q_out, EOS)

    def _write(self, q_in: queue.Queue) -> None:
        stats = self.stats.stage("write")
        try:
            while True:
                self.stats.note_waiting("write", q_in.qsize())
                item = self._get(q_in, None)
                if item is None or item is EOS:
                    return
                t0 = time.perf_counter()
                for sink in self.sinks:
                    sink.write(item)
                stats.add(1, time.perf_counter() - t0)
                self.stats.frames_out += 1
                self.stats.faces += len(item.faces)
                self.stats.faces_enhanced += sum(f.enhanced is not None for f in item.faces)
                self.stats.latency_ms.append(1000 * (time.monotonic() - item.capture_s))
                if self._on_written is not None:
                    self._on_written(item)
        except Exception as err:  # noqa: BLE001 - any failure must stop every thread
            self._fail(err)

    # -- run -----------------------------------------------------------------------------
    def start(self) -> None:
        self.stats.status = "running"
        self.stats.started_s = time.monotonic()
        self._threads.start("read", self._read)
        for i, worker in enumerate(self.workers):
            self._threads.start(worker.name, self._work, worker, self.queues[i], self.queues[i + 1])
        self._threads.start("write", self._write, self.queues[-1])

    def queue_depths(self) -> dict[str, int]:
        """Frames waiting in front of each worker and of the writer."""
        names = [w.name for w in self.workers] + ["write"]
        return {name: q.qsize() for name, q in zip(names, self.queues, strict=True)}

    def alive(self) -> bool:
        return self._threads.alive()

    def join(self, timeout_s: float | None = None) -> bool:
        return self._threads.join(timeout_s)

    def finish_without_start(self) -> None:
        """Release stages, sinks and source of a pipeline that never started."""
        self.abort.set()
        self.finish()

    def finish(self) -> None:
        """Join the threads, close stages, sinks and source; re-raise the first error."""
        try:
            if not self.join(timeout_s=STOP_TIMEOUT_S):
                self._fail(
                    TimeoutError(f"pipeline threads did not stop within {STOP_TIMEOUT_S:g} s")
                )
                self.join(timeout_s=5)
        finally:
            self.stats.finished_s = time.monotonic()
            errors = []
            for closer in [
                *(s.close for w in self.workers for s in w.stages),
                *(s.close for s in self.sinks),
                self.source.close,
            ]:
                try:
                    closer()
                except Exception as err:  # noqa: BLE001 - close everything, report the first
                    errors.append(err)
            self.stats.status = "failed" if (self._errors.error or errors) else "finished"
        if self._errors.error is not None:
            raise self._errors.error
        if errors:
            raise errors[0]
