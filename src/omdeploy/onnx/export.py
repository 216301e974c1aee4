"""PyTorch -> ONNX with ATC's needs as the defaults, verified against torch before it is called done.

    result = export(model, torch.zeros(1, 3, 224, 224), "model.onnx", cann="8.1.RC1")
    result.max_abs_error   # onnxruntime vs torch over the example, random and real-image inputs

Defaults: the TorchScript-based exporter (dynamo=False), an opset inside the target CANN's accepted range
(11 unless asked), static shapes unless `dynamic_axes` is given, named inputs and outputs.
"""
from __future__ import annotations

import contextlib
import logging
import os
import errno
import re
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Union

import numpy as np

from ..chips import DEFAULT_CANN
from .._optional import require
from ..fileio import user_error_for, write_with
from ..errors import ToolchainError, UserError, check_output_file
from ..log import info_once
from ..spec import PreprocessSpec
from .check_rules import opset_range
from .inspect import summarize
from .irversion import lowest_ir_version, stamp_lowest_ir_version
from .verify import (DEFAULT_ATOL, DEFAULT_RTOL, Verification, check_valid, check_verify_options, image_feed,
                     random_feed, run_onnx)

TORCH_REGISTRATION_LOGGER = "torch.onnx._internal.exporter._registration"
DYNAMO_MIN_OPSET = 18
PROTOBUF_LIMIT = 2 ** 31 - 1  # larger models must keep their weights in external data  # torch's dynamo exporter raises lower requests to 18 (reference/test-assets.md)

PathLike = Union[str, os.PathLike]


@dataclass
class ExportResult:
    path: str
    exporter: str
    opset: int
    cann: str
    inputs: List[Dict[str, Any]]
    outputs: List[Dict[str, Any]]
    verification: Verification

    @property
    def max_abs_error(self) -> float:
        return self.verification.max_abs_error

    @property
    def max_rel_error(self) -> float:
        return self.verification.max_rel_error

    def to_dict(self) -> Dict[str, Any]:
        return {"path": self.path, "exporter": self.exporter, "opset": self.opset, "cann": self.cann,
                "inputs": self.inputs, "outputs": self.outputs, "max_abs_error": self.max_abs_error,
                "max_rel_error": self.max_rel_error, "verification": self.verification.to_dict()}


def _as_tuple(example_inputs: Any, torch: Any) -> tuple:
    items = tuple(example_inputs) if isinstance(example_inputs, (list, tuple)) else (example_inputs,)
    return tuple(torch.from_numpy(np.ascontiguousarray(x)) if isinstance(x, np.ndarray) else x for x in items)


def _flatten(outputs: Any) -> List[np.ndarray]:
    if isinstance(outputs, dict):
        outputs = list(outputs.values())
    if not isinstance(outputs, (list, tuple)):
        outputs = [outputs]
    flat: List[np.ndarray] = []
    for item in outputs:
        if isinstance(item, (list, tuple, dict)):
            flat.extend(_flatten(item))
        else:
            flat.append(item.detach().cpu().numpy())
    return flat


def _names(given: Optional[Sequence[str]], count: int, stem: str, what: str) -> List[str]:
    if given is None:
        return [stem] if count == 1 else ["{}{}".format(stem, i) for i in range(count)]
    if not all(given):
        raise UserError("{} names: expected non-empty names, got {}".format(what, list(given)))
    if len(given) != count:
        raise UserError("{} names: the model has {} {}, got {} names ({})".format(
            what, count, what + ("" if count == 1 else "s"), len(given), ", ".join(given)))
    return list(given)


def _check_dynamic_axes(dynamic_axes: Optional[Dict[str, Any]], ranks: Dict[str, int]) -> None:
    """Every dynamic axis names an input or output and an axis it has (torch crashes on the others)."""
    for name, axes in (dynamic_axes or {}).items():
        if name not in ranks:
            raise UserError("--dynamic {}: the model has no input or output named {!r}; its names are {}".format(
                name, name, ", ".join(ranks)))
        bad = [a for a in axes if not 0 <= int(a) < ranks[name]]
        if bad:
            raise UserError("--dynamic {}: axis {} is outside the axes 0-{} of {!r}".format(
                name, bad[0], ranks[name] - 1, name))


