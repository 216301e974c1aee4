"""Lazy imports of optional packages: a missing one becomes a one-line MissingDependencyError."""
from __future__ import annotations

import importlib
from types import ModuleType
from typing import Optional

from .errors import MissingDependencyError

# module -> extra that installs it
EXTRAS = {
    "onnx": "onnx",
    "onnxruntime": "onnx",
    "onnxslim": "onnx",
    "openvino": "openvino",
    "torch": "torch",
    "yaml": "cli",
    "typer": "cli",
    "rich": "cli",
    "PIL": "images",
    "onnxscript": "all",
    "cv2": "vision",
    "ray": "fleet",
}
# module -> the name pip installs it by, where they differ
PIP_NAMES = {"cv2": "opencv-python-headless", "PIL": "pillow", "yaml": "pyyaml", "ray": "ray[data]"}


def require(module: str, purpose: Optional[str] = None) -> ModuleType:
    """Import `module` or raise MissingDependencyError naming the extra that installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        top = module.split(".")[0]
        if exc.name is not None and exc.name.split(".")[0] != top:
            raise  # the package is there but one of its own dependencies is broken: show the real cause
        raise MissingDependencyError(PIP_NAMES.get(top, top), EXTRAS.get(top), purpose) from None


def available(module: str) -> bool:
    try:
        importlib.import_module(module)
        return True
    except ImportError:
        return False
