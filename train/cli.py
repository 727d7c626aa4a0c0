"""``streamproc-train``: train the face generator, or harvest face crops to train on.

    streamproc-train --config configs/train_lite.yaml [--set data.train_path=DIR ...]
    streamproc-train --resume runs/lite/checkpoints/last.pt [--set epochs=40]
    streamproc-train --config configs/train_lite.yaml --validate   # the start's val scores
    streamproc-train harvest --out DIR --licence TEXT SOURCES...

User errors (bad config, missing data or weights) print one line and exit 2; an
interrupt (Ctrl-C, SIGTERM) saves ``last.pt`` and exits 130.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from streamproc.core.errors import ConfigError, StreamprocError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="streamproc-train", description=__doc__.split("\n")[0])
    parser.add_argument("--config", type=Path, help="YAML in configs/ (e.g. train_lite.yaml)")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE", help="override, e.g. --set optim.lr=1e-4")  # fmt: skip
    parser.add_argument("--resume", type=Path, help="checkpoint to continue from")
    parser.add_argument("--validate", action="store_true",
                        help="only print the validation scores (JSON) of the starting "
                             "generator (init_from or --resume): the baseline a fine-tune "
                             "must beat")  # fmt: skip
    return parser


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["harvest"]:
        from train.harvest import main as harvest_main

        return harvest_main(argv[1:])
    args = _parser().parse_args(argv)
    try:
        from train.loop import Trainer, config_for_resume

        if args.config is None and args.resume is None:
            raise ConfigError("give --config CONFIG.yaml (or --resume CHECKPOINT)")
        if args.resume is not None:
            cfg = config_for_resume(args.resume, args.config, args.overrides)
        else:
            from train.config import load_config

            cfg = load_config(args.config, args.overrides)
        trainer = Trainer(cfg, resume=args.resume)
        if args.validate:
            import json

            scores, _ = trainer.validate()
            print(json.dumps(scores, indent=1))
            return 0
        in_main = threading.current_thread() is threading.main_thread()
        previous = signal.signal(signal.SIGTERM, _raise_interrupt) if in_main else None
        try:
            result = trainer.fit()
        finally:
            if in_main:
                signal.signal(signal.SIGTERM, previous)
    except StreamprocError as err:
        print(f"error: {err}", file=sys.stderr)
        return err.exit_code
    if result.interrupted:
        return 130
    print(f"trained {result.epochs_done} epochs; checkpoint {result.last_checkpoint}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
