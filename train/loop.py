"""The Pix2Pix training loop: resumable, visible, and reproducible from a seed.

A run directory holds ``config.yaml`` (resolved), ``metrics.jsonl`` (one row per epoch),
``loss_curves.png``, ``samples/epoch_NNNN.png`` (input | output | target) and
``checkpoints/{epoch_NNNN,last,best}.pt`` (best: highest validation PSNR). Data order and
degradations are functions of (seed, epoch, index) and the RNG states are checkpointed,
so resuming from an end-of-epoch checkpoint continues exactly as the uninterrupted run
would have (checked on CPU; cuDNN autotuning may differ on GPU).
An interrupt (Ctrl-C / SIGTERM) saves ``last.pt`` with the weights reached so far and the
number of *completed* epochs, so ``--resume`` repeats the interrupted epoch.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from torch.utils.data import DataLoader, Dataset

from streamproc.core.errors import ConfigError
from train import checkpoint as ckpt_io
from train.config import TrainConfig, dump_config, load_config
from train.data import build_datasets
from train.losses import Pix2PixLoss
from train.metrics import finite_mean, psnr, ssim
from train.models import define_D, define_G, outer_levels, same_architecture, set_requires_grad


@dataclass
class TrainResult:
    run_dir: Path
    epochs_done: int
    last_checkpoint: Path
    history: list[dict[str, Any]] = field(default_factory=list)
    interrupted: bool = False


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device: cuda was requested but torch sees no CUDA device")
    return torch.device(name)


def to_model_range(batch_uint8: torch.Tensor, device: torch.device) -> torch.Tensor:
    """uint8 NCHW -> float in [-1, 1] (the runtime's ``rgb_nchw_minus1_1``), on the device."""
    return batch_uint8.to(device, non_blocking=True).float().div_(127.5).sub_(1.0)


def to_uint8_images(batch: torch.Tensor) -> np.ndarray:
    """[-1, 1] NCHW -> uint8 NHWC RGB."""
    img = ((batch.detach().float().clamp(-1, 1) + 1) * 127.5).round().byte()
    return img.permute(0, 2, 3, 1).cpu().numpy()


def sample_grid(inputs: np.ndarray, outputs: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Rows of input | output | target, upscaled (nearest) to >= 128 px tiles."""
    rows = [np.hstack([i, o, t]) for i, o, t in zip(inputs, outputs, targets, strict=True)]
    grid = np.vstack(rows)
    scale = max(1, 128 // inputs.shape[1])
    return np.repeat(np.repeat(grid, scale, 0), scale, 1) if scale > 1 else grid


def plot_curves(history: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [row["epoch"] for row in history]
    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    for key in sorted({k for row in history for k in row if k.startswith("train_")}):
        axes[0].plot(epochs, [row.get(key, np.nan) for row in history], label=key[6:])
    axes[0].set(title="training losses (epoch mean)", xlabel="epoch", yscale="log")
    axes[0].legend(fontsize=8)
    for ax, metric, unit in ((axes[1], "psnr", "dB"), (axes[2], "ssim", "")):
        ax.plot(epochs, [row.get(f"val_{metric}", np.nan) for row in history], label="output")
        ax.plot(epochs, [row.get(f"val_input_{metric}", np.nan) for row in history], "--",
                label="degraded input")  # fmt: skip
        ax.set(title=f"validation {metric.upper()} {unit}".strip(), xlabel="epoch")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


class Trainer:
    def __init__(
        self, cfg: TrainConfig, resume: str | Path | None = None, console: Console | None = None
    ) -> None:
        self.cfg = cfg
        self.console = console or Console(stderr=True)
        self.device = resolve_device(cfg.device)
        self.run_dir = Path(cfg.run_dir)
        use_cuda = self.device.type == "cuda"
        self.amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(cfg.amp)
        self.amp_dtype = self.amp_dtype if use_cuda else None
        if use_cuda:
            torch.backends.cudnn.benchmark = True

        torch.manual_seed(cfg.seed)
        np.random.seed(cfg.seed % 2**32)
        resume_state = ckpt_io.load_checkpoint(resume) if resume else None
        self.train_set, self.val_set, self.provenance = build_datasets(cfg)
        self.loss = Pix2PixLoss(cfg.loss).to(self.device)
        self.generator = define_G(cfg.generator, seed=cfg.seed).to(self.device)
        self.discriminator = None
        if cfg.loss.gan_weight > 0:
            self.discriminator = define_D(cfg.discriminator, seed=cfg.seed + 1).to(self.device)
        if cfg.init_from and resume_state is None:
            self._init_generator(Path(cfg.init_from))
        self.frozen = outer_levels(self.generator, cfg.freeze_levels) if cfg.freeze_levels else []
        set_requires_grad(self.frozen, False)

        betas = (cfg.optim.beta1, cfg.optim.beta2)
        params = [p for p in self.generator.parameters() if p.requires_grad]
        self.opt_g = torch.optim.Adam(params, lr=cfg.optim.lr, betas=betas)
        self.sched_g = torch.optim.lr_scheduler.StepLR(
            self.opt_g, cfg.optim.lr_step_epochs, cfg.optim.lr_gamma
        )
        self.opt_d = self.sched_d = None
        if self.discriminator is not None:
            self.opt_d = torch.optim.Adam(
                self.discriminator.parameters(), cfg.optim.lr, betas=betas
            )
            self.sched_d = torch.optim.lr_scheduler.StepLR(
                self.opt_d, cfg.optim.lr_step_epochs, cfg.optim.lr_gamma
            )
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp_dtype == torch.float16)
        # Validation identity: SFace (the training loss's network) when it is configured.
        # dlib, the independent judge, is never used in training or checkpoint selection.
        self.identity = self.loss.identity
        self.start_epoch = 0
        self.history: list[dict[str, Any]] = []
        if resume_state is not None:
            self._restore(resume_state, Path(resume))

    # --- state -------------------------------------------------------------------------

    def _init_generator(self, path: Path) -> None:
        source = ckpt_io.load_checkpoint(path)
        # The weights of a fully convolutional generator do not depend on its input size:
        # a model may be fine-tuned at another size (the rest must match).
        if not same_architecture(dict(source["generator_config"]), self.cfg.generator.to_dict()):
            raise ConfigError(
                f"init_from {path}: its generator_config {dict(source['generator_config'])} "
                f"differs from this run's generator {self.cfg.generator.to_dict()}"
            )
        self.generator.load_state_dict(source["generator"])
        self.provenance["init_from"] = {"path": str(path), "epoch": int(source["epoch"]),
                                        "data_provenance": source["data_provenance"]}  # fmt: skip

    def _restore(self, state: dict[str, Any], path: Path) -> None:
        if dict(state["generator_config"]) != self.cfg.generator.to_dict():
            raise ConfigError(f"--resume {path}: checkpoint generator differs from the config's")
        self.generator.load_state_dict(state["generator"])
        self.opt_g.load_state_dict(state["optimizer_g"])
        self.sched_g.load_state_dict(state["scheduler_g"])
        if self.discriminator is not None:
            if "discriminator" not in state:
                raise ConfigError(f"--resume {path}: checkpoint has no discriminator")
            self.discriminator.load_state_dict(state["discriminator"])
            self.opt_d.load_state_dict(state["optimizer_d"])
            self.sched_d.load_state_dict(state["scheduler_d"])
        if "scaler" in state:
            self.scaler.load_state_dict(state["scaler"])
        if "init_from" in state["data_provenance"]:
            self.provenance["init_from"] = state["data_provenance"]["init_from"]
        self.start_epoch = int(state["epoch"])
        ckpt_io.set_rng_state(state["rng"])

    def state_dict(self, epoch: int, interrupted: bool = False) -> dict[str, Any]:
        state: dict[str, Any] = {
            "generator_config": self.cfg.generator.to_dict(),
            "generator": self.generator.state_dict(),
            "epoch": epoch,
            "train_config": self.cfg.to_dict(),
            "data_provenance": self.provenance,
            "optimizer_g": self.opt_g.state_dict(),
            "scheduler_g": self.sched_g.state_dict(),
            "scaler": self.scaler.state_dict(),
            "rng": ckpt_io.rng_state(),
            "interrupted": interrupted,
            "torch_version": str(torch.__version__),
        }
        if self.discriminator is not None:
            state["discriminator_config"] = self.cfg.discriminator.to_dict()
            state["discriminator"] = self.discriminator.state_dict()
            state["optimizer_d"] = self.opt_d.state_dict()
            state["scheduler_d"] = self.sched_d.state_dict()
        return state

    def save(self, epoch: int, interrupted: bool = False, periodic: bool = False) -> Path:
        folder = self.run_dir / "checkpoints"
        state = self.state_dict(epoch, interrupted)
        if periodic:
            ckpt_io.save_checkpoint(folder / f"epoch_{epoch:04d}.pt", state)
        return ckpt_io.save_checkpoint(folder / "last.pt", state)

    # --- steps -------------------------------------------------------------------------

    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast("cuda", dtype=self.amp_dtype)

    def _set_train_mode(self) -> None:
        self.generator.train()
        for module in self.frozen:  # frozen BatchNorm keeps its running statistics
            module.eval()
        if self.discriminator is not None:
            self.discriminator.train()

    def train_step(self, inp: torch.Tensor, target: torch.Tensor) -> dict[str, float]:
        d = self.discriminator
        with self._autocast():
            fake = self.generator(inp)
        logs: dict[str, float] = {}
        if d is not None:
            set_requires_grad(d, True)
            self.opt_d.zero_grad(set_to_none=True)
            with self._autocast():
                pred_fake = d(torch.cat([inp, fake.detach()], 1))
                pred_real = d(torch.cat([inp, target], 1))
                loss_d = self.loss.discriminator_loss(pred_real, pred_fake)
            self.scaler.scale(loss_d).backward()
            self.scaler.step(self.opt_d)
            set_requires_grad(d, False)
            logs["d"] = loss_d.item()
        self.opt_g.zero_grad(set_to_none=True)
        with self._autocast():
            pred = d(torch.cat([inp, fake], 1)) if d is not None else None
            terms = self.loss.generator_terms(fake, target, pred)
            loss_g = torch.stack(list(terms.values())).sum()
        self.scaler.scale(loss_g).backward()
        self.scaler.step(self.opt_g)
        self.scaler.update()
        logs.update({k: v.item() for k, v in terms.items()}, g_total=loss_g.item())
        return logs

    def _loader(self, dataset: Dataset, epoch: int, shuffle: bool) -> DataLoader:
        generator = torch.Generator().manual_seed(self.cfg.seed * 100_003 + epoch)
        data = self.cfg.data
        return DataLoader(
            dataset,
            batch_size=data.batch_size,
            shuffle=shuffle,
            generator=generator,
            num_workers=data.num_workers,
            pin_memory=self.device.type == "cuda",
            drop_last=shuffle and len(dataset) > data.batch_size,
        )

    @torch.no_grad()
    def validate(self) -> tuple[dict[str, float], np.ndarray]:
        self.generator.eval()
        self.val_set.set_epoch(0)
        scores: dict[str, list[float]] = defaultdict(list)
        n_val = len(self.val_set)
        wanted = set(
            np.linspace(0, n_val - 1, min(self.cfg.sample_count, n_val)).round().astype(int)
        )
        picked: list[list[np.ndarray]] = [[], [], []]  # input, output, target spread over the set
        offset = 0
        for batch in self._loader(self.val_set, 0, shuffle=False):
            inp = to_model_range(batch["input"], self.device)
            target = to_model_range(batch["target"], self.device)
            with self._autocast():
                out = self.generator(inp)
            out01, tgt01, in01 = ((t.float().clamp(-1, 1) + 1) / 2 for t in (out, target, inp))
            out_psnr = psnr(out01, tgt01)
            scores["val_psnr"] += out_psnr.tolist()
            if self.cfg.data.fused_fraction > 0:  # each kind of input apart
                fused = batch["fused"].to(out_psnr.device)
                for name, mask in (("val_psnr_fused", fused), ("val_psnr_single", ~fused)):
                    if bool(mask.any()):
                        scores[name] += out_psnr[mask].tolist()
            scores["val_ssim"] += ssim(out01, tgt01).tolist()
            scores["val_input_psnr"] += psnr(in01, tgt01).tolist()
            scores["val_input_ssim"] += ssim(in01, tgt01).tolist()
            images = [to_uint8_images(t) for t in (inp, out, target)]
            if self.identity is not None:
                ref = self.identity.embed(target.float())
                for name, t in (("val_sface", out), ("val_input_sface", inp)):
                    sim = (self.identity.embed(t.float().clamp(-1, 1)) * ref).sum(1)
                    scores[name] += sim.tolist()
            for i in range(len(images[0])):
                if offset + i in wanted:
                    for part, imgs in zip(picked, images, strict=True):
                        part.append(imgs[i])
            offset += len(images[0])
        grid = sample_grid(*(np.stack(part) for part in picked))
        return {k: finite_mean(v) for k, v in scores.items()}, grid

    # --- epochs ------------------------------------------------------------------------

    def _prepare_run_dir(self) -> None:
        (self.run_dir / "samples").mkdir(parents=True, exist_ok=True)
        dump_config(self.cfg, self.run_dir / "config.yaml")
        metrics = self.run_dir / "metrics.jsonl"
        if self.start_epoch and metrics.is_file():  # keep rows up to the resumed epoch
            rows = [json.loads(line) for line in metrics.read_text().splitlines() if line]
            self.history = [r for r in rows if r["epoch"] <= self.start_epoch]
        metrics.write_text("".join(json.dumps(r) + "\n" for r in self.history))
        self.best_psnr = max((r["val_psnr"] for r in self.history), default=float("-inf"))

    def _train_epoch(self, epoch: int, progress: Progress, deadline: float | None) -> tuple:
        self.train_set.set_epoch(epoch)
        self._set_train_mode()
        loader = self._loader(self.train_set, epoch, shuffle=True)
        task = progress.add_task(f"epoch {epoch + 1}/{self.cfg.epochs}", total=len(loader))
        sums: dict[str, float] = defaultdict(float)
        steps = images = 0
        out_of_time = False
        for batch in loader:
            inp = to_model_range(batch["input"], self.device)
            target = to_model_range(batch["target"], self.device)
            for key, value in self.train_step(inp, target).items():
                sums[key] += value
            steps += 1
            images += inp.shape[0]
            desc = f"epoch {epoch + 1}/{self.cfg.epochs} G {sums['g_total'] / steps:.3f}"
            progress.update(task, advance=1, description=desc)
            if deadline is not None and time.monotonic() > deadline:
                out_of_time = True
                break
        progress.remove_task(task)
        return {f"train_{k}": v / max(steps, 1) for k, v in sums.items()}, images, out_of_time

    def fit(self) -> TrainResult:
        cfg = self.cfg
        if cfg.amp != "none" and self.amp_dtype is None:
            self.console.print(f"[yellow]amp={cfg.amp} needs CUDA; training in fp32 on CPU")
        self._prepare_run_dir()
        start = time.monotonic()
        deadline = start + cfg.max_minutes * 60 if cfg.max_minutes else None
        epoch = self.start_epoch
        last = self.run_dir / "checkpoints" / "last.pt"
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
        )
        try:
            with Progress(*columns, console=self.console, transient=True) as progress:
                while epoch < cfg.epochs:
                    t0 = time.monotonic()
                    train_logs, images, out_of_time = self._train_epoch(epoch, progress, deadline)
                    lr = self.opt_g.param_groups[0]["lr"]
                    self.sched_g.step()
                    if self.sched_d is not None:
                        self.sched_d.step()
                    train_s = time.monotonic() - t0
                    val_logs, grid = self.validate()
                    epoch += 1
                    row = {"epoch": epoch, "lr": lr, **train_logs, **val_logs,
                           "epoch_s": train_s, "images_per_s": images / max(train_s, 1e-9),
                           "partial": out_of_time}  # fmt: skip
                    self._log_epoch(row, grid)
                    done = epoch >= cfg.epochs or out_of_time
                    if epoch % cfg.checkpoint_every == 0 or done:
                        last = self.save(epoch, periodic=True)
                    if row["val_psnr"] > self.best_psnr:  # best.pt: the one to export
                        self.best_psnr = row["val_psnr"]
                        ckpt_io.save_checkpoint(
                            self.run_dir / "checkpoints" / "best.pt", self.state_dict(epoch)
                        )
                    if out_of_time:
                        self.console.print(f"time budget of {cfg.max_minutes} min reached")
                        break
        except KeyboardInterrupt:
            last = self.save(epoch, interrupted=True)
            self.console.print(f"interrupted: saved {last} (completed epochs: {epoch})")
            return TrainResult(self.run_dir, epoch, last, self.history, interrupted=True)
        return TrainResult(self.run_dir, epoch, last, self.history)

    def _log_epoch(self, row: dict[str, Any], grid: np.ndarray) -> None:
        self.history.append(row)
        with open(self.run_dir / "metrics.jsonl", "a") as fh:
            fh.write(json.dumps(row) + "\n")
        cv2.imwrite(
            str(self.run_dir / "samples" / f"epoch_{row['epoch']:04d}.png"), grid[:, :, ::-1]
        )
        plot_curves(self.history, self.run_dir / "loss_curves.png")
        self.console.print(
            f"epoch {row['epoch']}: G {row.get('train_g_total', float('nan')):.3f} "
            f"PSNR {row['val_psnr']:.2f}/{row['val_input_psnr']:.2f} dB "
            f"SSIM {row['val_ssim']:.3f}/{row['val_input_ssim']:.3f} (out/in) "
            f"{row['images_per_s']:.0f} img/s"
        )


def train(
    cfg: TrainConfig, resume: str | Path | None = None, console: Console | None = None
) -> TrainResult:
    return Trainer(cfg, resume, console).fit()


def config_for_resume(
    resume: str | Path, config_path: Path | None, overrides: list[str]
) -> TrainConfig:
    """With ``--resume`` alone the checkpoint's own train_config is the base config."""
    if config_path is not None:
        return load_config(config_path, overrides)
    state = ckpt_io.load_checkpoint(resume)
    return load_config(None, overrides, base=dict(state["train_config"]))
