"""Builds the one engine from a config, 1..N inputs and their outputs, runs it, and
writes a config, a manifest and an output per input.

With one input ``output`` names its file (or folder of images); with several (or
``folder=True``, as ``--serve`` uses) it names the folder that every input's output goes
into, each named as a one-input run would name it (``camN-`` first if two collide).
"""

from __future__ import annotations

import dataclasses
import errno
import functools
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from streamproc.audit.manifest import ManifestRecorder, manifest_path, models_info, run_header
from streamproc.core.config import Config, dump_config, redact_config
from streamproc.core.errors import InputError, OutputError
from streamproc.core.packet import FramePacket
from streamproc.core.pipeline import Camera, Pipeline, Stage
from streamproc.core.stats import PipelineStats
from streamproc.core.urls import is_url, mask_url, safe_name
from streamproc.io.sinks import Sink
from streamproc.io.sinks.file import FileSink, check_encodable, pipeline_encoder_threads
from streamproc.io.sinks.images import ImageSink
from streamproc.io.sinks.null import NullSink
from streamproc.io.sinks.rotating import RotatingFileSink
from streamproc.io.sinks.rtsp_push import RtspPushSink, push_url
from streamproc.io.sources import IMAGE_SUFFIXES, Source, open_source
from streamproc.io.sources.images import ImageSource
from streamproc.vision.composite import Compositor
from streamproc.vision.detect import FaceDetector, WholeImageFaces
from streamproc.vision.enhance.stage import EnhanceStage
from streamproc.vision.fuse import FaceFusion
from streamproc.vision.track import FaceTracker
from streamproc.web.preview import Preview

if TYPE_CHECKING:
    from streamproc.run.models import ModelCache

log = logging.getLogger(__name__)

SAMPLE_CLIP = Path(__file__).resolve().parents[1] / "data" / "sample.mp4"
NULL_OUTPUTS = ("null", "-")
# Names that are files, never folders: an image folder's output must not be called so.
VIDEO_SUFFIXES = (".mp4", ".mkv", ".mov", ".m4v", ".avi", ".ts", ".webm", ".gif", ".flv")


def default_output(spec: str, source: Source, out_dir: Path = Path("out")) -> Path:
    if isinstance(source, ImageSource):
        return out_dir / f"{Path(spec).stem}.enhanced"
    if source.live:
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        return out_dir / f"{safe_name(spec)}-{stamp}.mp4"
    if is_url(spec):  # a file served over HTTP: name it after the file, not the host
        name = safe_name(Path(urlsplit(spec).path).name or "input")
        return out_dir / f"{Path(name).stem}.enhanced.mp4"
    return out_dir / f"{Path(spec).stem}.enhanced.mp4"


def overwrites_input(output: Path, in_path: Path | None) -> bool:
    """The same file by name, symlink or hard link (same device and inode)."""
    if in_path is None:
        return False
    if output.resolve() == in_path.resolve():
        return True
    try:
        return output.exists() and os.path.samefile(output, in_path)
    except OSError:
        return False


def existing_output(output: Path) -> OutputError:
    return OutputError(f"output {output} already exists (add --overwrite to replace it)")


@dataclass
class Recording:
    """What one input writes: its output, the manifest of its frames."""

    spec: str
    path: Path | None  # None: nowhere (``-o null``)
    image_file: bool = False  # one image in, one image file out
    reserved: bool = False  # created empty by us, so that a second run is refused too
    recorder: ManifestRecorder = field(default_factory=ManifestRecorder)
    images: list[dict[str, Any]] = field(default_factory=list)  # --faces: each image

    @property
    def config_file(self) -> Path:
        return self.path.with_name(self.path.name + ".config.yaml")

    def release(self) -> None:
        """Remove the reserved, still empty, output of an input that never ran."""
        if not self.reserved:
            return
        try:
            if self.path.stat().st_size == 0:
                self.path.unlink()
        except OSError:
            return


