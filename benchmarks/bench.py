"""``streamproc-bench``: every throughput figure of the pipeline in one run.

    streamproc-bench --quick                      # < 3 min on 2 cores: the shipped sample
    streamproc-bench                              # 720p + 1080p synthetic clips, sweeps
    streamproc-bench --clip footage.mp4 --providers cuda,cpu --device 0
    streamproc-bench --realtime-only [--clip footage.mp4]   # issue 15's figures only

Writes ``results.json``, ``results.md`` and two PNG plots into ``--out`` and prints a
table, the two ratios that decide whether the pipeline is real-time (end-to-end fps over
the decode+encode ceiling; ORT batched over torch batch-1 faces/s) and the targets met or
not. See benchmarks/README.md for what each number means.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import socket
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from benchmarks import measure, realtime, report
from benchmarks.clips import RESOLUTIONS, ClipSpec, probe_clip, trim, write_synthetic
from benchmarks.measure import Timing
from streamproc.core.config import config_from_dict
from streamproc.core.errors import StreamprocError
from streamproc.run.job import SAMPLE_CLIP, Job

MODES = ("classical", "generator", "both")
OUTPUTS = ("null", "file")


@dataclass(frozen=True)
class Plan:
    """What one run measures; ``--quick`` and the defaults are two instances."""

    frames: int
    resolutions: tuple[str, ...]
    imgsz: tuple[int, ...]
    batches: tuple[int, ...]
    sweep_faces: tuple[int, ...]  # faces per frame of the fps-vs-faces sweep (720p)
    sweep_frames: int
    detect_frames: int
    timing: Timing


QUICK = Plan(
    frames=40,
    resolutions=("720p",),
    imgsz=(320, 640),
    batches=(1, 8, 16),
    sweep_faces=(),
    sweep_frames=0,
    detect_frames=8,
    timing=Timing(min_s=0.4, min_iters=3, warmup=1),
)
FULL = Plan(
    frames=120,
    resolutions=("720p", "1080p"),
    imgsz=(320, 480, 640),
    batches=(1, 4, 8, 16, 32),
    sweep_faces=(0, 1, 2, 4, 8),
    sweep_frames=48,
    detect_frames=24,
    timing=Timing(min_s=2.0, min_iters=5, warmup=2),
)


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(v) for v in text.split(",") if v.strip())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="streamproc-bench", description=__doc__.split("\n\n")[0].strip("`: ")
    )
    parser.add_argument("--quick", action="store_true", help="small run: < 3 min on 2 cores")
    parser.add_argument("--clip", type=Path, help="benchmark this clip instead of synthetic ones")
    parser.add_argument("--out", type=Path, help="results folder (default benchmarks/results/TAG)")
    parser.add_argument("--providers", default="cpu", help="ORT providers, e.g. cuda,cpu")
    parser.add_argument("--device", default="cpu", help="detection device: cpu or 0")
    parser.add_argument(
        "--generator-config",
        choices=("lite", "seed", "tiny"),
        default="lite",
        help="LITE_GENERATOR (default), SEED_GENERATOR (64 ch) or the tests' tiny one",
    )
    parser.add_argument("--frames", type=int, help="frames per clip (trims --clip)")
    parser.add_argument("--imgsz", type=_ints, help="detector sizes, e.g. 320,480,640")
    parser.add_argument("--batches", type=_ints, help="generator batch sizes, e.g. 1,8,32")
    parser.add_argument("--sweep-faces", type=_ints, help="faces per frame to sweep, e.g. 0,2,8")
    parser.add_argument("--min-time-s", type=float, help="time each micro-benchmark this long")
    parser.add_argument("--modes", default=",".join(MODES), help="enhance modes end to end")
    parser.add_argument(
        "--fp16", action=argparse.BooleanOptionalAction, help="also an fp16 model (default: GPU)"
    )
    parser.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    parser.add_argument(
        "--realtime-only",
        action="store_true",
        help="only the real-time section (benchmarks/realtime.py): e2e/ceiling, recall vs "
        "exhaustive detection, live drops and latency, start-up; on --clip if given",
    )
    parser.add_argument(
        "--no-realtime",
        action="store_true",
        help="skip the real-time section (it runs with --quick and the full synthetic run)",
    )
    return parser


def _plan(args: argparse.Namespace) -> Plan:
    plan = QUICK if args.quick else FULL
    changes: dict[str, Any] = {}
    for name in ("frames", "imgsz", "batches", "sweep_faces"):
        if getattr(args, name) is not None:
            changes[name] = getattr(args, name)
    if args.min_time_s is not None:
        changes["timing"] = replace(plan.timing, min_s=args.min_time_s)
    if args.clip is not None and args.sweep_faces is None:
        changes["sweep_faces"] = ()  # the sweep is synthetic: only on request with --clip
    if args.sweep_faces and not plan.sweep_frames:
        changes["sweep_frames"] = 24
    return replace(plan, **changes)


def _generator_config(name: str):
    from export.onnx import TINY_GENERATOR
    from train.models import LITE_GENERATOR, SEED_GENERATOR

    return {"lite": LITE_GENERATOR, "seed": SEED_GENERATOR, "tiny": TINY_GENERATOR}[name]


def device_tag(providers: tuple[str, ...]) -> str:
    host = socket.gethostname().split(".")[0] or "host"
    if "cuda" in providers or "tensorrt" in providers:
        try:
            import torch

            gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "gpu"
        except (ImportError, RuntimeError):
            gpu = "gpu"
        tag = f"{host}-{gpu}"
    else:
        tag = f"{host}-cpu{os.cpu_count()}"
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in tag)


class Bench:
    """Holds the run's settings and collects results into one dict."""

    def __init__(self, args: argparse.Namespace, work: Path, log) -> None:
        self.args, self.work, self.log = args, work, log
        self.plan = _plan(args)
        self.providers = tuple(p.strip() for p in args.providers.split(",") if p.strip())
        self.gpu = "cuda" in self.providers or "tensorrt" in self.providers
        self.fp16 = self.gpu if args.fp16 is None else args.fp16
        self.modes = tuple(m.strip() for m in args.modes.split(",") if m.strip())
        self.results: dict[str, Any] = {}

    # -- setup ---------------------------------------------------------------------------
    def clips(self) -> dict[str, Path]:
        """name -> clip: --clip or the sample (quick), else one synthetic clip per resolution."""
        plan = self.plan
        if self.args.clip is not None or self.args.quick:
            src = self.args.clip or SAMPLE_CLIP
            if not src.is_file():
                raise StreamprocError(f"clip not found: {src}")
            info = probe_clip(src)
            if self.args.frames or self.args.quick:
                src = trim(src, self.work / f"{src.stem}.trim.mp4", plan.frames)
            return {f"{Path(self.args.clip or SAMPLE_CLIP).stem}-{info['height_px']}p": src}
        clips = {}
        for res in plan.resolutions:
            width, height = RESOLUTIONS[res]
            spec = ClipSpec(width, height, plan.frames, faces=(1, 2, 3))
            self.log(f"writing {res} clip ({plan.frames} frames, 1-3 faces)")
            clips[f"synthetic-{res}"] = write_synthetic(self.work / f"{res}.mp4", spec)
        return clips

    def export_models(self) -> dict[str, Path]:
        from export.onnx import export_generator
        from train.models import define_G

        gen_config = _generator_config(self.args.generator_config)
        self.model = define_G(gen_config, seed=0)
        self.gen_config = gen_config
        models = {}
        for precision in ("fp32", "fp16") if self.fp16 else ("fp32",):
            self.log(f"exporting {self.args.generator_config} generator ({precision})")
            rep = export_generator(
                self.model,
                gen_config,
                self.work / f"generator-{precision}.onnx",
                fp16=precision == "fp16",
                provenance={"source": "streamproc-bench: define_G(seed=0), untrained"},
            )
            models[precision] = rep.path
        self.results["generator_model"] = {
            "name": self.args.generator_config,
            "config": gen_config.to_dict(),
            "params": sum(p.numel() for p in self.model.parameters()),
            "onnx_bytes": models["fp32"].stat().st_size,
        }
        return models

    def config(self, mode: str, model: Path | None, **detect: Any):
        data = {
            "detect": {"device": self.args.device, **detect},
            "enhance": {"mode": mode, "providers": list(self.providers)},
        }
        if model is not None:
            data["enhance"]["model"] = str(model)
        return config_from_dict(data)

    # -- measurements --------------------------------------------------------------------
    def io(self, clips: dict[str, Path]) -> None:
        io = {}
        for name, clip in clips.items():
            self.log(f"decode / decode+encode: {name}")
            info = probe_clip(clip)
            io[name] = {
                **info,
                "decode": measure.decode_fps(clip),
                "decode_encode": measure.decode_encode_fps(clip, self.config("off", None)),
            }
        self.results["io"] = io

    def detection(self, clip: Path) -> None:
        frames = measure.decode_frames(clip, self.plan.detect_frames)
        rows = []
        for imgsz in self.plan.imgsz:
            self.log(f"detection imgsz={imgsz}")
            rows.append(measure.detection(frames, imgsz, self.args.device, self.plan.timing))
        self.results["detection"] = rows
        pairs = measure.face_crops(frames, self.args.device)
        source = "clip"
        if not pairs:
            pairs, source = measure.fallback_crops(measure.face_sprites()), "zidane sprites"
        self.log(f"classical / composite on {len(pairs)} face crops ({source})")
        per_face = measure.per_face(pairs, self.gen_config.input_size, self.plan.timing)
        self.results["per_face"] = {**per_face, "crops_from": source}

    def generator(self, models: dict[str, Path]) -> None:
        gen: dict[str, Any] = {}
        for precision, model in models.items():
            rows = []
            for batch in self.plan.batches:
                self.log(f"generator ORT {precision} batch {batch}")
                rows.append(measure.ort_generator(model, self.providers, batch, self.plan.timing))
            gen[f"ort_{precision}"] = rows
        torch_device = "cpu"
        if self.gpu:
            import torch

            torch_device = "cuda" if torch.cuda.is_available() else "cpu"
        self.log(f"generator torch eager batch 1 ({torch_device})")
        gen["torch_b1"] = measure.torch_generator(
            self.model, self.gen_config.input_size, torch_device, self.plan.timing
        )
        self.results["generator"] = gen

    def end_to_end(self, clips: dict[str, Path], model: Path) -> None:
        runs = []
        for name, clip in clips.items():
            for mode in self.modes:
                for output in OUTPUTS:
                    runs.append(self._job(name, clip, mode, output, model))
        for n_faces in self.plan.sweep_faces:
            width, height = RESOLUTIONS["720p"]
            spec = ClipSpec(width, height, self.plan.sweep_frames, faces=(n_faces,), seed=1)
            clip = write_synthetic(self.work / f"sweep-{n_faces}.mp4", spec)
            for mode in [m for m in self.modes if m != "both"]:
                runs.append(
                    self._job(f"sweep-720p-{n_faces}faces", clip, mode, "null", model, n_faces)
                )
        self.results["end_to_end"] = runs

    def _job(self, name, clip, mode, output, model, sweep_faces=None) -> dict:
        self.log(f"end to end: {name} {mode} -> {output}")
        out = Path("null") if output == "null" else self.work / f"e2e-{name}-{mode}.mp4"
        job = Job([str(clip)], self.config(mode, model), out)
        row = measure.run_job(job)
        return {"clip": name, "mode": mode, "output": output, "sweep_faces": sweep_faces, **row}

    def live(self, name: str, clip: Path, model: Path) -> None:
        from benchmarks.paced import PacedSource
        from streamproc.io.sources import open_source

        mode = "generator" if "generator" in self.modes else self.modes[0]
        self.log(f"live (paced at the clip's fps): {name} {mode} -> file")
        config = self.config(mode, model)
        source = PacedSource(open_source(str(clip), config.source))
        job = Job([str(clip)], config, self.work / "live.mp4", sources=[source])
        row = measure.run_job(job)
        self.results["live"] = {"clip": name, "mode": mode, "source_fps": job.source.fps, **row}

    def run(self) -> dict[str, Any]:
        started = time.perf_counter()
        clips = self.clips()
        first_name, first_clip = next(iter(clips.items()))
        models = self.export_models()
        self.io(clips)
        self.detection(first_clip)
        self.generator(models)
        self.end_to_end(clips, models["fp32"])
        self.live(first_name, first_clip, models["fp32"])
        if self.args.clip is None and not self.args.no_realtime:
            self.results["realtime"] = realtime.run(
                self.work, self.log, None, self.args.quick, self.config("auto", None)
            )
        self.results["peak_rss_mb"] = measure.peak_rss_mb()
        self.results["bench_s"] = time.perf_counter() - started
        self.results["env"] = self.env()
        return self.results

    def env(self) -> dict[str, Any]:
        import av
        import onnxruntime as ort
        import torch

        return {
            "host": socket.gethostname(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(),
            "onnxruntime": ort.__version__,
            "ort_available_providers": ort.get_available_providers(),
            "av": av.__version__,
            "providers": list(self.providers),
            "detect_device": self.args.device,
            "fp16": self.fp16,
            "quick": self.args.quick,
            "plan": {k: v for k, v in vars(self.plan).items() if k != "timing"},
            "timing": vars(self.plan.timing),
            "utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, tuple | set):
        return list(value)
    return str(value)


def _finite(value: Any) -> Any:
    """JSON has no NaN/inf: store them as null so a reader notices."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def _realtime_only(args: argparse.Namespace, log) -> int:
    """The real-time section alone: no generator export, no torch in this process."""
    started = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory(prefix="streamproc-bench-") as tmp:
            data = {
                "detect": {"device": args.device},
                "enhance": {"providers": args.providers.split(",")},
            }
            section = realtime.run(Path(tmp), log, args.clip, args.quick, config_from_dict(data))
    except StreamprocError as err:
        print(f"streamproc-bench: error: {err}", file=sys.stderr)
        return err.exit_code
    results = {
        "realtime": section,
        "bench_s": time.perf_counter() - started,
        "utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "host": socket.gethostname(),
        "cpus": os.cpu_count(),
        "load_avg": os.getloadavg(),
    }
    results = _finite(json.loads(json.dumps(results, default=_json_default)))
    out = args.out or Path("benchmarks/results") / f"{device_tag(('cpu',))}-realtime"
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    text = realtime.lines(section)
    (out / "results.md").write_text(
        "# streamproc-bench --realtime-only\n\n" + "\n".join(f"    {t}" for t in text) + "\n"
    )
    print("\n".join(text))
    print(f"results: {out}/results.json, results.md")
    return 0


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("YOLO_AUTOINSTALL", "false")
    os.environ.setdefault("YOLO_VERBOSE", "false")
    args = build_parser().parse_args(argv)
    from rich.console import Console

    console = Console(stderr=True)

    def log(text: str) -> None:
        console.log(text)

    if args.realtime_only:
        return _realtime_only(args, log)
    try:
        with tempfile.TemporaryDirectory(prefix="streamproc-bench-") as tmp:
            bench = Bench(args, Path(tmp), log)
            results = bench.run()
            summary = report.summarise(results, gpu=bench.gpu)
            results.update(summary)
            results = _finite(json.loads(json.dumps(results, default=_json_default)))
            out = args.out or Path("benchmarks/results") / device_tag(bench.providers)
            out.mkdir(parents=True, exist_ok=True)
            (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
            (out / "results.md").write_text(report.markdown(results))
            if not args.no_plots:
                report.plots(results, out)
    except StreamprocError as err:
        print(f"streamproc-bench: error: {err}", file=sys.stderr)
        return err.exit_code
    report.print_tables(results, Console(width=max(Console().width, 150)))
    print(f"results: {out}/results.json, results.md" + ("" if args.no_plots else ", *.png"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
