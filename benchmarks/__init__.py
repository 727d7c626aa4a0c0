"""Throughput and quality tools for streamproc (``streamproc-bench``)."""
