"""ONNX shape inference at concrete input shapes, one function for the memory estimate and the simulator."""
from __future__ import annotations

import logging
from typing import Any, Dict, List, Optional

from .._optional import require

logger = logging.getLogger("omdeploy")


def infer_with_input_shapes(model: Any, shapes: Dict[str, Optional[List[int]]], purpose: str) -> Any:
    """A copy of `model` whose graph inputs take `shapes` (None leaves an input as it is), with shapes inferred
    (data propagation on). Best effort: where onnx cannot infer, the copy is returned without them and the
    callers treat those sizes as unknown."""
    onnx = require("onnx", purpose)
    fixed = onnx.ModelProto()
    fixed.CopyFrom(model)
    del fixed.graph.value_info[:]
    for value in fixed.graph.input:
        shape = shapes.get(value.name)
        if shape is not None:
            for dim, size in zip(value.type.tensor_type.shape.dim, shape):
                dim.Clear()
                dim.dim_value = size
    try:
        return onnx.shape_inference.infer_shapes(fixed, data_prop=True)
    except Exception as exc:  # onnx raises several types here (InferenceError, ValidationError, RuntimeError)
        logger.debug("%s: shape inference failed: %s", purpose, exc)
        return fixed
