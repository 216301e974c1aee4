"""Make an ONNX model easy for ATC: freeze input shapes, lower the opset, fold constants, simplify.

    result = sanitize("det.onnx", "det_static.onnx", input_shapes={"x": [1, 3, 640, 640]})
    result.verification.max_abs_error   # the sanitized model against the original, in onnxruntime

Every result is re-verified against the original on the same random (and, if given, real-image) inputs.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Union

import numpy as np

from .._optional import require
from ..fileio import write_with
from ..errors import ToolchainError, UserError, check_output_file, did_you_mean, one_of
from ..spec import PreprocessSpec
from .dtypes import numpy_dtype
from .graph import ai_onnx_opset
from .inspect import load_model, summarize
from .irversion import IR_INITIALIZERS_OUTSIDE_INPUTS, stamp_lowest_ir_version
from .verify import (DEFAULT_ATOL, DEFAULT_RTOL, Verification, check_valid, check_verify_options, image_feed,
                     random_feed, run_onnx)

PathLike = Union[str, os.PathLike]
# stand-ins for dims still dynamic after sanitizing, used only to build verification inputs
VERIFY_BATCH, VERIFY_DIM = 1, 64


@dataclass
class SanitizeResult:
    source: str
    path: str
    steps: List[str]
    opset_before: int
    opset_after: int
    inputs_before: Dict[str, List[Any]]
    inputs_after: Dict[str, List[Any]]
    nodes_before: int
    nodes_after: int
    verification: Verification

    def to_dict(self) -> Dict[str, Any]:
        data = dict(self.__dict__)
        data["verification"] = self.verification.to_dict()
        data["max_abs_error"] = self.verification.max_abs_error
        data["max_rel_error"] = self.verification.max_rel_error
        return data


def parse_input_shapes(items: Sequence[str]) -> Dict[str, List[int]]:
    """['x:1,3,640,640', ...] -> {'x': [1, 3, 640, 640]}: omdeploy.named's parser, positive sizes."""
    from ..named import parse_shapes

    return parse_shapes(items)


def _graph_inputs(model: Any) -> List[Any]:
    from .graph import real_inputs

    return real_inputs(model.graph)


def _dims(value_info: Any) -> List[Any]:
    return [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?")
            for d in value_info.type.tensor_type.shape.dim]


def freeze_inputs(model: Any, shapes: Dict[str, List[int]]) -> None:
    """Write static sizes into the graph inputs (in place); output and intermediate shapes are re-inferred later."""
    inputs = {v.name: v for v in _graph_inputs(model)}
    for name, values in shapes.items():
        if name not in inputs:
            raise UserError("input shape for {!r}: the model has no such input{}; its inputs are: {}".format(
                name, did_you_mean(name, inputs), one_of(sorted(inputs))))
        current = _dims(inputs[name])
        if len(current) != len(values):
            raise UserError("input shape for {!r}: the input has rank {} {}, got {} values {}".format(
                name, len(current), current, len(values), values))
        for axis, (old, new) in enumerate(zip(current, values)):
            if isinstance(old, int) and old > 0 and old != new:
                raise UserError("input shape for {!r}: axis {} is fixed at {} in the model, got {}".format(
                    name, axis, old, new))
        for dim, value in zip(inputs[name].type.tensor_type.shape.dim, values):
            dim.dim_value = int(value)
    del model.graph.value_info[:]  # stale symbolic shapes would contradict the frozen ones
    for output in model.graph.output:
        for dim in output.type.tensor_type.shape.dim:
            if not dim.HasField("dim_value"):
                dim.Clear()


def convert_opset(model: Any, target: int) -> Any:
    onnx = require("onnx", "converting the opset")
    current = ai_onnx_opset(model)
    hint = ("re-export at opset {0}: from PyTorch with the TorchScript exporter, `omdeploy export ... --opset {0}` "
            "(torch.onnx.export(..., dynamo=False, opset_version={0}); the dynamo exporter, torch >= 2.9's "
            "default, targets opset 18); from Paddle, paddle2onnx --opset_version {0}".format(target))
    try:
        converted = onnx.version_converter.convert_version(model, target)
        onnx.checker.check_model(converted)
    except Exception as exc:  # RuntimeError "No Adapter From Version", ValidationError of the converted graph
        reason = str(exc).strip().splitlines()[0][:200]
        reason = reason.split("Assertion `false` failed: ")[-1]
        raise UserError("onnx.version_converter cannot convert opset {} to {}: {}".format(current, target, reason),
                        hint=hint) from None
    return converted


def drop_unused_opset_imports(model: Any) -> List[str]:
    from .graph import iter_nodes

    used = {n.domain for n in iter_nodes(model.graph)} | {f.domain for f in model.functions}
    keep = [o for o in model.opset_import if o.domain in ("", "ai.onnx") or o.domain in used]
    dropped = [o.domain for o in model.opset_import if o not in keep]
    if dropped:
        del model.opset_import[:]
        model.opset_import.extend(keep)
    return dropped


