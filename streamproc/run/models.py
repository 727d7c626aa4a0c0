"""Loaded models kept for the next job of the same process: a batch worker runs many.

Loading is the start-up a Ray batch task paid again for every file: OpenVINO compiles the
detector (~0.7-1.7 s on 2 cores) and ONNX Runtime builds the generator's session. A
:class:`ModelCache` belongs to one worker (``streamproc.scale.batch``'s actor) and is
passed to each :class:`~streamproc.run.job.Job` it runs; the job's stages borrow the
models and never close them. Only the models are shared: each job still builds its own
detector (motion gate, per-camera state), tracker and enhance stage, so a job's output is
the same as with freshly loaded models.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json

from streamproc.audit.hashing import sha256_file
from streamproc.core.config import DetectConfig, EnhanceConfig
from streamproc.vision.detect import DetectorModel, load_detector, resolve_detector
from streamproc.vision.enhance.onnx import GeneratorRunner
from streamproc.vision.enhance.stage import (
    Generators,
    generator_runner,
    load_generators,
    resolve_generator,
)


def _key(config: DetectConfig | EnhanceConfig, model_sha256: str) -> str:
    """The model file's content and every setting of the section that built it."""
    settings = json.dumps(dataclasses.asdict(config), sort_keys=True, default=str)
    return hashlib.sha256(f"{model_sha256}\n{settings}".encode()).hexdigest()


class ModelCache:
    """One process's loaded detectors and generators, keyed by model sha256 + config."""

    def __init__(self) -> None:
        self._detectors: dict[str, DetectorModel] = {}
        self._generators: dict[str, GeneratorRunner] = {}
        self.loads = 0  # models loaded (not found here): what a test or a bench counts

    def detector(self, config: DetectConfig) -> DetectorModel:
        # resolve_detector hashes the file (and checks detect.model_sha256): a model file
        # replaced between two jobs is a new key, never the stale engine.
        _, sha256 = resolve_detector(config)
        key = _key(config, sha256)
        if key not in self._detectors:
            self._detectors[key] = load_detector(config)
            self.loads += 1
        return self._detectors[key]

    def generators(self, config: EnhanceConfig) -> Generators:
        """The main and small-face generators of ``config`` (None where it has none)."""
        return load_generators(config, self._generator)

    def _generator(self, config: EnhanceConfig) -> GeneratorRunner:
        key = _key(config, sha256_file(resolve_generator(config)))
        if key not in self._generators:
            self._generators[key] = generator_runner(config)
            self.loads += 1
        return self._generators[key]

    def close(self) -> None:
        for model in self._detectors.values():
            model.close()
        self._detectors.clear()
        self._generators.clear()