def choose_opset(opset: Optional[int], cann: str, dynamo: bool) -> int:
    """The opset to export at, refused when the target CANN's ATC cannot parse it."""
    rng = opset_range(cann)
    low, high = rng.accepted
    if dynamo and high < DYNAMO_MIN_OPSET:
        raise UserError("the dynamo exporter writes opset {} or higher; CANN {}'s ATC parses opset {}-{}".format(
            DYNAMO_MIN_OPSET, cann, low, high), hint="use the TorchScript exporter (the default, dynamo=False)")
    chosen = opset if opset is not None else (max(DYNAMO_MIN_OPSET, low) if dynamo else rng.recommended)
    if dynamo and chosen < DYNAMO_MIN_OPSET:
        raise UserError("the dynamo exporter cannot write opset {}; it writes {} or higher".format(
            chosen, DYNAMO_MIN_OPSET), hint="drop --dynamo to export at opset {}".format(chosen))
    if not rng.accepts(chosen):
        raise UserError("opset {} is outside the opsets CANN {}'s ATC parses ({}-{})".format(chosen, cann, low, high),
                        hint="use --opset {} (recommended) or another value in {}-{}".format(rng.recommended, low, high))
    return chosen


def _reason(exc: BaseException) -> str:
    """One line of a torch exception: its first line without colour codes, or the last line when the first
    is the TorchScript interpreter's preamble."""
    lines = [re.sub(r"\x1b\[[0-9;]*m", "", line).strip() for line in str(exc).strip().splitlines()]
    lines = [line for line in lines if line]
    if not lines:
        return type(exc).__name__
    line = lines[-1] if lines[0].startswith("The following operation failed in the TorchScript") else lines[0]
    return line[:300]


@contextlib.contextmanager
def _stdout_to_stderr() -> Iterator[None]:
    """File descriptor 1 pointed at stderr: torch's C++ code prints the IR graph of a failed export to stdout,
    which must stay clean for --json."""
    sys.stdout.flush()
    try:
        saved = os.dup(1)
        os.dup2(2, 1)
    except OSError:  # no usable descriptors (embedded interpreters): leave stdout alone
        yield
        return
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def _torch_export(model: Any, args: tuple, out: Path, opset: int, input_names: List[str], output_names: List[str],
                  dynamic_axes: Optional[Dict[str, Any]], dynamo: bool, torch: Any) -> None:
    if dynamo:
        require("onnxscript", "the dynamo ONNX exporter")
        # "torchvision is not installed. Skipping torchvision::nms" and the like: not actionable here
        logging.getLogger(TORCH_REGISTRATION_LOGGER).setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), _stdout_to_stderr():
            warnings.simplefilter("ignore")  # tracer and constant-folding notes are not actionable here
            torch.onnx.export(model, args, str(out), input_names=input_names, output_names=output_names,
                              opset_version=opset, dynamic_axes=dynamic_axes, do_constant_folding=True,
                              dynamo=dynamo, verbose=False)  # dynamo prints progress to stdout unless told
    except Exception as exc:  # torch raises many types (OnnxExporterError, RuntimeError, TypeError, ...)
        first = _reason(exc)
        raise ToolchainError("torch.onnx.export failed at opset {} ({} exporter): {}".format(
            opset, "dynamo" if dynamo else "TorchScript", first),
            hint="an unsupported operator usually needs a newer opset (--opset) or a rewrite of that layer; "
                 "run with --debug for the traceback") from exc


def _finish(path: Path, output_shapes: Optional[List[tuple]]) -> None:
    """Make the written model one self-contained file with static output dims (unless dynamic), and check it.

    The TorchScript exporter leaves symbolic output dims (e.g. 'Gemmlogits_dim_0') even for static inputs, and
    the dynamo exporter puts the weights in a separate '<name>.onnx.data' file even for small models.
    """
    onnx = require("onnx", "reading the exported model")
    model = onnx.load(str(path))  # with any external data, now held inline
    data_files = {e.value for t in onnx.load(str(path), load_external_data=False).graph.initializer
                  for e in t.external_data if e.key == "location"}
    changed = bool(data_files)
    if model.ir_version != lowest_ir_version(model):  # loadable by the box's older onnxruntime
        stamp_lowest_ir_version(model)
        changed = True
    if output_shapes is not None:
        for output, shape in zip(model.graph.output, output_shapes):
            dims = output.type.tensor_type.shape.dim
            if len(dims) == len(shape) and any(not d.HasField("dim_value") for d in dims):
                for dim, size in zip(dims, shape):
                    dim.Clear()
                    dim.dim_value = int(size)
                changed = True
    if changed and model.ByteSize() < PROTOBUF_LIMIT:  # a larger model keeps the exporter's layout
        write_with(path, lambda tmp: onnx.save(model, tmp))
        for name in data_files:
            (path.parent / name).unlink()
    check_valid(path, "the exported model")


