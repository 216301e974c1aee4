"""ONNX models whose outputs are fixed arrays (plus 0 x the input), to run task classes end to end on known heads."""
from __future__ import annotations

from pathlib import Path
from typing import Dict, Optional, Sequence

import numpy as np


def constant_head_model(path: Path, outputs: Dict[str, np.ndarray], input_shape: Sequence[int] = (1, 3, 64, 64),
                        metadata: Optional[Dict[str, str]] = None) -> Path:
    """Input 'images' of `input_shape`; each output = its array + 0 * mean(images)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes = [helper.make_node("ReduceMean", ["images"], ["mean"], keepdims=0),
             helper.make_node("Mul", ["mean", "zero"], ["nothing"])]
    inits = [numpy_helper.from_array(np.array(0, np.float32), "zero")]
    for name, value in outputs.items():
        inits.append(numpy_helper.from_array(np.asarray(value, np.float32), name + "_value"))
        nodes.append(helper.make_node("Add", [name + "_value", "nothing"], [name]))
    graph = helper.make_graph(
        nodes, "heads", [helper.make_tensor_value_info("images", TensorProto.FLOAT, list(input_shape))],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, list(np.shape(v))) for n, v in outputs.items()], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    for key, value in (metadata or {}).items():
        model.metadata_props.add(key=key, value=value)
    onnx.save(model, str(path))
    return path
