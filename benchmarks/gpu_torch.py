"""Generator throughput with PyTorch on a CUDA GPU (faces/s by batch size, fp32 and fp16).

Used on lent GPU machines whose Python has torch but cannot install onnxruntime-gpu; the
ORT CUDA/TensorRT numbers come from ``streamproc-bench --providers cuda,cpu`` where it is
installed. Prints one JSON object.

    python benchmarks/gpu_torch.py [--configs lite seed] [--batches 1 8 32 128]
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from train.models import LITE_GENERATOR, SEED_GENERATOR, define_G

CONFIGS = {"lite": LITE_GENERATOR, "seed": SEED_GENERATOR}


def faces_per_s(
    model: torch.nn.Module, batch: int, size: int, dtype: torch.dtype, min_s: float = 1.0
) -> float:
    x = torch.randn(batch, 3, size, size, device="cuda", dtype=dtype)
    with torch.inference_mode():
        for _ in range(3):
            model(x)
        torch.cuda.synchronize()
        n, start = 0, time.perf_counter()
        while time.perf_counter() - start < min_s:
            model(x)
            n += 1
        torch.cuda.synchronize()
    return n * batch / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--configs", nargs="+", default=["lite", "seed"])
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 8, 32, 128, 256])
    args = parser.parse_args()
    torch.backends.cudnn.benchmark = True
    report = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__, "runs": []}
    for name in args.configs:
        config = CONFIGS[name]
        for dtype in (torch.float32, torch.float16):
            model = define_G(config, seed=0).eval().to("cuda", dtype)
            for batch in args.batches:
                rate = faces_per_s(model, batch, config.input_size, dtype)
                report["runs"].append(
                    {
                        "config": name,
                        "dtype": str(dtype).split(".")[-1],
                        "batch": batch,
                        "faces_per_s": round(rate, 1),
                    }
                )
                print(name, dtype, batch, round(rate, 1), flush=True)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