class Job:
    """1..N inputs through one engine to their outputs."""

    def __init__(
        self,
        specs: Sequence[str],
        config: Config,
        output: str | Path | None = None,
        *,
        sources: Sequence[Source] | None = None,
        overwrite: bool = True,
        preview: bool = False,
        skip_unopenable: bool = False,
        folder: bool | None = None,
        names: Sequence[str] | None = None,
        model_cache: ModelCache | None = None,
    ) -> None:
        """``sources``: already open (e.g. wrapped) sources for ``specs``; ``overwrite``:
        False refuses an output that exists (the CLI's default, ffmpeg's convention, so a
        second run cannot silently replace the first); ``preview``: keep each camera's
        newest frame for the monitor (``output.mjpeg_port`` keeps it too, and serves the
        monitor's streams on that port until :meth:`finish`); ``skip_unopenable``: a live
        camera that does not answer yet is waited for, any other input that cannot be
        opened is reported (in ``pipeline.unopened``) while the others run; ``names``: each
        input's camera name (default ``camN``), its path under ``output.rtsp_push`` with
        several inputs; ``model_cache``: take the detector and generator from it (loading
        them there once) instead of loading them here."""
        if isinstance(specs, str):  # a str is a sequence too: of one-letter inputs
            raise TypeError("Job takes a list of inputs, not one string")
        self.config = config
        self.folder = len(specs) > 1 if folder is None else folder
        self.overwrite = overwrite
        self.model_cache = model_cache
        self.whole = config.detect.whole_image
        self.names = list(names) if names is not None else [f"cam{i}" for i in range(len(specs))]
        opened: list[tuple[str, Source, Recording]] = []
        unopened: list[dict[str, str]] = []
        taken: set[Path] = set()
        try:
            for i, spec in enumerate(specs):
                try:
                    source = (
                        sources[i] if sources is not None else self._open(spec, skip_unopenable)
                    )
                except InputError as err:
                    if not skip_unopenable or (not opened and i == len(specs) - 1):
                        raise
                    log.error("input %s not started: %s", i, err)
                    unopened.append(
                        {"id": str(i), "name": mask_url(spec), "error": mask_url(str(err))}
                    )
                    continue
                try:
                    opened.append((str(i), source, self._recording(i, spec, source, output, taken)))
                except BaseException:
                    source.close()
                    raise
            stages = self._stages()
        except BaseException:
            self._close(opened)
            raise
        detector, chain = stages
        self.models = models_info(
            None if self.whole else detector,
            self.enhancer.generator,
            self.enhancer.small_generator,
            self.config.enhance.small_model_max_face_px,
        )
        self.recordings = [rec for _, _, rec in opened]
        self.mjpeg_server = None
        preview = preview or bool(config.output.mjpeg_port)
        quality = config.serve.jpeg_quality if preview else config.output.mjpeg_quality
        try:
            cameras = [self._camera(i, src, rec, preview, quality) for i, src, rec in opened]
        except BaseException:
            for stage in (detector, *chain):
                stage.close()
            self._close(opened)
            raise
        self.pipeline = Pipeline(cameras, detector, chain, config, unopened)
        if config.output.mjpeg_port:
            self._serve_mjpeg()

    def _serve_mjpeg(self) -> None:
        from streamproc.web.app import MonitorServer

        out = self.config.output
        try:
            self.mjpeg_server = MonitorServer(self.pipeline, out.mjpeg_host, out.mjpeg_port)
        except BaseException:
            self.discard()
            raise

    # -- building ------------------------------------------------------------------------
    def _open(self, spec: str, wait_for_camera: bool) -> Source:
        # Lenient runs also wait for cameras that are down at start-up.
        return open_source(spec, self.config.source, wait_for_camera=wait_for_camera)

    def _recording(
        self, index: int, spec: str, source: Source, output: str | Path | None, taken: set[Path]
    ) -> Recording:
        if self.whole and not isinstance(source, ImageSource):
            raise InputError(
                f"--faces takes face-crop images (an image or a folder of them), "
                f"not {source.info.name}"
            )
        if output is not None and str(output) in NULL_OUTPUTS:
            return Recording(spec, None)
        if self.folder:
            path = default_output(spec, source, Path(output) if output else Path("out"))
            if path in taken:
                path = path.with_name(f"cam{index}-{path.name}")
            taken.add(path)
        else:
            path = Path(output) if output else default_output(spec, source)
        rec = Recording(spec, path)
        self._check_output(rec, source)  # before any model loads: a bad -o is refused at once
        return rec

    def _check_output(self, rec: Recording, source: Source) -> None:
        output, info = rec.path, source.info
        if overwrites_input(output, info.path):
            raise OutputError(f"output {output} would overwrite the input")
        suffix = output.suffix.lower()
        if isinstance(source, ImageSource):
            if info.path.is_dir() and suffix in IMAGE_SUFFIXES + VIDEO_SUFFIXES:
                raise OutputError(
                    f"input {info.name} is a folder of images, so the output is a folder of "
                    f"enhanced images: -o must name a folder, not {output.name}"
                )
            if suffix in VIDEO_SUFFIXES:
                raise OutputError(
                    f"input {info.name} is an image, so the output is an image: "
                    f"-o NAME{Path(info.name).suffix or '.png'} or a folder, not {output.name}"
                )
            rec.image_file = suffix in IMAGE_SUFFIXES
            if not self.overwrite:
                names = [output] if rec.image_file else [output / f.name for f in source.files]
                taken = [p for p in names if p.exists()]
                if taken:
                    raise existing_output(taken[0])
            return
        check_encodable(output, self.config.output)
        if not self.overwrite:
            reserve_output(rec)

    def _stages(self) -> tuple[Stage, list[Stage]]:
        """The detector (every frame it is given: the engine's cadence picks them per
        camera), then the enhance worker's chain: fusion (when on; tracked faces only),
        enhancer, compositor. With ``--faces`` the whole image is the one face, cut with no
        margin (the image is the crop)."""
        cfg = self.config
        if self.whole:
            detector: Stage = WholeImageFaces(cfg.enhance.max_face_px)
            enhance_cfg = dataclasses.replace(cfg.enhance, crop_margin=0.0)
        else:
            cache = self.model_cache
            detector = FaceDetector(cfg.detect, cache.detector(cfg.detect) if cache else None)
            enhance_cfg = cfg.enhance
        try:
            cache = self.model_cache
            self.enhancer = EnhanceStage(
                enhance_cfg, cache.generators(enhance_cfg) if cache else None
            )
        except BaseException:
            detector.close()
            raise
        fuse = cfg.fuse.enabled and not self.whole
        chain: list[Stage] = [FaceFusion(cfg.fuse, cfg.enhance)] if fuse else []
        chain += [self.enhancer, Compositor(cfg.composite, whole_image=self.whole)]
        return detector, chain

    def _camera(
        self, cam_id: str, source: Source, rec: Recording, preview: bool, quality: int
    ) -> Camera:
        manifest = self.config.output.manifest and rec.path is not None
        sinks = self._sinks(cam_id, source, rec, manifest)
        rotating = isinstance(sinks[0], RotatingFileSink)
        return Camera(
            cam_id,
            source,
            sinks,
            self.config,
            record=functools.partial(self._record, rec) if manifest and not rotating else None,
            preview=Preview(quality) if preview else None,
            tracker=None if self.whole else FaceTracker(self.config.track),
            output=rec.path,
        )

    def _sinks(self, cam_id: str, source: Source, rec: Recording, manifest: bool) -> list[Sink]:
        """The output sink, then (with ``output.rtsp_push``) its push to an RTSP server (the
        live preview is the camera's ``preview``, not a sink)."""
        out_cfg = self.config.output
        threads = pipeline_encoder_threads(out_cfg, source.info.width_px, source.info.height_px)
        out_cfg = dataclasses.replace(out_cfg, encoder_threads=threads)
        sinks: list[Sink] = []
        try:
            if rec.path is None:
                sinks.append(NullSink())
            elif isinstance(source, ImageSource):
                sinks.append(ImageSink(rec.path, source.names, rec.image_file))
            elif source.live and out_cfg.rotate_s > 0:
                header = functools.partial(self._part_header, cam_id, rec) if manifest else None
                sinks.append(RotatingFileSink(rec.path, source.info, out_cfg, header))
            else:
                sinks.append(FileSink(rec.path, source.info, out_cfg, source.live))
            if out_cfg.rtsp_push:
                url = push_url(out_cfg.rtsp_push, self.names[int(cam_id)], len(self.names))
                sinks.append(RtspPushSink(url, source.info, out_cfg, self.config.source))
        except BaseException:
            for sink in sinks:
                sink.close()
            raise
        return sinks

    def _close(self, opened: Sequence[tuple[str, Source, Recording]]) -> None:
        for _, source, rec in opened:
            source.close()
            rec.release()

    # -- what callers read ---------------------------------------------------------------
    @property
    def stats(self) -> PipelineStats:
        """The first input's counters (all of them, with one input)."""
        return self.pipeline.cameras[0].stats

    @property
    def source(self) -> Source:
        return self.pipeline.cameras[0].source

    @property
    def outputs(self) -> list[Path | None]:
        return [rec.path for rec in self.recordings]

    @property
    def output(self) -> Path | None:
        return self.recordings[0].path

    @property
    def mjpeg_url(self) -> str | None:
        """The first camera's MJPEG stream (``output.mjpeg_port``)."""
        server = self.mjpeg_server
        return None if server is None else f"{server.url}stream.mjpg"

    def stream_url(self, cam: Camera) -> str | None:
        """Camera ``cam``'s MJPEG stream (``output.mjpeg_port``)."""
        server = self.mjpeg_server
        return None if server is None else f"{server.url}cam/{cam.id}/stream.mjpg"

    # -- running -------------------------------------------------------------------------
    def _record(self, rec: Recording, packet: FramePacket) -> None:
        rec.recorder.record(packet)
        if self.whole:
            face = packet.faces[0] if packet.faces else None
            rec.images.append(
                {
                    "file": self.source.names.get(packet.index),
                    "size_px": [packet.width_px, packet.height_px],
                    "method": (face.enhancer or None) if face else None,
                }
            )

    def _header(
        self,
        cam: Camera,
        rec: Recording,
        status: str,
        error: BaseException | None,
        summary: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The manifest header of one input's run (so far)."""
        summary = cam.stats.summary() if summary is None else summary
        header = run_header(status, error, cam.source, self.models, self.config, summary)
        if self.folder:
            header["camera"] = {"id": cam.id, "cameras_in_process": len(self.pipeline.cameras)}
        if self.whole:
            header["images"] = rec.images
        push = rtsp_push(cam)
        if push is not None:
            header["rtsp_push"] = push.stats()
        return header

    def _part_header(
        self, cam_id: str, rec: Recording, status: str, error: BaseException | None
    ) -> dict[str, Any]:
        cam = next(c for c in self.pipeline.cameras if c.id == cam_id)
        return self._header(cam, rec, status, error)

    def discard(self) -> None:
        """Release a job that will not start (a stop came while it was being built)."""
        try:
            self.pipeline.finish_without_start()
        finally:
            self._close_server()
            for rec in self.recordings:
                rec.release()

    def _close_server(self) -> None:
        if self.mjpeg_server is not None:
            self.mjpeg_server.close()
            self.mjpeg_server = None

    def start(self) -> None:
        for rec in self.recordings:
            if rec.path is None:
                continue
            config_file = rec.config_file
            try:
                config_file.parent.mkdir(parents=True, exist_ok=True)
                config_file.write_text(dump_config(redact_config(self.config)))
            except OSError as err:
                self.pipeline.finish_without_start()
                raise write_error(config_file, err) from None
        self.pipeline.start()

    def finish(self, status: str) -> list[dict[str, Any]]:
        """Close everything, write each input's manifest; return their summaries.

        Raises the first error: of the engine, of writing a manifest, or (with one input)
        of the input's camera. With several inputs a failed camera is in its summary's
        ``status`` (and in ``pipeline.cameras[i].error``); the others ran to their end."""
        error: BaseException | None = None
        try:
            self.pipeline.finish()
        except BaseException as err:
            error, status = err, "failed"
        finally:
            self._close_server()
        summaries = []
        for cam, rec in zip(self.pipeline.cameras, self.recordings, strict=True):
            summary = cam.stats.summary()
            summary["status"] = cam.status
            summaries.append(summary)
            try:
                if rec.path is not None and cam.stats.frames_out == 0:
                    forget_output(rec)
                if rec.path is not None and self.config.output.manifest:
                    cam_status = "failed" if cam.error is not None else status
                    if status == "interrupted" and cam.finished_by_itself:
                        cam_status = "finished"  # it had ended before the stop
                    cam_error = error or cam.error or never_connected(cam)
                    self._write_manifest(cam, rec, cam_status, summary, cam_error)
            except OSError as err:
                # Keep the first error (often the same full disk) as the one reported.
                error = error or write_error(manifest_path(rec.path), err)
            finally:
                rec.recorder.close()
        if error is None and not self.folder:
            error = self.pipeline.cameras[0].error
        if error is not None:
            raise error
        return summaries

    def _write_manifest(
        self,
        cam: Camera,
        rec: Recording,
        status: str,
        summary: dict,
        error: BaseException | None,
    ) -> None:
        if isinstance(cam.sinks[0], RotatingFileSink):
            cam.sinks[0].finish(status, error)
            return
        header = self._header(cam, rec, status, error, summary)
        written = getattr(cam.sinks[0], "written", [])
        outputs = [rec.path] if rec.path.is_file() else sorted(written)
        rec.recorder.write(manifest_path(rec.path), header, outputs)


def reserve_output(rec: Recording) -> None:
    """Create the output file exclusively, so that of two runs started together on one
    name the second is refused too (not only a run started after the first)."""
    output = rec.path
    if output.is_dir():
        return  # the file sink says it is a folder
    if output.exists():
        raise existing_output(output)
    if not output.parent.is_dir():
        return  # nothing can be there yet; the sink creates the folder
    try:
        os.close(os.open(output, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
    except FileExistsError:
        raise existing_output(output) from None
    except OSError:
        return  # the sink reports what is wrong with the path
    rec.reserved = True


def rtsp_push(cam: Camera) -> RtspPushSink | None:
    return next((s for s in cam.sinks if isinstance(s, RtspPushSink)), None)


def never_connected(cam: Camera) -> InputError | None:
    """Why a camera wrote nothing: its input never gave a frame (the manifest says so)."""
    last_error = getattr(cam.source, "last_error", None)
    if cam.stats.frames_in or not last_error:
        return None
    return InputError(f"never connected: {mask_url(str(last_error))}")


def forget_output(rec: Recording) -> None:
    """An input that wrote no frame leaves no output and no config beside it: only its
    manifest (with the reason) says that it ran."""
    rec.config_file.unlink(missing_ok=True)
    rec.release()


def write_error(path: Path, err: OSError) -> OutputError:
    """The one-line error for a file that cannot be written (a full disk says so)."""
    if err.errno == errno.ENOSPC:
        return OutputError(f"disk full while writing {path}")
    return OutputError(f"cannot write {path}: {err.strerror or err}")
