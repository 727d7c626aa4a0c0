"""The live monitor (a Starlette app served by uvicorn in a thread of the streamproc
process) and the views it serves. Nothing is imported here: a run without ``--serve``
imports only web/preview.py, not the web server."""
