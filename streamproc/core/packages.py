"""Data files that ship inside installed packages (models, sample clips and photos)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from streamproc.core.errors import ModelError, StreamprocError


def package_file(
    module: str, relative: str, install: str, error: type[StreamprocError] = ModelError
) -> Path:
    """``relative`` inside the installed package ``module``, found without importing it
    (some packages' ``__init__`` is slow or pulls in extras). ``install`` is the command
    that gets the package, for the error."""
    spec = importlib.util.find_spec(module)
    if spec is None:
        raise error(f"{relative} needs the {module} package: {install}")
    roots = list(spec.submodule_search_locations or [])
    root = Path(roots[0]) if roots else Path(spec.origin or ".").parent
    path = root / relative
    if not path.is_file():
        raise error(f"{path} not found in the {module} install ({install})")
    return path


def import_openvino() -> ModuleType:
    """``import openvino`` without its usage telemetry.

    Importing openvino (2026.x) imports its model converter, which sends a Google Analytics
    event from a forked process unless a consent file in ~/intel says no (there is no
    environment switch), and counts usage in ~/intel/stats. A CCTV processor must not
    phone home, so the telemetry package is made unimportable for this process before
    openvino loads; openvino then uses its built-in no-op stub (also 0.09 s less start-up).
    Only an ``openvino_telemetry`` not yet imported is blocked: a process that imported it
    on purpose keeps it."""
    sys.modules.setdefault("openvino_telemetry", None)
    import openvino

    return openvino
