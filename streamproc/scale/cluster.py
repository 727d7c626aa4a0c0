"""Starting or joining a Ray cluster, shared by ``streamproc batch`` and ``streamproc fleet``.

Without an address a local cluster is started on this machine (tests need no second host);
with ``auto`` or ``HOST:PORT`` the driver joins an existing one. Either way the code that
runs in the tasks and actors is the same.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from streamproc.core.errors import StreamprocError


class ClusterError(StreamprocError):
    """The Ray cluster named by ``--ray-address`` cannot be reached or refuses us."""


# Ray must not phone home or print banners: CCTV archives are often on closed networks.
RAY_ENV = {
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_DISABLE_IMPORT_WARNING": "1",
    "RAY_DEDUP_LOGS": "0",
    "RAY_ENABLE_UV_RUN_RUNTIME_ENV": "0",
}
# Set inside every task and actor before ultralytics is imported: nothing is downloaded.
WORKER_ENV = {"YOLO_OFFLINE": "1", "YOLO_AUTOINSTALL": "false", "YOLO_VERBOSE": "false"}


def init_ray(address: str | None, local_cpus: int, local_gpus: int | None) -> Any:
    """Join ``address`` or start a local cluster with ``local_cpus`` CPU slots.

    ``local_gpus``: GPUs the local cluster offers (None: detect them). A CPU-only run passes
    0, so it never touches CUDA. Returns the ``ray`` module.
    """
    for key, value in RAY_ENV.items():
        os.environ.setdefault(key, value)
    try:
        import ray
    except ModuleNotFoundError as err:
        if err.name != "ray" and not (err.name or "").startswith("ray."):
            raise
        raise StreamprocError(
            "this command runs on Ray, which is not installed: install the 'scale' extra "
            "(pip install 'streamproc[scale]')"
        ) from None

    common = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
    with _signal_handlers_kept():
        _init(ray, address, local_cpus, local_gpus, common)
    return ray


@contextlib.contextmanager
def _signal_handlers_kept() -> Iterator[None]:
    """Ray's core worker installs its own SIGTERM handler, which ends the driver on the
    spot (no summary, no manifests). Put back the handlers that were there before."""
    on_main = threading.current_thread() is threading.main_thread()
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)} if on_main else {}
    try:
        yield
    finally:
        for signum, handler in before.items():
            if handler is not None:
                signal.signal(signum, handler)


def _init(
    ray: Any, address: str | None, local_cpus: int, local_gpus: int | None, common: dict
) -> None:
    if address:
        try:
            ray.init(address=address, **common)
        except ConnectionError as err:
            raise ClusterError(connect_error(address, err)) from None
    else:
        # "local": a private cluster even when RAY_ADDRESS is set or `ray start` runs here.
        ray.init(address="local", num_cpus=max(1, local_cpus), num_gpus=local_gpus, **common)


def worker_env() -> None:
    """Called first thing in every task and actor."""
    for key, value in WORKER_ENV.items():
        os.environ.setdefault(key, value)


def first_line(err: BaseException) -> str:
    """Ray errors carry whole remote tracebacks; summaries want the cause, on one line."""
    cause = getattr(err, "cause", None)
    text = str(cause) if cause is not None else str(err)
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else type(err).__name__


def portable_path(spec: str) -> str:
    """Tasks and actors may run on another host and in another folder: local files travel
    as absolute paths (which must then be on storage every node mounts at the same path)."""
    return spec if "://" in spec or not Path(spec).exists() else str(Path(spec).resolve())


def connect_error(address: str, err: BaseException) -> str:
    """One line: what failed and what to do (Ray hides the cause a level down)."""
    reason = first_line(err.__cause__ or err)
    if "token" in reason.lower():
        return (
            f"cannot connect to the Ray cluster at {address}: it requires an authentication "
            "token; set RAY_AUTH_MODE=token and put the cluster's token in ~/.ray/auth_token "
            "or RAY_AUTH_TOKEN (Ray sends it to an explicit HOST:PORT only when told to)"
        )
    return f"cannot connect to the Ray cluster at {address}: {reason[:300]}"


def unused_gpu_warning(config: Any, gpus: float) -> str | None:
    """Reserving GPUs for work configured to run on the CPU wastes them: say so."""
    on_gpu = config.detect.device.startswith("cuda") or any(
        p in ("cuda", "tensorrt") for p in config.enhance.providers
    )
    if gpus > 0 and not on_gpu:
        return (
            "GPUs are reserved but the config runs on the CPU; set "
            "enhance.providers=[cuda,cpu] and/or detect.device=cuda:0 to use them"
        )
    return None
