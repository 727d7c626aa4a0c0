"""An int8 copy of the face detector, built on this machine from the shipped fp32 one.

On CPUs without bfloat16 (most desktops and laptops: AVX2, no AMX or AVX512-BF16) OpenVINO
runs the fp32 YOLOv8n-face in fp32, and detection is most of the engine's CPU; the int8
copy is ~1.1-1.2x faster per frame and finds 98.9-99.2 % of the fp32 model's faces
(benchmarks/RESULTS.md, "A CPU without bfloat16"). Where the CPU has bfloat16, OpenVINO
already runs the fp32 graph in bf16 and int8 was measured no faster.

The faceghost model is AGPL-3.0 and is not redistributed: ``streamproc prepare`` (run by
scripts/install.sh) quantizes it here with ONNX Runtime's static quantization: Convs only,
per channel, percentile-calibrated on frames of the clip shipped with streamproc; the
first conv, the class branch and the box decoder's DFL conv stay float. The result goes
to the cache folder with a JSON record of where it came from (source and calibration
sha256, method, licence) and its own sha256, which is checked on every load.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from streamproc.audit.hashing import sha256_file
from streamproc.core.errors import ModelError
from streamproc.vision.letterbox import input_blob, plan_letterbox

log = logging.getLogger(__name__)

METHOD = (
    "onnxruntime.quantization.quantize_static: QDQ, Conv only, per channel, u8 activations, "
    "s8 weights, percentile calibration"
)
# Kept in float: the first conv (the image itself: quantizing it cost a weak face 0.15 of
# its score), the class branch (the scores) and the DFL conv (it decodes box offsets).
EXCLUDED_NODES = (
    "/model.0/conv/Conv",
    *(f"/model.22/cv3.{level}/cv3.{level}.{i}/conv/Conv" for level in range(3) for i in (0, 1)),
    *(f"/model.22/cv3.{level}/cv3.{level}.2/Conv" for level in range(3)),
    "/model.22/dfl/conv/Conv",
)
RECIPE = 2  # bumped whenever the method changes: a copy built by another recipe is rebuilt
CALIBRATION_EVERY_N = 3  # frames of the calibration clip (120 frames -> 40)
CALIBRATION_LONG_SIDE_PX = 640


def cache_dir(configured: str) -> Path:
    """``detect.cache_dir``, else $XDG_CACHE_HOME/streamproc, else ~/.cache/streamproc."""
    if configured:
        return Path(configured).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "streamproc"


@dataclass(frozen=True)
class Int8Model:
    """Where the int8 detector of one fp32 source lives in the cache."""

    path: Path
    record: Path

    @classmethod
    def of(cls, folder: Path, source_sha256: str) -> Int8Model:
        stem = f"detector-int8-r{RECIPE}-{source_sha256[:16]}"
        return cls(folder / f"{stem}.onnx", folder / f"{stem}.json")

    def verified(self, source_sha256: str) -> str | None:
        """The model's sha256 if it was built from ``source_sha256`` and is intact, else
        None."""
        if not (self.path.is_file() and self.record.is_file()):
            return None
        try:
            record = json.loads(self.record.read_text())
        except (OSError, ValueError) as err:
            raise ModelError(f"{self.record}: unreadable ({err}); delete it and rebuild") from None
        if record.get("source_sha256") != source_sha256:
            return None
        actual = sha256_file(self.path)
        if actual != record.get("sha256"):
            raise ModelError(
                f"{self.path}: sha256 {actual[:12]}... is not the recorded "
                f"{str(record.get('sha256'))[:12]}...; delete it and run `streamproc prepare`"
            )
        return actual


def calibration_frames(clip: Path, every_n: int = CALIBRATION_EVERY_N) -> list[np.ndarray]:
    """Every ``every_n``-th frame of ``clip`` as the detector's input blob (1, 3, H, W)."""
    blobs = []
    with av.open(str(clip)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i % every_n == 0:
                image = frame.to_ndarray(format="bgr24")
                box = plan_letterbox(image.shape[1], image.shape[0], CALIBRATION_LONG_SIDE_PX)
                blobs.append(input_blob([image], box))
    if not blobs:
        raise ModelError(f"calibration clip {clip} has no frames")
    return blobs


def calibration_reader(blobs: list[np.ndarray]):
    """ONNX Runtime's calibration input: the detector's input blobs, one at a time."""
    from onnxruntime.quantization import CalibrationDataReader

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._next = iter(blobs)

        def get_next(self) -> dict[str, np.ndarray] | None:
            blob = next(self._next, None)
            return None if blob is None else {"images": blob}

    return Reader()


def build_int8(
    source: Path, source_sha256: str, target: Int8Model, calibration_clip: Path, licence: str
) -> str:
    """Quantize ``source`` into ``target`` (written atomically); returns its sha256."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    blobs = calibration_frames(calibration_clip)
    folder = target.path.parent
    folder.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    pre = folder / f".{target.path.stem}.pre.onnx"
    partial = folder / f".{target.path.name}.partial"
    try:  # ORT's calibration prints its histogram settings: kept out of the user's terminal
        with contextlib.redirect_stdout(io.StringIO()):
            quant_pre_process(str(source), str(pre), skip_symbolic_shape=True)
            quantize_static(
                str(pre),
                str(partial),
                calibration_reader(blobs),
                quant_format=QuantFormat.QDQ,
                per_channel=True,
                activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8,
                op_types_to_quantize=["Conv"],
                nodes_to_exclude=list(EXCLUDED_NODES),
                calibrate_method=CalibrationMethod.Percentile,  # MinMax lost 5 of 152 faces
            )
        os.replace(partial, target.path)
    finally:
        pre.unlink(missing_ok=True)
        partial.unlink(missing_ok=True)
    record = {
        "what": "int8 copy of the face detector, built on this machine by streamproc prepare",
        "source": source.name,
        "source_sha256": source_sha256,
        "licence": licence,
        "method": METHOD,
        "recipe": RECIPE,
        "excluded_nodes": list(EXCLUDED_NODES),
        "calibration_clip": calibration_clip.name,
        "calibration_sha256": sha256_file(calibration_clip),
        "calibration_frames": len(blobs),
        "sha256": sha256_file(target.path),
        "built_s": round(time.perf_counter() - started, 1),
    }
    target.record.write_text(json.dumps(record, indent=1) + "\n")
    log.info("int8 face detector built in %.1f s: %s", record["built_s"], target.path)
    return record["sha256"]