def simplify(model: Any) -> Any:
    onnxslim = require("onnxslim", "constant folding and simplification")
    try:
        slim = onnxslim.slim(model)
    except Exception as exc:  # onnxslim surfaces onnx/onnxruntime errors of the folded graph
        raise ToolchainError("onnxslim failed: {}".format(str(exc).strip().splitlines()[0][:300]),
                             hint="sanitize with --no-simplify, or report the model to onnxslim") from exc
    # onnxslim takes initializers out of the graph inputs, which IR version 4 (ONNX 1.3) first allows
    slim.ir_version = max(int(slim.ir_version), IR_INITIALIZERS_OUTSIDE_INPUTS)
    return slim


def _verification_feeds(model: Any, images: Sequence[PathLike], preprocess: Optional[PreprocessSpec],
                        random_cases: int, seed: int) -> List[Any]:
    inputs = _graph_inputs(model)
    shapes = {v.name: [d if isinstance(d, int) and d > 0 else (VERIFY_BATCH if axis == 0 else VERIFY_DIM)
                       for axis, d in enumerate(_dims(v))] for v in inputs}
    dtypes = {v.name: numpy_dtype(v.type.tensor_type.elem_type) or np.dtype(np.float32) for v in inputs}
    rng = np.random.default_rng(seed)
    cases = [("random[{}]".format(i), {n: random_feed(shapes[n], dtypes[n], rng) for n in shapes})
             for i in range(random_cases)]
    for image in images:
        first = inputs[0].name
        feeds = {n: random_feed(shapes[n], dtypes[n], rng) for n in shapes}
        feeds[first] = image_feed(image, shapes[first], preprocess).astype(dtypes[first])
        cases.append(("image {}".format(Path(image).name), feeds))
    return cases


def sanitize(model: PathLike, out: PathLike, input_shapes: Optional[Dict[str, List[int]]] = None,
             opset: Optional[int] = None, simplify_graph: bool = True, verify: bool = True,
             images: Sequence[PathLike] = (), preprocess: Optional[PreprocessSpec] = None, random_cases: int = 2,
             atol: float = DEFAULT_ATOL, rtol: float = DEFAULT_RTOL, seed: int = 0,
             on_step: Optional[Callable[[str], None]] = None) -> SanitizeResult:
    """Freeze `input_shapes`, fold and simplify, convert to `opset`; write `out`; verify against `model`."""
    onnx = require("onnx", "sanitizing ONNX models")
    step = on_step or (lambda _: None)
    source, out = Path(model), Path(out)
    if source.resolve() == out.resolve():
        raise UserError("the output {} would overwrite the model being sanitized".format(out),
                        hint="write to a new file (-o model_static.onnx); the original is the verification reference")
    check_output_file(out, "-o")
    check_verify_options(atol, rtol, images)
    if opset is not None and not 1 <= opset <= onnx.defs.onnx_opset_version():
        raise UserError("--opset: expected an ai.onnx opset 1-{}, got {}".format(onnx.defs.onnx_opset_version(), opset),
                        hint="ATC parses opsets 9-18 at most; 11 suits every CANN version")
    original = load_model(source)
    work = onnx.ModelProto()
    work.CopyFrom(original)
    steps: List[str] = []
    if input_shapes:
        step("freeze input shapes")
        freeze_inputs(work, input_shapes)
        steps.append("froze " + ", ".join("{}:{}".format(n, ",".join(map(str, s))) for n, s in input_shapes.items()))
    if simplify_graph:  # before the opset conversion: folded Constant nodes need no version adapters
        step("fold constants and simplify (onnxslim)")
        work = simplify(work)
        steps.append("folded constants and simplified (onnxslim)")
    if opset is not None and opset != ai_onnx_opset(work):
        step("convert opset {} -> {}".format(ai_onnx_opset(work), opset))
        work = convert_opset(work, opset)
        steps.append("converted opset {} -> {}".format(ai_onnx_opset(original), opset))
    dropped = drop_unused_opset_imports(work)
    if dropped:
        steps.append("dropped unused opset domains " + ", ".join(dropped))
    stamp_lowest_ir_version(work)  # loadable by the box's older onnxruntime
    out.parent.mkdir(parents=True, exist_ok=True)
    write_with(out, lambda tmp: onnx.save(work, tmp))
    check_valid(out, "the sanitized model")

    verification = Verification("the original {}".format(source.name), atol, rtol)
    if verify:
        step("verify against the original in onnxruntime")
        for case, feeds in _verification_feeds(work, images, preprocess, random_cases, seed):
            _, expected = run_onnx(source, feeds)
            names, actual = run_onnx(out, feeds)
            verification.add(case, names, expected, actual)
    before, after = summarize(original), summarize(work)
    result = SanitizeResult(str(source), str(out), steps, before.opsets.get("ai.onnx", 0),
                            after.opsets.get("ai.onnx", 0), {t.name: t.shape for t in before.inputs},
                            {t.name: t.shape for t in after.inputs}, before.node_count, after.node_count, verification)
    verification.raise_if_failed(out)
    return result
