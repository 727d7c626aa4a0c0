"""Face enhancement: crop pre/post-processing, ONNX generator, classical restoration."""
