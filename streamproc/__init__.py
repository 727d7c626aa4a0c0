"""streamproc: detect faces in CCTV video and enhance them, live or from files."""

__version__ = "0.1.0"
