"""The live monitor: a Starlette app served by uvicorn in a thread of the streamproc process."""

from streamproc.web.app import MonitorServer, MonitorState, build_app

__all__ = ["MonitorServer", "MonitorState", "build_app"]
