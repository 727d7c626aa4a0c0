"""Builds a pipeline from a config, an input and an output, runs it, writes the manifest."""

from __future__ import annotations

import errno
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from streamproc.composite import Compositor
from streamproc.config import Config, dump_config
from streamproc.detect import FaceDetector
from streamproc.enhance.stage import EnhanceStage
from streamproc.errors import OutputError
from streamproc.manifest import ManifestRecorder, manifest_path, models_info, run_header
from streamproc.pipeline import Gather, Pipeline, Worker
from streamproc.sinks import Sink
from streamproc.sinks.file import FileSink
from streamproc.sinks.images import ImageSink
from streamproc.sinks.mjpeg import MjpegSink
from streamproc.sinks.null import NullSink
from streamproc.sinks.rotating import RotatingFileSink
from streamproc.sources import Source, open_source
from streamproc.sources.images import ImageSource
from streamproc.sources.urls import safe_name
from streamproc.track import FaceTracker

SAMPLE_CLIP = Path(__file__).resolve().parent / "data" / "sample.mp4"
NULL_OUTPUTS = ("null", "-")


def default_output(spec: str, source: Source, out_dir: Path = Path("out")) -> Path:
    if isinstance(source, ImageSource):
        return out_dir / f"{Path(spec).stem}.enhanced"
    if source.live:
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        return out_dir / f"{safe_name(spec)}-{stamp}.mp4"
    return out_dir / f"{Path(spec).stem}.enhanced.mp4"


@dataclass
class Job:
    """One input through one pipeline to its outputs."""

    spec: str
    config: Config
    output: Path | None = None
    # An already-open source (e.g. a wrapped one); by default ``spec`` is opened.
    source: Source | None = None
    pipeline: Pipeline = field(init=False)

    def __post_init__(self) -> None:
        if self.source is None:
            self.source = open_source(self.spec, self.config.source)
        try:
            self._build()
        except BaseException:
            self.source.close()
            raise

    def _build(self) -> None:
        cfg = self.config
        self.null_output = self.output is not None and str(self.output) in NULL_OUTPUTS
        if self.output is None:
            self.output = default_output(self.spec, self.source)
        in_path = self.source.info.path
        if (
            not self.null_output
            and in_path is not None
            and (self.output.resolve() == in_path.resolve())
        ):
            raise OutputError(f"output {self.output} would overwrite the input")
        detector = FaceDetector(cfg.detect)
        try:
            tracker = FaceTracker(cfg.track)
            enhancer = EnhanceStage(cfg.enhance)
        except BaseException:
            detector.close()
            raise
        self.detector, self.enhancer = detector, enhancer
        self.models = models_info(detector, enhancer.generator)
        workers = [
            Worker("detect", [detector, tracker]),
            Worker(
                "enhance",
                [enhancer, Compositor(cfg.composite)],
                Gather(
                    max_frames=cfg.enhance.max_batch_frames,
                    max_wait_ms=cfg.enhance.max_wait_ms,
                    max_faces=cfg.enhance.max_batch,
                ),
            ),
        ]
        self.recorder = ManifestRecorder()
        self.sinks = self._sinks()
        # A rotating sink records its own parts' manifests.
        record = self._want_manifest and not isinstance(self.sinks[0], RotatingFileSink)
        self.pipeline = Pipeline(
            self.source,
            workers,
            self.sinks,
            queue_frames=cfg.pipeline.queue_frames,
            live_queue_frames=cfg.pipeline.live_queue_frames,
            on_written=self.recorder.record if record else None,
        )

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
                sinks.append(ImageSink(self.output, self.source.names))
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

    def start(self) -> None:
        if not self.null_output:
            config_file = self.output.with_name(self.output.name + ".config.yaml")
            try:
                config_file.parent.mkdir(parents=True, exist_ok=True)
                config_file.write_text(dump_config(self.config))
            except OSError as err:
                self.pipeline.finish_without_start()
                raise _write_error(config_file, err) from None
        self.pipeline.start()

    def finish(self, status: str) -> dict[str, Any]:
        """Close everything (re-raising the first error) and write the manifest."""
        error: BaseException | None = None
        try:
            self.pipeline.finish()
        except BaseException as err:
            error = err
            status = "failed"
        summary = self.pipeline.stats.summary()
        if self._want_manifest:
            try:
                if isinstance(self.sinks[0], RotatingFileSink):
                    self.sinks[0].finish(status, error)
                else:
                    self._write_manifest(status, summary, error)
            except OSError as err:
                # Keep the first error (often the same full disk) as the one reported.
                error = error or _write_error(manifest_path(self.output), err)
        self.recorder.close()
        if error is not None:
            raise error
        return summary

    def _part_header(self, status: str, error: BaseException | None) -> dict[str, Any]:
        summary = self.pipeline.stats.summary()
        return run_header(status, error, self.source, self.models, self.config, summary)

    def _write_manifest(self, status: str, summary: dict, error: BaseException | None) -> None:
        header = run_header(status, error, self.source, self.models, self.config, summary)
        outputs = (
            [self.output]
            if self.output.is_file()
            else sorted(getattr(self.sinks[0], "written", []))
        )
        self.recorder.write(manifest_path(self.output), header, outputs)


def _write_error(path: Path, err: OSError) -> OutputError:
    if err.errno == errno.ENOSPC:
        return OutputError(f"disk full while writing {path}")
    return OutputError(f"cannot write {path}: {err.strerror or err}")
