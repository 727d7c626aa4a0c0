"""Would an int8 face detector be faster here? (issue 15; measured: no, see RESULTS.md)

    python -m benchmarks.int8_detector WORKDIR CLIP [CLIP ...]

Quantizes faceghost's YOLOv8n-face with ONNX Runtime's static quantization (QDQ,
per-channel; "all": every op, "conv": Convs only with the DFL left in float) and, when the
``nncf`` package is importable (``pip install --target DIR nncf``; not a dependency), with
NNCF on the OpenVINO model (head ignored). Calibration: every 7th frame of the clips (20
each); evaluation: other frames. Prints, per clip and model, OpenVINO ms per frame
(interleaved, 640 long side) and how many of the fp32 model's faces it finds (IoU >= 0.5),
also for faces <= 34 px.
"""

from __future__ import annotations

import sys
import time
from dataclasses import replace
from pathlib import Path

import av
import numpy as np

from streamproc.core.config import config_from_dict
from streamproc.vision.bytetrack import iou_matrix
from streamproc.vision.detect import Detections, OnnxEngine, default_detector_path
from streamproc.vision.letterbox import input_blob, plan_letterbox
from streamproc.vision.quantize import calibration_reader

LONG_SIDE_PX = 640


def frames(path: Path, step: int, limit: int, offset: int = 0) -> list[np.ndarray]:
    out = []
    with av.open(str(path)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i % step == offset:
                out.append(frame.to_ndarray(format="bgr24"))
            if len(out) >= limit:
                break
    return out


def blob(image: np.ndarray) -> np.ndarray:
    return input_blob([image], plan_letterbox(image.shape[1], image.shape[0], LONG_SIDE_PX))


def ort_int8(fp32: Path, work: Path, calib: list[np.ndarray], conv_only: bool) -> Path:
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    pre = work / "pre.onnx"
    if not pre.exists():
        quant_pre_process(str(fp32), str(pre), skip_symbolic_shape=True)
    out = work / ("det_int8_conv.onnx" if conv_only else "det_int8_all.onnx")
    extra = (
        {"op_types_to_quantize": ["Conv"], "nodes_to_exclude": ["/model.22/dfl/conv/Conv"]}
        if conv_only
        else {}
    )
    quantize_static(
        str(pre),
        str(out),
        calibration_reader([blob(i) for i in calib]),
        quant_format=QuantFormat.QDQ,
        per_channel=True,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
        **extra,
    )
    return out


def nncf_int8(fp32: Path, work: Path, calib: list[np.ndarray], shape: tuple[int, int]) -> Path:
    import nncf

    from streamproc.core.packages import import_openvino

    ov = import_openvino()

    model = ov.Core().read_model(str(fp32))
    model.reshape({"images": [1, 3, *shape]})
    ignored = nncf.IgnoredScope(
        patterns=["/model.22/dfl.*", "/model.22/(Sub|Add|Mul|Div|Concat|Sigmoid|Slice).*"]
    )
    quantized = nncf.quantize(
        model,
        nncf.Dataset([blob(i) for i in calib]),
        preset=nncf.QuantizationPreset.MIXED,
        subset_size=len(calib),
        ignored_scope=ignored,
    )
    out = work / "det_nncf.xml"
    ov.save_model(quantized, str(out))
    return out


def compare(reference: list[Detections], got: list[Detections]) -> tuple[int, int, int, int]:
    found = total = small_found = small_total = 0
    for ref, det in zip(reference, got, strict=True):
        hit = np.zeros(len(ref.scores), bool)
        if len(ref.scores) and len(det.scores):
            hit = iou_matrix(ref.boxes_xyxy, det.boxes_xyxy).max(axis=1) >= 0.5
        small = (ref.boxes_xyxy[:, 3] - ref.boxes_xyxy[:, 1]) <= 34
        found, total = found + int(hit.sum()), total + len(hit)
        small_found += int(hit[small].sum())
        small_total += int(small.sum())
    return found, total, small_found, small_total


def main(argv: list[str]) -> None:
    work, clips = Path(argv[0]), [Path(a) for a in argv[1:]]
    work.mkdir(parents=True, exist_ok=True)
    fp32, _ = default_detector_path()
    calib = [f for clip in clips for f in frames(clip, 7, 20)]
    models = {
        "fp32": fp32,
        "ort int8 all": ort_int8(fp32, work, calib, conv_only=False),
        "ort int8 conv": ort_int8(fp32, work, calib, conv_only=True),
    }
    try:
        height, width = blob(calib[0]).shape[2:]
        models["nncf int8"] = nncf_int8(fp32, work, calib, (height, width))
    except ImportError:
        print("nncf not importable: its variant is skipped")
    base = config_from_dict({}).detect
    engines = {k: OnnxEngine(path, replace(base, backend="openvino")) for k, path in models.items()}
    for clip in clips:
        images = frames(clip, 3, 50, offset=1)  # not the calibration frames
        times: dict[str, list[float]] = {k: [] for k in engines}
        found: dict[str, list[Detections]] = {k: [] for k in engines}
        for image in images:
            for name, engine in engines.items():
                start = time.perf_counter()
                found[name].append(engine.detect([image], LONG_SIDE_PX)[0])
                times[name].append(time.perf_counter() - start)
        for name in engines:
            hit, total, small_hit, small_total = compare(found["fp32"], found[name])
            print(
                f"{clip.stem}: {name}: {1000 * np.median(times[name]):.1f} ms, "
                f"{hit} of {total} fp32 faces ({small_hit} of {small_total} <= 34 px)"
            )


if __name__ == "__main__":
    main(sys.argv[1:])
