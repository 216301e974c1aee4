"""omdeploy: take vision models from a PyTorch training box to Huawei Ascend edge boxes, checked at every step.

The core needs only numpy; onnx, onnxruntime, openvino, torch and pyACL are imported where used.
"""
from __future__ import annotations

__version__ = "0.1.0"

from .errors import InternalError, OmdeployError, ToolchainError, UserError  # noqa: E402
from .spec import DeploySpec  # noqa: E402


def __getattr__(name: str):  # lazy: `from omdeploy import Session` without importing runtimes up front
    if name == "Session":
        from .runtime.session import Session

        return Session
    if name == "export":
        from .onnx.export import export

        return export
    raise AttributeError("module 'omdeploy' has no attribute {!r}".format(name))


__all__ = ["__version__", "DeploySpec", "Session", "export", "OmdeployError", "UserError", "ToolchainError",
           "InternalError"]
