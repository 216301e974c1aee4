"""Numerical agreement between a reference (torch, or the original ONNX) and a produced ONNX model.

Errors are reported per case (a random input, a real image) as the largest absolute difference and that
difference relative to the reference's largest magnitude, which stays meaningful near zero. A case passes
when, for every output, max|actual - reference| <= atol + rtol * max|reference|.
"""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from ..errors import ToolchainError, UserError
from ..spec import PreprocessSpec

DEFAULT_ATOL = 1e-4
DEFAULT_RTOL = 1e-3
# ImageNet statistics in pixel units: what most vision models (and PP-OCR) were trained with
IMAGENET = PreprocessSpec(resize="stretch", mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375])


def check_verify_options(atol: float, rtol: float, images: Sequence[Union[str, os.PathLike]] = ()) -> None:
    """Refuse, before any work, a tolerance no comparison can meet (negative or not a number) and an image
    that cannot be decoded: the model is written before the verification reads them."""
    for option, value in (("--atol", atol), ("--rtol", rtol)):
        if not value >= 0:
            raise UserError("{}: expected a tolerance >= 0, got {:g}".format(option, value))
    if images:
        from ..images import load_image

        for image in images:
            load_image(image)


@dataclass
class Comparison:
    case: str
    max_abs_error: float
    max_rel_error: float
    passed: bool
    outputs: Dict[str, float] = field(default_factory=dict)  # output name -> max abs error


@dataclass
class Verification:
    reference: str
    atol: float
    rtol: float
    cases: List[Comparison] = field(default_factory=list)

    @property
    def max_abs_error(self) -> float:
        return max((c.max_abs_error for c in self.cases), default=0.0)

    @property
    def max_rel_error(self) -> float:
        return max((c.max_rel_error for c in self.cases), default=0.0)

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.cases)

    def add(self, case: str, names: Sequence[str], reference: Sequence[np.ndarray],
            actual: Sequence[np.ndarray]) -> Comparison:
        if len(reference) != len(actual):
            raise ToolchainError("{}: the reference gives {} outputs, the ONNX model {}".format(
                case, len(reference), len(actual)))
        worst_abs = worst_rel = 0.0
        per_output: Dict[str, float] = {}
        passed = True
        for name, ref, out in zip(names, reference, actual):
            ref = np.asarray(ref, dtype=np.float64)
            out = np.asarray(out, dtype=np.float64)
            if ref.shape != out.shape:
                raise ToolchainError("{}: output '{}' has shape {} in the ONNX model, {} in the reference".format(
                    case, name, out.shape, ref.shape))
            diff = float(np.max(np.abs(out - ref))) if ref.size else 0.0
            scale = float(np.max(np.abs(ref))) if ref.size else 0.0
            per_output[name] = diff
            worst_abs = max(worst_abs, diff)
            worst_rel = max(worst_rel, diff / scale if scale > 0 else diff)
            passed = passed and diff <= self.atol + self.rtol * scale
        comparison = Comparison(case, worst_abs, worst_rel, passed, per_output)
        self.cases.append(comparison)
        return comparison

    def to_dict(self) -> Dict[str, object]:
        return {"reference": self.reference, "atol": self.atol, "rtol": self.rtol, "passed": self.passed,
                "max_abs_error": self.max_abs_error, "max_rel_error": self.max_rel_error,
                "cases": [asdict(c) for c in self.cases]}

    def raise_if_failed(self, produced: Union[str, os.PathLike]) -> None:
        if self.passed:
            return
        bad = [c for c in self.cases if not c.passed]
        raise ToolchainError(
            "{} differs from {}: max abs error {:.3g} (relative {:.3g}) in {} of {} cases, tolerance atol {} + rtol {}"
            .format(produced, self.reference, self.max_abs_error, self.max_rel_error, len(bad), len(self.cases),
                    self.atol, self.rtol),
            hint="the file was kept for inspection; see `omdeploy inspect` and the per-case errors (--json)",
            diagnosis=self.to_dict())


def check_valid(path: Union[str, os.PathLike], what: str) -> None:
    """onnx.checker on a produced file; a failure is the tool's, not the user's."""
    from .._optional import require

    onnx = require("onnx", "checking ONNX models")
    try:
        onnx.checker.check_model(str(path))
    except Exception as exc:  # ValidationError, and protobuf errors for unreadable files
        raise ToolchainError("{} {} fails onnx.checker: {}".format(what, path, str(exc).strip().splitlines()[0][:300])
                             ) from None


def random_feed(shape: Sequence[int], dtype: np.dtype, rng: np.random.Generator) -> np.ndarray:
    """Standard-normal floats, small non-negative integers, random booleans."""
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        return rng.standard_normal(tuple(shape)).astype(dtype)
    if dtype.kind == "b":
        return rng.integers(0, 2, tuple(shape)).astype(dtype)
    return rng.integers(0, 10, tuple(shape)).astype(dtype)


def image_feed(path: Union[str, os.PathLike], shape: Sequence[int], pre: Optional[PreprocessSpec] = None
               ) -> np.ndarray:
    """A real photo as an NCHW float32 tensor of `shape`: resized as `pre` says, colour order, (x - mean) / std."""
    from ..images import load_image
    from ..images import fit

    pre = pre or IMAGENET
    if len(shape) != 4 or shape[1] not in (1, 3):
        raise UserError("an image can feed only an NCHW input with 1 or 3 channels, this input is {}".format(
            list(shape)), hint="verify with random inputs only (drop --image)")
    image, _ = fit(load_image(path), int(shape[2]), int(shape[3]), pre)
    if pre.color == "bgr":
        image = image[..., ::-1]
    pixels = image.astype(np.float32)
    if shape[1] == 1:
        pixels = pixels.mean(axis=2, keepdims=True)
    mean, std = pre.normalisation(int(shape[1]))
    chw = ((pixels - mean) / std).transpose(2, 0, 1)
    return np.ascontiguousarray(np.broadcast_to(chw[np.newaxis], tuple(int(d) for d in shape)), dtype=np.float32)


def run_onnx(path: Union[str, os.PathLike], feeds: Dict[str, np.ndarray]) -> Tuple[List[str], List[np.ndarray]]:
    """(output names, outputs) of one onnxruntime run on the CPU (plain onnxruntime: this layer sits below
    runtime/, and verification wants the model's own contract, with no input adaptation)."""
    from .._optional import require

    ort = require("onnxruntime", "verifying ONNX models")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return names, session.run(names, feeds)
