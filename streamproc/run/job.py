"""Builds a pipeline from a config, an input and an output, runs it, writes the manifest."""

from __future__ import annotations

import dataclasses
import errno
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from streamproc.audit.manifest import ManifestRecorder, manifest_path, models_info, run_header
from streamproc.core.config import Config, EnhanceConfig, dump_config
from streamproc.core.errors import InputError, OutputError
from streamproc.core.packet import FramePacket
from streamproc.core.pipeline import Stage
from streamproc.core.stats import PipelineStats
from streamproc.io.sinks import Sink
from streamproc.io.sinks.file import FileSink, check_encodable
from streamproc.io.sinks.images import ImageSink
from streamproc.io.sinks.mjpeg import MjpegSink
from streamproc.io.sinks.null import NullSink
from streamproc.io.sinks.rotating import RotatingFileSink
from streamproc.io.sources import IMAGE_SUFFIXES, Source, open_source
from streamproc.io.sources.images import ImageSource
from streamproc.io.sources.urls import is_url, safe_name
from streamproc.vision.composite import Compositor
from streamproc.vision.detect import FaceDetector, WholeImageFaces
from streamproc.vision.enhance.stage import EnhanceStage

if TYPE_CHECKING:
    from streamproc.core.multi import MultiPipeline

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
class Job:
    """One input through one pipeline to its outputs."""

    spec: str
    config: Config
    output: Path | None = None
    # An already-open source (e.g. a wrapped one); by default ``spec`` is opened.
    source: Source | None = None
    # False: an existing output is refused (the CLI's default, ffmpeg's convention, so a
    # second run cannot silently replace the first); library callers own their paths.
    overwrite: bool = True
    pipeline: MultiPipeline = field(init=False)

    def __post_init__(self) -> None:
        self._reserved = False
        if self.source is None:
            self.source = open_source(self.spec, self.config.source)
        try:
            self._build()
        except BaseException:
            self.source.close()
            self._release_output()
            raise

    def _build(self) -> None:
        cfg = self.config
        if cfg.detect.whole_image and not isinstance(self.source, ImageSource):
            raise InputError(
                f"--faces takes face-crop images (an image or a folder of them), "
                f"not {self.source.info.name}"
            )
        self.null_output = self.output is not None and str(self.output) in NULL_OUTPUTS
        if self.output is None:
            self.output = default_output(self.spec, self.source)
        self.image_file_output = False
        if not self.null_output:
            self._check_output()  # before any model loads: a bad -o is refused at once
        whole = cfg.detect.whole_image
        detector, enhance_cfg = self._detector()
        try:
            enhancer = EnhanceStage(enhance_cfg)
        except BaseException:
            detector.close()
            raise
        self.detector, self.enhancer = detector, enhancer
        self.models = models_info(None if whole else self.detector, enhancer.generator)
        self.recorder = ManifestRecorder()
        self.face_images: list[dict[str, Any]] = []  # --faces: each image and its method
        stages = (detector, enhancer, Compositor(cfg.composite, whole_image=whole))
        try:
            self.sinks = self._sinks()
        except BaseException:
            for stage in stages:
                stage.close()
            raise
        # A rotating sink records its own parts' manifests.
        record = self._want_manifest and not isinstance(self.sinks[0], RotatingFileSink)
        # One input is one camera of the one engine (streamproc.core.multi).
        from streamproc.core.multi import Camera, MultiPipeline

        try:
            self.camera = Camera(
                "0",
                self.spec,
                self.source,
                None if self.null_output else self.output,
                cfg,
                preview=False,
                sinks=self.sinks,
                record=self._record if record else None,
                track=not whole,
            )
        except BaseException:
            for closer in [*(s.close for s in self.sinks), *(s.close for s in stages)]:
                closer()
            raise
        every_n = 1 if whole else None
        self.pipeline = MultiPipeline([self.camera], stages, cfg, every_n_frames=every_n)

    @property
    def stats(self) -> PipelineStats:
        """This input's counters (``pipeline.stats`` too: the engine has one camera)."""
        return self.camera.stats

    def _detector(self) -> tuple[Stage, EnhanceConfig]:
        """The detector (every frame it is given: the engine applies every_n_frames); or,
        with ``--faces``, the whole image as the one face (no tracker: the crops are
        unrelated) cut with no margin (the image is the crop)."""
        cfg = self.config
        if not cfg.detect.whole_image:
            return FaceDetector(dataclasses.replace(cfg.detect, every_n_frames=1)), cfg.enhance
        enhance_cfg = dataclasses.replace(cfg.enhance, crop_margin=0.0)
        return WholeImageFaces(cfg.enhance.max_face_px), enhance_cfg

    def _record(self, packet: FramePacket) -> None:
        self.recorder.record(packet)
        if self.config.detect.whole_image:
            face = packet.faces[0] if packet.faces else None
            self.face_images.append(
                {
                    "file": self.source.names.get(packet.index),
                    "size_px": [packet.width_px, packet.height_px],
                    "method": (face.enhancer or None) if face else None,
                }
            )

    def _check_output(self) -> None:
        output, info = self.output, self.source.info
        if overwrites_input(output, info.path):
            raise OutputError(f"output {output} would overwrite the input")
        suffix = output.suffix.lower()
        if isinstance(self.source, ImageSource):
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
            self.image_file_output = suffix in IMAGE_SUFFIXES
            if not self.overwrite:
                names = (
                    [output]
                    if self.image_file_output
                    else [output / f.name for f in self.source.files]
                )
                taken = [p for p in names if p.exists()]
                if taken:
                    raise existing_output(taken[0])
            return
        check_encodable(output, self.config.output)
        if not self.overwrite:
            self._reserve_output()

    def _reserve_output(self) -> None:
        """Create the output file exclusively, so that of two runs started together on one
        name the second is refused too (not only a run started after the first)."""
        output = self.output
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
        self._reserved = True

    def _release_output(self) -> None:
        """Remove the reserved, still empty, output of a job that never started."""
        if not self._reserved:
            return
        try:
            if self.output.stat().st_size == 0:
                self.output.unlink()
        except OSError:
            return

    @property
    def _want_manifest(self) -> bool:
        return self.config.output.manifest and not self.null_output

    def _sinks(self) -> list[Sink]:
        sinks: list[Sink] = []
        out_cfg = self.config.output
        try:
            if self.null_output:
                sinks.append(NullSink())
            elif isinstance(self.source, ImageSource):
                sinks.append(ImageSink(self.output, self.source.names, self.image_file_output))
            elif self.source.live and out_cfg.rotate_s > 0:
                header = self._part_header if self._want_manifest else None
                sinks.append(RotatingFileSink(self.output, self.source.info, out_cfg, header))
            else:
                sinks.append(FileSink(self.output, self.source.info, out_cfg, self.source.live))
            if out_cfg.mjpeg_port:
                sinks.append(
                    MjpegSink(out_cfg.mjpeg_host, out_cfg.mjpeg_port, out_cfg.mjpeg_quality)
                )
        except BaseException:
            for sink in sinks:
                sink.close()
            raise
        return sinks

    @property
    def mjpeg_url(self) -> str | None:
        for sink in self.sinks:
            if isinstance(sink, MjpegSink):
                return sink.url
        return None

    def discard(self) -> None:
        """Release a job that will not start (a stop came while it was being built)."""
        try:
            self.pipeline.finish_without_start()
        finally:
            self._release_output()

    def start(self) -> None:
        if not self.null_output:
            config_file = self.output.with_name(self.output.name + ".config.yaml")
            try:
                config_file.parent.mkdir(parents=True, exist_ok=True)
                config_file.write_text(dump_config(self.config))
            except OSError as err:
                self.pipeline.finish_without_start()
                raise write_error(config_file, err) from None
        self.pipeline.start()

    def finish(self, status: str) -> dict[str, Any]:
        """Close everything (re-raising the first error) and write the manifest."""
        error: BaseException | None = None
        try:
            self.pipeline.finish()
        except BaseException as err:
            error = err
            status = "failed"
        error = error or self.camera.error
        if error is not None:
            status = "failed"
        summary = self.stats.summary()
        if self._want_manifest:
            try:
                if isinstance(self.sinks[0], RotatingFileSink):
                    self.sinks[0].finish(status, error)
                else:
                    self._write_manifest(status, summary, error)
            except OSError as err:
                # Keep the first error (often the same full disk) as the one reported.
                error = error or write_error(manifest_path(self.output), err)
        self.recorder.close()
        if error is not None:
            raise error
        return summary

    def _part_header(self, status: str, error: BaseException | None) -> dict[str, Any]:
        summary = self.stats.summary()
        return run_header(status, error, self.source, self.models, self.config, summary)

    def _write_manifest(self, status: str, summary: dict, error: BaseException | None) -> None:
        header = run_header(status, error, self.source, self.models, self.config, summary)
        if self.config.detect.whole_image:
            header["images"] = self.face_images
        outputs = (
            [self.output]
            if self.output.is_file()
            else sorted(getattr(self.sinks[0], "written", []))
        )
        self.recorder.write(manifest_path(self.output), header, outputs)


def write_error(path: Path, err: OSError) -> OutputError:
    """The one-line error for a file that cannot be written (a full disk says so)."""
    if err.errno == errno.ENOSPC:
        return OutputError(f"disk full while writing {path}")
    return OutputError(f"cannot write {path}: {err.strerror or err}")
