"""Loading PyTorch files safely, with a clear error for files that are not PyTorch at all."""
from __future__ import annotations

import os
import warnings
import zipfile
from pathlib import Path
from typing import Any, Dict, Optional, Union

from .._optional import require
from ..errors import UserError


def sniff(path: Union[str, os.PathLike]) -> str:
    """What a model file is, from its first bytes: 'torch-zip', 'torch-legacy', 'om', 'onnx', 'torchscript' or 'unknown'."""
    path = Path(path)
    with path.open("rb") as f:
        head = f.read(16)
    if head[:4] == b"IMOD":
        return "om"
    if head[:2] == b"PK":
        try:
            with zipfile.ZipFile(path) as zf:
                names = zf.namelist()
        except zipfile.BadZipFile:
            return "unknown"
        return "torchscript" if any(n.endswith("/constants.pkl") or n.endswith("/code/") or "/code/" in n
                                    for n in names) else "torch-zip"
    if head[:1] == b"\x80":  # pickle protocol marker of the legacy torch.save format
        return "torch-legacy"
    if path.suffix.lower() == ".onnx" or head[:1] == b"\x08":  # ModelProto starts with field 1 (ir_version)
        return "onnx"
    return "unknown"


_NOT_TORCH = {
    "om": "an Ascend offline model (.om) produced by ATC; it runs through pyACL on the box "
          "(omdeploy run/bench), torch cannot load it",
    "onnx": "an ONNX model; use it directly (omdeploy inspect/check/convert) instead of torch.load",
    "unknown": "not a PyTorch file (no zip or pickle header)",
}


def _torch_kind(path: Path) -> str:
    """sniff() of an existing PyTorch file; anything else is a UserError that says what the file is."""
    if not path.is_file():
        raise UserError("{} does not exist".format(path) if not path.exists() else "{} is not a file".format(path))
    if path.stat().st_size == 0:
        raise UserError("{} is empty (0 bytes), not a PyTorch file".format(path),
                        hint="save or copy it again; an interrupted copy leaves an empty file")
    kind = sniff(path)
    if kind in _NOT_TORCH:
        raise UserError("{} is {}".format(path, _NOT_TORCH[kind]))
    return kind


def load_state_dict(path: Union[str, os.PathLike]) -> Dict[str, Any]:
    """torch.load(weights_only=True) of a state_dict (or a checkpoint holding one under 'state_dict'/'model')."""
    torch = require("torch", "loading PyTorch weights")
    path = Path(path)
    if _torch_kind(path) == "torchscript":
        raise UserError("{} is a TorchScript archive, not a state_dict".format(path),
                        hint="pass it to `omdeploy export` as a TorchScript model")
    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # UnpicklingError for pickled classes, RuntimeError for corrupt archives
        raise UserError("{} cannot be loaded with weights_only=True: {}".format(path, str(exc).splitlines()[0][:200]),
                        hint="save only tensors (model.state_dict()); omdeploy never unpickles code") from None
    for key in ("state_dict", "model", "model_state_dict"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
    if not isinstance(obj, dict):
        raise UserError("{} holds a {}, expected a state_dict (name -> tensor)".format(path, type(obj).__name__))
    return obj


def load_torchscript(path: Union[str, os.PathLike]) -> Any:
    """torch.jit.load of a TorchScript archive (no pickled Python code), in eval mode on the CPU."""
    torch = require("torch", "loading TorchScript models")
    path = Path(path)
    if _torch_kind(path) != "torchscript":
        raise UserError("{} is a PyTorch checkpoint (weights only), not a TorchScript model".format(path),
                        hint="give the architecture as module:factory and this file with --weights")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # torch >= 2.9 deprecates TorchScript itself
            return torch.jit.load(str(path), map_location="cpu").eval()
    except Exception as exc:  # RuntimeError for archives from a newer torch or with missing custom ops
        raise UserError("{} cannot be loaded by torch.jit.load: {}".format(path, str(exc).splitlines()[0][:200])) from None


def load_factory(reference: str, weights: Optional[Union[str, os.PathLike]] = None) -> Any:
    """The nn.Module built by `package.module:factory` (called without arguments), with a state_dict if given."""
    import importlib

    module_name, _, attr = reference.partition(":")
    if not module_name or not attr:
        raise UserError("expected a model as package.module:factory, got {!r}".format(reference),
                        hint="e.g. omdeploy.zoo.efficientnet_lite:EfficientNetLite0")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise UserError("cannot import {}: {}".format(module_name, exc),
                        hint="run from the folder that holds it, or set PYTHONPATH") from None
    factory = getattr(module, attr, None)
    if not callable(factory):
        raise UserError("{} has no callable {!r}".format(module_name, attr))
    model = factory()
    if weights is not None:
        state = load_state_dict(weights)
        try:
            missing, unexpected = model.load_state_dict(state, strict=False)
        except RuntimeError as exc:  # shape mismatches
            raise UserError("{} does not fit {}: {}".format(weights, reference, str(exc).splitlines()[-1][:300])) from None
        if missing or unexpected:
            raise UserError("{} does not fit {}: {} missing keys (e.g. {}), {} unexpected keys (e.g. {})".format(
                weights, reference, len(missing), missing[:3], len(unexpected), unexpected[:3]))
    return model.eval()
