"""Runtimes: Session and its backends (onnxruntime, openvino; acl, sim and mindx arrive with later issues)."""
from .base import Backend, TensorInfo
from .session import BACKENDS, Session

__all__ = ["Session", "Backend", "TensorInfo", "BACKENDS"]
