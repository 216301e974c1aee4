"""ONNX work on the training box: inspect (and, with later issues, export, check, sanitize)."""
