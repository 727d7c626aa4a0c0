"""A live camera's recording as a chain of files, each with its own manifest.

A camera recorded for weeks must not end as one huge file whose manifest is written only
at the very end (a crash on day six would lose six days of manifest, and the manifest of a
week at 25 fps is gigabytes). With ``output.rotate_s`` the recording starts a new file
every ``rotate_s`` seconds of wall time; the finished file gets its manifest at once. The
first file keeps the output's name, the next ones are ``<stem>.part0001.mp4``, ...

Each manifest names its place in the chain: the part number and the sha256 of the
previous part's manifest, so a missing or altered part is visible.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from streamproc.audit.hashing import sha256_file
from streamproc.audit.manifest import ManifestRecorder, manifest_path
from streamproc.core.config import OutputConfig
from streamproc.core.packet import FramePacket
from streamproc.io.sinks.file import FileSink
from streamproc.io.sources import SourceInfo

# (status, error) -> the manifest header of the run so far (see manifest.run_header).
HeaderFn = Callable[[str, BaseException | None], dict[str, Any]]


def part_path(first: Path, part: int) -> Path:
    return first if part == 0 else first.with_name(f"{first.stem}.part{part:04d}{first.suffix}")


class RotatingFileSink:
    """FileSink + ManifestRecorder per part; a new part every ``rotate_s`` seconds."""

    name = "file"

    def __init__(
        self,
        path: Path,
        info: SourceInfo,
        config: OutputConfig,
        header: HeaderFn | None,
    ) -> None:
        self.first = path
        self._info, self._config, self._header = info, config, header
        self.part = 0
        self._sink = FileSink(path, info, config, live=True)
        self._recorder = ManifestRecorder() if header is not None else None
        self._started_s: float | None = None
        self._previous_manifest_sha256: str | None = None
        self.parts: list[Path] = []  # finished parts, each with its manifest

    @property
    def path(self) -> Path:
        return part_path(self.first, self.part)

    def write(self, packet: FramePacket) -> None:
        now = time.monotonic()
        if self._started_s is None:
            self._started_s = now
        elif now - self._started_s >= self._config.rotate_s and self._sink.frames_written:
            self._rotate()
            self._started_s = now
        self._sink.write(packet)
        if self._recorder is not None:
            self._recorder.record(packet)

    def _rotate(self) -> None:
        self._sink.close()
        self._write_manifest("finished", None)
        self.parts.append(self.path)
        self.part += 1
        self._sink = FileSink(self.path, self._info, self._config, live=True)
        if self._header is not None:
            self._recorder = ManifestRecorder()

    def _write_manifest(self, status: str, error: BaseException | None) -> None:
        if self._recorder is None or self._header is None:
            return
        header = self._header(status, error)
        header["part"] = {
            "index": self.part,
            "first": self.first.name,
            "previous_manifest_sha256": self._previous_manifest_sha256,
        }
        path = manifest_path(self.path)
        try:
            self._recorder.write(path, header, [self.path])
        finally:
            self._recorder.close()
            self._recorder = None
        self._previous_manifest_sha256 = sha256_file(path)

    def close(self) -> None:
        self._sink.close()

    def finish(self, status: str, error: BaseException | None) -> None:
        """The last part's manifest (after ``close``), with the run's final status."""
        self._write_manifest(status, error)
        if self.path.is_file():
            self.parts.append(self.path)
