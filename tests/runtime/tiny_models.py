"""Small ONNX graphs built with onnx.helper for Session tests that need no torch."""
from __future__ import annotations

from pathlib import Path

import numpy as np


def scale_model(path: Path, dtype=np.float32, shape=(1, 3, 8, 8), factor: float = 2.0) -> Path:
    """y = x * factor, one input 'x' of `shape` (ints or names) and `dtype`."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    elem = {np.float32: TensorProto.FLOAT, np.float16: TensorProto.FLOAT16}[dtype]
    x = helper.make_tensor_value_info("x", elem, list(shape))
    y = helper.make_tensor_value_info("y", elem, list(shape))
    k = numpy_helper.from_array(np.array(factor, dtype=dtype), "k")
    graph = helper.make_graph([helper.make_node("Mul", ["x", "k"], ["y"])], "scale", [x], [y], [k])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def two_input_model(path: Path) -> Path:
    """sum = a + b (float32 [2, 3]), count = ids * 1 (int64 [2])."""
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Add", ["a", "b"], ["sum"]), helper.make_node("Identity", ["ids"], ["count"])],
        "two",
        [helper.make_tensor_value_info("a", TensorProto.FLOAT, [2, 3]),
         helper.make_tensor_value_info("b", TensorProto.FLOAT, [2, 3]),
         helper.make_tensor_value_info("ids", TensorProto.INT64, [2])],
        [helper.make_tensor_value_info("sum", TensorProto.FLOAT, [2, 3]),
         helper.make_tensor_value_info("count", TensorProto.INT64, [2])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path
