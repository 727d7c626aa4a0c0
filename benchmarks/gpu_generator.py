"""Generator throughput on the torch runtime (``enhance.runtime: torch``), faces/s per batch.

Made for the lent GPU machine (torch + CUDA, no onnxruntime-gpu): it needs torch, numpy and
onnx only, and runs the shipped model the way the pipeline does. On this project's CPU
machine it runs too (``--providers cpu``), which is how it is tested.

    python -m benchmarks.gpu_generator --providers cuda --batches 1,8,32,64 --out gpu.json
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch

from streamproc.core.config import EnhanceConfig
from streamproc.vision.enhance.stage import SHIPPED_MODEL
from streamproc.vision.enhance.torch_graph import TorchGeneratorRunner


def faces_per_s(runner: TorchGeneratorRunner, batch: int, seconds: float) -> dict[str, float]:
    size = runner.input_size_px
    x = np.random.default_rng(0).uniform(-1, 1, (batch, 3, size, size)).astype(np.float32)
    runner(x)  # warm-up: kernels chosen, memory allocated
    if runner.device.type == "cuda":
        torch.cuda.synchronize()
    calls, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        runner(x)  # returns numpy: includes the copy back, as in the pipeline
        calls += 1
    elapsed = time.perf_counter() - t0
    return {
        "batch": batch,
        "faces_per_s": calls * batch / elapsed,
        "ms_per_call": 1000 * elapsed / calls,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=SHIPPED_MODEL)
    parser.add_argument("--providers", default="cuda", help="cuda (GPU) or cpu")
    parser.add_argument("--batches", default="1,8,32")
    parser.add_argument("--seconds", type=float, default=3.0, help="per batch size")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    batches = [int(b) for b in args.batches.split(",")]
    config = EnhanceConfig(
        mode="generator", runtime="torch", providers=(args.providers,), max_batch=max(batches)
    )
    runner = TorchGeneratorRunner(args.model, config)
    rows = [faces_per_s(runner, b, args.seconds) for b in batches]
    doc = {
        "model": args.model.name,
        "model_sha256": runner.model_sha256,
        "device": str(runner.device),
        "gpu": torch.cuda.get_device_name(runner.device) if runner.device.type == "cuda" else None,
        "torch": torch.__version__,
        "machine": platform.node(),
        "rows": rows,
    }
    text = json.dumps(doc, indent=1)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
