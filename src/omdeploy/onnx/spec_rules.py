"""A DeploySpec checked against its ONNX model: the one rule set `spec`, `check` and `convert` apply.

    problems = spec_problems(spec)            # every problem, one line each ([] = convert will accept it)
    refuse_wrong_spec(spec)                   # UserError listing them all

The schema (spec.py) checks a spec on its own; these rules need the model: names, ranks, fixed dims, gears
against the model's dynamic dims, outputs, label count, paths and numeric ranges.
"""
from __future__ import annotations

import math
from typing import Any, Dict, List, Optional

from ..errors import UserError
from .inspect import _shape, load_model

# a static ONNX graph behind a dynamic spec builds, and fails only at run time (the field report's encodeModel:
# gears 3040x4064 and 1088x1952 on a graph exported at one size)
STATIC_MODEL_SOURCE = "a field report (encodeModel: dims gears on a static export failed at run time)"


def _model_io(model: Any):
    from .graph import real_inputs

    inputs = {v.name: _shape(v) for v in real_inputs(model.graph)}
    outputs = {v.name: _shape(v) for v in model.graph.output}
    return inputs, outputs


def _gear_problems(spec: Any, inputs: Dict[str, List[Any]]) -> List[str]:
    dynamic = spec.dynamic
    if dynamic is None:
        return []
    problems = []
    for i, gear in enumerate(dynamic.gear_tuples()):
        bad = [v for v in gear if not isinstance(v, int) or isinstance(v, bool) or v < 1]
        if bad:
            problems.append("dynamic.gears[{}]: every gear value is a positive size, got {}".format(i, list(gear)))
    tuples = dynamic.gear_tuples()
    if len(set(tuples)) != len(tuples):
        problems.append("dynamic.gears: a gear is listed twice ({})".format(tuples))
    declared = sum(len(item.dynamic_axes) for item in spec.inputs)
    if dynamic.mode == "dims" and tuples and declared and len(tuples[0]) != declared:
        problems.append("dynamic.gears: dims gears need one value per dynamic dim of the inputs ({}), got {}".format(
            declared, len(tuples[0])))
    return problems


def _input_problems(spec: Any, inputs: Dict[str, List[Any]], model_name: str) -> List[str]:
    problems = []
    for item in spec.inputs:
        if item.name not in inputs:
            problems.append("inputs: {!r} is not an input of {}; its inputs are: {}".format(
                item.name, model_name, ", ".join(inputs)))
            continue
        dims = inputs[item.name]
        if not item.shape or not dims:
            continue
        if len(item.shape) != len(dims):
            problems.append("inputs.{}: {} dims {}, the model's has {} {}".format(
                item.name, len(item.shape), list(item.shape), len(dims), dims))
            continue
        for axis, (want, have) in enumerate(zip(item.shape, dims)):
            if not isinstance(have, int) or have < 1:  # a name, '?' or -1: dynamic in the model
                continue
            if isinstance(want, int) and want > 0 and want != have:
                problems.append("inputs.{}.shape[{}]: {} contradicts the model's fixed size {}".format(
                    item.name, axis, want, have))
            elif (not isinstance(want, int) or want < 0) and spec.dynamic is not None:
                problems.append("inputs.{}.shape[{}]: dynamic in the spec, but the model is static there (size {}): "
                                "ATC builds the gears and the box fails at run time ({}); re-export the model with "
                                "this axis dynamic, or freeze it to {} and drop the gear".format(
                                    item.name, axis, have, STATIC_MODEL_SOURCE, have))
    if spec.dynamic is not None and spec.dynamic.mode == "batch":
        for item in spec.inputs:
            if item.dynamic_axes and item.dynamic_axes != [0]:
                problems.append("inputs.{}: batch gears cover axis 0 only, the spec's dynamic axes are {}".format(
                    item.name, item.dynamic_axes))
    return problems


def _classes(outputs: Dict[str, List[Any]], task: str) -> Optional[int]:
    """Class count the outputs fix, for the layouts omdeploy's tasks read (None when it cannot tell)."""
    shapes = [s for s in outputs.values() if s and all(isinstance(d, int) for d in s)]
    if not shapes:
        return None
    first = shapes[0]
    if task == "classify" and (len(first) == 2 or len(first) == 4 and first[2:] == [1, 1]):
        return first[1]  # [N, classes] or [N, classes, 1, 1]
    if task == "detect" and len(outputs) == 1 and len(first) == 3 and 4 < first[1] < first[2]:
        return first[1] - 4  # Ultralytics [1, 4 + classes, anchors]
    return None


def _output_problems(spec: Any, outputs: Dict[str, List[Any]], model_name: str) -> List[str]:
    return ["outputs: {!r} is not an output of {}; its outputs are: {}".format(o.name, model_name, ", ".join(outputs))
            for o in spec.outputs if o.name not in outputs]


def _label_problems(spec: Any, outputs: Dict[str, List[Any]]) -> List[str]:
    try:
        names = spec.label_names()
    except UserError as exc:
        return ["labels: {}".format(exc)]
    classes = _classes(outputs, spec.task)
    if names is None or classes is None or len(names) == classes:
        return []
    return ["labels: {} names, but the model's output has {} classes".format(len(names), classes)]


def _number_problems(spec: Any) -> List[str]:
    problems = []
    pre = spec.preprocess
    if pre is not None:
        for key in ("mean", "std"):
            if any(not math.isfinite(float(v)) for v in getattr(pre, key)):
                problems.append("preprocess.{}: expected finite numbers, got {}".format(key, getattr(pre, key)))
        if not math.isfinite(float(pre.pad_value)):
            problems.append("preprocess.pad_value: expected a finite number, got {}".format(pre.pad_value))
    return problems


def spec_problems(spec: Any, model: Any = None) -> List[str]:
    """Every way `spec` contradicts its model (or its own numbers); [] when convert will accept it."""
    problems = _number_problems(spec) + _gear_problems(spec, {})
    path = spec.model_path
    if model is None:
        if not path.is_file():
            return problems + ["model: {} does not exist (the model path is relative to the spec file)".format(path)]
        if path.suffix.lower() != ".onnx":
            return problems
        try:
            model = load_model(path, load_external_data=False)
        except UserError as exc:
            return problems + ["model: {}".format(exc)]
    inputs, outputs = _model_io(model)
    return (problems + _input_problems(spec, inputs, spec.model) + _output_problems(spec, outputs, spec.model)
            + _label_problems(spec, outputs))


def refuse_wrong_spec(spec: Any, model: Any = None, source: str = "spec") -> None:
    """UserError listing every problem at once (as the schema errors do)."""
    problems = spec_problems(spec, model)
    if problems:
        raise UserError("{}: {} problem(s) against its model: {}".format(source, len(problems), "; ".join(problems)),
                        hint="fix the spec (omdeploy spec --schema lists the keys; omdeploy inspect MODEL shows the "
                             "model's inputs and outputs)")

