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


def yolov8_layout_detector(backbone: Path, path: Path, size: int = 320, classes: int = 80,
                           feature: str = "/act_1/Clip_output_0") -> Path:
    """A YOLOv8-layout detector on a real classifier's features: EfficientNet-Lite0 up to its last feature map
    (stride 32), then per cell the classifier's own fc rows of `classes` ImageNet classes (every 12th), soft-maxed, as
    class scores, a fixed-seed 1x1 conv for w/h and the cell centre as cx, cy. Output 'output0' is
    (1, 4 + classes, cells) as Ultralytics exports it (anchors > channels), so the box rows, in input pixels,
    dominate the tensor while the class rows carry what the image shows."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load(str(backbone))
    graph = model.graph
    fc = {i.name: numpy_helper.to_array(i) for i in graph.initializer if i.name in ("_fc.weight", "_fc.bias")}
    keep = np.arange(0, 12 * classes, 12)
    stride, cells = 32, (size // 32) ** 2
    grid = (np.stack(np.meshgrid(np.arange(size // stride), np.arange(size // stride), indexing="xy"), 0)
            .reshape(2, -1) + 0.5) * stride
    rng = np.random.default_rng(0)
    inits = {
        "det_cls_w": fc["_fc.weight"][keep][:, :, None, None], "det_cls_b": fc["_fc.bias"][keep],
        "det_wh_w": rng.normal(0, 0.02, (2, fc["_fc.weight"].shape[1], 1, 1)).astype(np.float32),
        "det_wh_b": np.zeros(2, np.float32), "det_wh_scale": np.array(3.0 * stride, np.float32),
        "det_xy": grid[None].astype(np.float32), "det_cls_shape": np.array([1, classes, cells], np.int64),
        "det_wh_shape": np.array([1, 2, cells], np.int64),
    }
    nodes = [helper.make_node("Conv", [feature, "det_cls_w", "det_cls_b"], ["det_cls_logits"]),
             helper.make_node("Softmax", ["det_cls_logits"], ["det_cls_map"], axis=1),
             helper.make_node("Reshape", ["det_cls_map", "det_cls_shape"], ["det_cls"]),
             helper.make_node("Conv", [feature, "det_wh_w", "det_wh_b"], ["det_wh_logits"]),
             helper.make_node("Sigmoid", ["det_wh_logits"], ["det_wh_unit"]),
             helper.make_node("Mul", ["det_wh_unit", "det_wh_scale"], ["det_wh_map"]),
             helper.make_node("Reshape", ["det_wh_map", "det_wh_shape"], ["det_wh"]),
             helper.make_node("Concat", ["det_xy", "det_wh", "det_cls"], ["output0"], axis=1)]
    producers = {o: n for n in graph.node for o in n.output}
    needed, stack = set(), [feature]  # keep only the backbone up to the feature map
    while stack:
        name = stack.pop()
        if name in producers and name not in needed:
            needed.add(name)
            stack.extend(producers[name].input)
    backbone_nodes = [n for n in graph.node if any(o in needed for o in n.output)]
    used = {i for n in backbone_nodes for i in n.input}
    new = helper.make_graph(
        backbone_nodes + nodes, "yolov8_layout",
        [helper.make_tensor_value_info(graph.input[0].name, TensorProto.FLOAT, [1, 3, size, size])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, 4 + classes, cells])],
        [i for i in graph.initializer if i.name in used] + [numpy_helper.from_array(v, k) for k, v in inits.items()])
    out = helper.make_model(new, opset_imports=list(model.opset_import))
    out.ir_version = model.ir_version
    onnx.checker.check_model(out)
    onnx.save(out, str(path))
    return path
