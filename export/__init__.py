"""Export trained generators to self-describing ONNX files that prove parity with torch."""

from export.onnx import (
    ExportReport,
    export_generator,
    export_tiny_generator,
    inspect_model,
    load_generator,
)

__all__ = [
    "ExportReport",
    "export_generator",
    "export_tiny_generator",
    "inspect_model",
    "load_generator",
]
