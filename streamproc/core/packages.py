"""Data files that ship inside installed packages (models, sample clips and photos)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

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