def export(model: Any, example_inputs: Any, out: PathLike, opset: Optional[int] = None, cann: str = DEFAULT_CANN,
           input_names: Optional[Sequence[str]] = None, output_names: Optional[Sequence[str]] = None,
           dynamic_axes: Optional[Dict[str, Any]] = None, dynamo: bool = False, verify: bool = True,
           images: Sequence[PathLike] = (), preprocess: Optional[PreprocessSpec] = None, random_cases: int = 2,
           atol: float = DEFAULT_ATOL, rtol: float = DEFAULT_RTOL, seed: int = 0,
           on_step: Optional[Callable[[str], None]] = None) -> ExportResult:
    """Export `model` (nn.Module or TorchScript) to `out` and verify it in onnxruntime against torch.

    Verification runs the example inputs, `random_cases` random inputs of the same shapes and one case per
    image in `images` (fed to the first input, resized and normalised as `preprocess` says, ImageNet
    statistics by default); a case past atol + rtol * max|reference| raises ToolchainError.
    """
    torch = require("torch", "exporting PyTorch models")
    step = on_step or (lambda _: None)
    out = Path(out)
    check_output_file(out, "-o")
    check_verify_options(atol, rtol, images)
    chosen = choose_opset(opset, cann, dynamo)
    if getattr(model, "training", False):
        info_once(("export-eval", id(model)), "export: switched the model to eval mode (dropout off, BatchNorm frozen)")
        model.eval()
    args = _as_tuple(example_inputs, torch)
    try:
        with torch.no_grad():
            reference = _flatten(model(*args))
    except Exception as exc:  # the example inputs do not fit the model: wrong count, rank or channels
        first = _reason(exc)
        raise UserError("the model cannot run on the example input(s) {}: {}".format(
            ", ".join("[{}]".format(",".join(map(str, a.shape))) for a in args), first),
            hint="give the shape the model takes with --input-shape, once per input in order") from None
    in_names = _names(input_names, len(args), "input", "input")
    out_names = _names(output_names, len(reference), "output", "output")
    twice = sorted({n for n in in_names + out_names if (in_names + out_names).count(n) > 1})
    if twice:
        raise UserError("input and output names must all differ, got {!r} more than once".format(twice[0]),
                        hint="--input-name and --output-name name different tensors")
    _check_dynamic_axes(dynamic_axes, dict(zip(in_names, [len(a.shape) for a in args]),
                                           **dict(zip(out_names, [r.ndim for r in reference]))))
    out.parent.mkdir(parents=True, exist_ok=True)

    step("export (opset {}, {} exporter)".format(chosen, "dynamo" if dynamo else "TorchScript"))
    existed = out.exists()
    try:
        _torch_export(model, args, out, chosen, in_names, out_names, dynamic_axes, dynamo, torch)
        _finish(out, None if dynamic_axes else [r.shape for r in reference])
    except BaseException as exc:
        if not existed and out.exists():  # a half-written model must not look like a result
            out.unlink()
        cause = exc.__cause__ if isinstance(exc.__cause__, OSError) else exc
        if isinstance(cause, OSError):
            raise user_error_for(cause, out) from None
        if "No space left on device" in "{} {}".format(exc, exc.__cause__):  # torch wraps it in RuntimeError
            raise user_error_for(OSError(errno.ENOSPC, "No space left on device"), out) from None
        raise
    summary = summarize(out)

    verification = Verification("torch", atol, rtol)
    if verify:
        step("verify in onnxruntime against torch")
        cases = [("example", [a.detach().cpu().numpy() for a in args])]
        rng = np.random.default_rng(seed)
        cases += [("random[{}]".format(i), [random_feed(a.shape, a.detach().cpu().numpy().dtype, rng) for a in args])
                  for i in range(random_cases)]
        for image in images:
            fed = image_feed(image, tuple(args[0].shape), preprocess)
            cases.append(("image {}".format(Path(image).name), [fed] + [a.detach().cpu().numpy() for a in args[1:]]))
        for case, arrays in cases:
            with torch.no_grad():
                expected = _flatten(model(*(torch.from_numpy(a) for a in arrays)))
            names, actual = run_onnx(out, dict(zip(in_names, arrays)))
            verification.add(case, names, expected, actual)
    result = ExportResult(str(out), "dynamo" if dynamo else "torchscript", summary.opsets["ai.onnx"], str(cann),
                          [{"name": t.name, "dtype": t.dtype, "shape": t.shape} for t in summary.inputs],
                          [{"name": t.name, "dtype": t.dtype, "shape": t.shape} for t in summary.outputs],
                          verification)
    verification.raise_if_failed(out)
    return result
