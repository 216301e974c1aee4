"""The IR version omdeploy writes: the lowest one a model's content needs, so an older onnxruntime on the box loads it.

The onnx package stamps every model it makes with its own newest IR version (onnx 1.19: IR 12), which an edge box's
onnxruntime refuses ("Unsupported model IR version: 12, max supported IR version: 10" from onnxruntime 1.19.2, the
last release for Python 3.8). The IR version only gates what a model may contain (onnx/docs/Versioning.md,
https://github.com/onnx/onnx/blob/main/docs/Versioning.md), so the minimum for the opsets and element types in use
is always a faithful stamp. onnxruntime's own table (https://onnxruntime.ai/docs/reference/compatibility.html)
gives the newest IR each release loads: 1.14 loads IR 8 (opsets up to 18), 1.18-1.19 IR 10.
"""
from __future__ import annotations

from typing import Any, Iterator

# The IR version that first allows an initializer that is not also a graph input (IR 4, ONNX 1.3).
IR_INITIALIZERS_OUTSIDE_INPUTS = 4
# Model-local functions: IR 8 (ONNX 1.10).
IR_LOCAL_FUNCTIONS = 8
# TensorProto.DataType value -> the IR version that introduced it (onnx.proto's comments on each type).
IR_FOR_ELEM_TYPE = {
    16: 7,   # BFLOAT16
    17: 9, 18: 9, 19: 9, 20: 9,   # FLOAT8E4M3FN, FLOAT8E4M3FNUZ, FLOAT8E5M2, FLOAT8E5M2FNUZ
    21: 10, 22: 10,   # UINT4, INT4
    23: 11,   # FLOAT4E2M1
}


def _elem_types(model: Any) -> Iterator[int]:
    graphs = [model.graph]
    while graphs:
        graph = graphs.pop()
        for value in list(graph.input) + list(graph.output) + list(graph.value_info):
            if value.type.HasField("tensor_type"):
                yield value.type.tensor_type.elem_type
        for tensor in graph.initializer:
            yield tensor.data_type
        for node in graph.node:
            for attribute in node.attribute:
                if attribute.HasField("g"):
                    graphs.append(attribute.g)
                graphs.extend(attribute.graphs)
                if attribute.HasField("t"):
                    yield attribute.t.data_type
                if attribute.name == "to" and attribute.HasField("i"):
                    yield int(attribute.i)


def lowest_ir_version(model: Any) -> int:
    """The lowest IR version that the model's opsets, element types and functions allow."""
    from onnx import helper

    needed = helper.find_min_ir_version_for(list(model.opset_import), ignore_unknown=True)
    initializers = {t.name for t in model.graph.initializer}
    if initializers - {i.name for i in model.graph.input}:
        needed = max(needed, IR_INITIALIZERS_OUTSIDE_INPUTS)
    if len(model.functions):
        needed = max(needed, IR_LOCAL_FUNCTIONS)
    for elem_type in _elem_types(model):
        needed = max(needed, IR_FOR_ELEM_TYPE.get(elem_type, 0))
    return needed


def stamp_lowest_ir_version(model: Any) -> Any:
    """Set the model's IR version to the lowest its content allows (in place; returns the model)."""
    model.ir_version = lowest_ir_version(model)
    return model
