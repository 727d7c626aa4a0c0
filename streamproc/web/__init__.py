"""The live monitor: a Starlette app served by uvicorn in a thread of the streamproc process."""

from streamproc.web.app import MonitorServer, build_app

__all__ = ["MonitorServer", "build_app"]
