"""``streamproc-export``: checkpoint -> parity-checked ONNX generator, or inspect one.

Every user error ends as one ``streamproc-export: error: ...`` line and exit code 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from export.onnx import (
    DEFAULT_OPSET,
    MAX_SIZE_BYTES,
    ExportReport,
    export_generator,
    inspect_model,
    load_generator,
)
from streamproc.core.errors import StreamprocError

PROG = "streamproc-export"
USAGE_EXIT = 2


class UsageError(Exception):
    """Bad command line; raised instead of argparse's usage dump so the message is one line."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="Export a generator checkpoint to ONNX (metadata, sha256 sidecar, "
        "torch/ORT parity check), or inspect an exported model.",
    )
    parser.add_argument("checkpoint", nargs="?", type=Path, help="training checkpoint (.pt)")
    parser.add_argument("-o", "--output", type=Path, help="ONNX file (default: CKPT.onnx)")
    parser.add_argument("--fp16", action="store_true", help="export float16 weights and I/O")
    parser.add_argument("--opset", type=int, default=DEFAULT_OPSET, help="ONNX opset")
    parser.add_argument(
        "--check",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="prove torch/ORT parity before writing (default: on)",
    )
    parser.add_argument("--inspect", type=Path, metavar="MODEL", help="print MODEL's metadata")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        if args.inspect is not None:
            if args.checkpoint is not None:
                raise UsageError("give either a checkpoint or --inspect MODEL, not both")
            print(json.dumps(inspect_model(args.inspect), indent=2, sort_keys=True))
            return 0
        if args.checkpoint is None:
            raise UsageError("a checkpoint is required (or --inspect MODEL)")
        _print_report(_export(args))
        return 0
    except UsageError as err:
        return _fail(str(err), USAGE_EXIT)
    except StreamprocError as err:
        return _fail(str(err), err.exit_code)


def _export(args: argparse.Namespace) -> ExportReport:
    model, config, info = load_generator(args.checkpoint)
    suffix = "-fp16.onnx" if args.fp16 else ".onnx"
    out_path = args.output or args.checkpoint.with_name(args.checkpoint.stem + suffix)
    return export_generator(
        model, config, out_path, fp16=args.fp16, opset=args.opset, provenance=info, check=args.check
    )


def _print_report(report: ExportReport) -> None:
    size_mb = report.size_bytes / 1e6
    print(
        f"exported {report.path} ({report.precision}, opset {report.opset}, {size_mb:.2f} MB) "
        f"in {report.export_s:.1f} s"
    )
    if report.max_abs_diff:
        figures = ", ".join(f"{name} {diff:.2e}" for name, diff in report.max_abs_diff.items())
        print(f"parity torch fp32 vs ORT (max abs diff, tol {report.tolerance:g}): {figures}")
    else:
        print("parity: not checked (--no-check); dynamic spatial size not claimed")
    print(f"sha256 {report.sha256}  (sidecar {report.path.name}.sha256)")
    if report.oversize:
        print(
            f"{PROG}: warning: model is {size_mb:.1f} MB (> {MAX_SIZE_BYTES / 1e6:.0f} MB); "
            "expect slow CPU inference",
            file=sys.stderr,
        )


def _fail(message: str, code: int) -> int:
    one_line = " ".join(message.split())
    print(f"{PROG}: error: {one_line}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
