"""Checkpoints that load with ``torch.load(weights_only=True)`` and say what they hold.

Every checkpoint carries ``generator_config`` (the architecture), ``generator`` (weights),
``epoch`` (completed epochs), ``train_config`` and ``data_provenance``, plus what
``--resume`` needs: discriminator, optimisers, scheduler, AMP scaler and RNG states. RNG
states are stored as tensors and plain ints so the safe unpickler accepts them.
"""

from __future__ import annotations

import os
import pickle
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from streamproc.core.errors import ModelError
from train.models import GeneratorConfig, UnetGenerator, define_G

REQUIRED_KEYS = ("generator_config", "generator", "epoch", "train_config", "data_provenance")


def rng_state() -> dict[str, Any]:
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    version, py_state, gauss_next = random.getstate()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": {"keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
        "python": {"version": int(version), "state": torch.tensor(py_state, dtype=torch.int64),
                   "gauss_next": gauss_next},
    }  # fmt: skip
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    np_state = state["numpy"]
    np.random.set_state(("MT19937", np_state["keys"].numpy().astype(np.uint32), np_state["pos"],
                         np_state["has_gauss"], np_state["cached_gaussian"]))  # fmt: skip
    py = state["python"]
    random.setstate((py["version"], tuple(int(v) for v in py["state"].tolist()), py["gauss_next"]))
    if "cuda" in state and torch.cuda.is_available():
        cuda_states = state["cuda"][: torch.cuda.device_count()]
        torch.cuda.set_rng_state_all(cuda_states)


def save_checkpoint(path: Path, state: dict[str, Any]) -> Path:
    """Write atomically (temp file + rename): an interrupted save never leaves half a file."""
    missing = [k for k in REQUIRED_KEYS if k not in state]
    if missing:
        raise ValueError(f"checkpoint state lacks {missing}")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)
    return path


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """torch.load with weights_only: a checkpoint is data, never code to execute."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"checkpoint not found: {path}")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, OSError, ValueError, EOFError, pickle.UnpicklingError) as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ModelError(
            f"checkpoint {path} is corrupt or not a torch checkpoint ({reason})"
        ) from None
    if not isinstance(ckpt, dict):
        raise ModelError(f"checkpoint {path} is a {type(ckpt).__name__}, expected a dict")
    return ckpt


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """A whole training checkpoint (to resume or fine-tune from)."""
    ckpt = read_checkpoint(path)
    if any(k not in ckpt for k in REQUIRED_KEYS):
        raise ModelError(f"checkpoint {path} is not a streamproc training checkpoint")
    return ckpt


def load_generator(path: str | Path) -> tuple[UnetGenerator, dict[str, Any]]:
    """The generator a checkpoint describes, in eval mode, and the checkpoint dict. The one
    loader of train, eval and export: a checkpoint that does not say its architecture is
    refused rather than guessed."""
    ckpt = read_checkpoint(path)
    if "generator_config" not in ckpt:
        raise ModelError(
            f"checkpoint {path} has no 'generator_config'; it does not say its architecture "
            "(re-save it with streamproc-train)"
        )
    try:
        generator = define_G(GeneratorConfig.from_dict(dict(ckpt["generator_config"])))
    except (TypeError, ValueError) as err:
        raise ModelError(f"checkpoint {path}: invalid generator_config ({err})") from None
    if "generator" not in ckpt:
        raise ModelError(f"checkpoint {path} has no 'generator' weights")
    try:
        generator.load_state_dict(ckpt["generator"])
    except (RuntimeError, TypeError, AttributeError) as err:
        first = str(err).strip().splitlines()[0]
        raise ModelError(
            f"checkpoint {path}: weights do not match its generator_config ({first})"
        ) from None
    return generator.eval(), ckpt
