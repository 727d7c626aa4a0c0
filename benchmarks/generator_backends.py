"""The shipped generator on ONNX Runtime and on OpenVINO (CPU, 1 thread each), ms a face.

    python -m benchmarks.generator_backends [ROUNDS]

128 px crops at batch 1, 3 and 8; the two take turns call by call; medians of ROUNDS (15).
"""

from __future__ import annotations

import statistics
import sys
import time

import numpy as np

from streamproc.vision.enhance.stage import SHIPPED_MODEL


def main(argv: list[str]) -> None:
    import onnxruntime as ort

    from streamproc.core.packages import import_openvino

    ov = import_openvino()

    rounds = int(argv[0]) if argv else 15
    model = str(SHIPPED_MODEL)
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    compiled = ov.Core().compile_model(
        model, "CPU", {"INFERENCE_NUM_THREADS": 1, "PERFORMANCE_HINT": "LATENCY"}
    )
    rng = np.random.default_rng(0)
    for batch in (1, 3, 8):
        crops = rng.random((batch, 3, 128, 128), dtype=np.float32)
        times: dict[str, list[float]] = {"onnxruntime": [], "openvino": []}
        for _ in range(rounds):
            t0 = time.perf_counter()
            session.run(None, {name: crops})
            times["onnxruntime"].append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            compiled([crops])
            times["openvino"].append(time.perf_counter() - t0)
        per_face = {k: round(1000 * statistics.median(v) / batch, 2) for k, v in times.items()}
        print(f"batch {batch}: ms a face {per_face}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
