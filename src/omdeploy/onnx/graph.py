"""ONNX graph utilities shared by the simulator, check, sanitize, inspect, memory, the contract and compare:
the real inputs (graph inputs minus initializers: before IR 4 every initializer was listed as an input too),
walking nested graphs (If/Loop/Scan), the fusions ATC makes before its precision mode, and exposing
intermediate tensors as outputs for layer comparisons."""
from __future__ import annotations

import os
import tempfile
from typing import Any, Iterator, List, Sequence

from .._optional import require
from ..errors import UserError


def ai_onnx_opset(model: Any, default: int = 1) -> int:
    """The model's ai.onnx opset (the default domain is spelled "" or "ai.onnx")."""
    return next((int(o.version) for o in model.opset_import if o.domain in ("", "ai.onnx")), default)


def real_inputs(graph: Any) -> List[Any]:
    """The graph's inputs a caller feeds: graph.input minus the initializers listed there (IR < 4)."""
    initializers = {t.name for t in graph.initializer}
    return [v for v in graph.input if v.name not in initializers]


def iter_nodes(graph: Any) -> Iterator[Any]:
    """Every node, including those inside If/Loop/Scan subgraphs."""
    for node in graph.node:
        yield node
        for attr in node.attribute:
            if attr.type == attr.GRAPH:
                yield from iter_nodes(attr.g)
            elif attr.type == attr.GRAPHS:
                for g in attr.graphs:
                    yield from iter_nodes(g)


def fuse_graph(path: str) -> Any:
    """The ONNX model after the semantics-preserving fusions ATC also makes (BatchNorm into Conv, constant
    folding), done in float32 as ATC does before it applies the precision mode. Without this a BatchNorm
    variance above 65504 would saturate in float16 although the device never evaluates it."""
    onnx = require("onnx", "the NPU simulator")
    ort = require("onnxruntime", "the NPU simulator")
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    with tempfile.TemporaryDirectory(prefix="omdeploy-sim-") as tmp:
        options.optimized_model_filepath = os.path.join(tmp, "fused.onnx")
        try:
            ort.InferenceSession(path, sess_options=options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime's own exception types
            raise UserError("the simulator cannot load {}: {}".format(path, str(exc).splitlines()[0])) from None
        # onnxruntime keeps weights stored beside the source model as external references relative to the
        # source's folder, so they are read from there
        model = onnx.load(options.optimized_model_filepath, load_external_data=False)
        onnx.external_data_helper.load_external_data_for_model(model, os.path.dirname(os.path.abspath(path)))
    # before IR 4 initializers were also graph inputs; a folded one loses its initializer but keeps its
    # input entry, which would turn a constant into an input the caller has to feed
    source = onnx.load(path, load_external_data=False)
    constants = {v.name for v in source.graph.input} & {t.name for t in source.graph.initializer}
    kept = {t.name for t in model.graph.initializer}
    for value in [v for v in model.graph.input if v.name in constants and v.name not in kept]:
        model.graph.input.remove(value)
    for i, node in enumerate(model.graph.node):
        if not node.name:
            node.name = "{}_{}".format(node.op_type, i)  # reports name the node of a layer
    return model


def float_tensors(model: Any) -> List[str]:
    """Names of the float32 tensors of a graph (inputs, initializers, node outputs), by shape inference."""
    onnx = require("onnx", "the NPU simulator")
    inferred = onnx.shape_inference.infer_shapes(model)
    names: List[str] = []
    for graph in all_graphs(inferred.graph):  # If/Loop/Scan bodies too
        values = list(graph.input) + list(graph.value_info) + list(graph.output)
        names += [v.name for v in values if v.type.tensor_type.elem_type == onnx.TensorProto.FLOAT]
        names += [t.name for t in graph.initializer if t.data_type == onnx.TensorProto.FLOAT]
    return names


def subgraphs(node: Any) -> List[Any]:
    """The graphs a node holds (If's branches, Loop's and Scan's bodies)."""
    return [a.g for a in node.attribute if a.HasField("g")] + [g for a in node.attribute for g in a.graphs]


def all_graphs(graph: Any) -> List[Any]:
    """`graph` and every graph nested in its nodes."""
    found, stack = [], [graph]
    while stack:
        g = stack.pop()
        found.append(g)
        stack.extend(sub for node in g.node for sub in subgraphs(node))
    return found


def intermediate_names(model: Any) -> List[str]:
    """The float32 tensors produced by the graph's nodes, in graph order."""
    floats = set(float_tensors(model))
    return [name for node in model.graph.node for name in node.output if name in floats]


def expose_intermediates(model: Any, names: Sequence[str]) -> List[str]:
    """Make `names` float32 graph outputs too (in place); returns the ones added."""
    onnx = require("onnx", "comparing layers")
    existing = {o.name for o in model.graph.output}
    added = [n for n in names if n not in existing]
    model.graph.output.extend(onnx.helper.make_tensor_value_info(n, onnx.TensorProto.FLOAT, None) for n in added)
    return added
