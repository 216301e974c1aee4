"""What is inside an ONNX model: I/O, opsets, operators, parameters, dynamic dims, metadata."""
from __future__ import annotations

import os
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Union

from .._optional import require
from ..errors import UserError
from .graph import iter_nodes, real_inputs

Dim = Union[int, str]


@dataclass
class TensorSummary:
    name: str
    dtype: str
    shape: List[Dim]

    @property
    def dynamic_axes(self) -> List[Tuple[int, str]]:
        return [(i, str(d)) for i, d in enumerate(self.shape) if not isinstance(d, int)]


@dataclass
class ModelSummary:
    path: str
    file_bytes: int
    ir_version: int
    producer: str
    opsets: Dict[str, int]
    inputs: List[TensorSummary]
    outputs: List[TensorSummary]
    operators: Dict[str, int]  # "Conv" or "com.microsoft::FusedConv" -> count, most frequent first
    node_count: int
    parameter_count: int
    parameter_bytes: int
    metadata: Dict[str, str] = field(default_factory=dict)
    external_data: bool = False

    @property
    def dynamic_dims(self) -> List[Dict[str, Any]]:
        return [{"input": t.name, "axis": axis, "dim": dim} for t in self.inputs for axis, dim in t.dynamic_axes]

    @property
    def domains(self) -> List[str]:
        return sorted(self.opsets)

    def to_dict(self, metadata_chars: Optional[int] = None) -> Dict[str, Any]:
        data = asdict(self)
        data["dynamic_dims"] = self.dynamic_dims
        if metadata_chars is not None:
            data["metadata"] = {k: clip(v, metadata_chars) for k, v in self.metadata.items()}
        return data


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else "{}... ({} chars)".format(text[:limit], len(text))


ELEM_NAMES = {
    1: "float32", 2: "uint8", 3: "int8", 4: "uint16", 5: "int16", 6: "int32", 7: "int64", 8: "string",
    9: "bool", 10: "float16", 11: "float64", 12: "uint32", 13: "uint64", 16: "bfloat16",
}
ELEM_BYTES = {1: 4, 2: 1, 3: 1, 4: 2, 5: 2, 6: 4, 7: 8, 9: 1, 10: 2, 11: 8, 12: 4, 13: 8, 16: 2}


def load_model(path: Union[str, os.PathLike], load_external_data: bool = True) -> Any:
    """onnx.load with one-line errors for the usual mistakes (missing file, not an ONNX file)."""
    onnx = require("onnx", "reading ONNX models")
    path = Path(path)
    if not path.is_file():
        raise UserError("{} does not exist".format(path) if not path.exists() else "{} is not a file".format(path))
    head = path.open("rb").read(16)
    # GE writes MODEL_FILE_MAGIC_NUM 0x444F4D49 little-endian, i.e. b"IMOD", at the start of an .om
    if head[:4] == b"IMOD":
        raise UserError("{} is an Ascend offline model (.om), not ONNX".format(path),
                        hint="inspect the ONNX it was converted from, or its sidecar {}.json".format(path.name))
    if path.suffix.lower() == ".om":
        raise UserError("{} is named .om, not ONNX, and {}".format(
            path, "is empty" if not head else "has no Ascend offline-model header (IMOD)"),
            hint="inspect the ONNX it was converted from; an .om that ATC wrote and that lacks its header is "
                 "damaged (an interrupted copy?)")
    if not head:
        raise UserError("{} is empty (0 bytes), not an ONNX model".format(path),
                        hint="export or copy the model again; an interrupted copy leaves an empty file")
    try:
        model = onnx.load(str(path), load_external_data=load_external_data)
    except Exception as exc:  # protobuf DecodeError and friends
        kind = "a PyTorch checkpoint" if head[:2] == b"PK" or head[:1] == b"\x80" else "not a valid ONNX protobuf"
        raise UserError("{} cannot be read as ONNX: {} ({})".format(path, kind, str(exc).splitlines()[0][:120])) from None
    if not model.HasField("graph") or (model.ir_version >= 3 and not model.opset_import):  # protobuf parses
        # some non-ONNX bytes as a message
        raise UserError("{} cannot be read as ONNX: not an ONNX model (no graph or no opset)".format(path))
    return model


def check_spec_inputs(spec: Any, model: Any) -> None:
    """A spec input the model does not have, or with another rank, is refused: ATC stops on it (E10001)."""
    actual = {v.name: _shape(v) for v in real_inputs(model.graph)}
    for item in spec.inputs:
        if item.name not in actual:
            raise UserError("spec input {!r} is not an input of {}; its inputs are: {}".format(
                item.name, spec.model, ", ".join(actual)), hint="name the spec's inputs after the model's")
        dims = actual[item.name]
        if item.shape and dims and len(item.shape) != len(dims):
            raise UserError("spec input {!r} has {} dims {}, the model's has {} {}".format(
                item.name, len(item.shape), list(item.shape), len(dims), dims))


def _shape(value_info: Any) -> List[Dim]:
    t = value_info.type
    if not t.HasField("tensor_type") or not t.tensor_type.HasField("shape"):
        return []
    dims: List[Dim] = []
    for d in t.tensor_type.shape.dim:
        if d.HasField("dim_value"):
            dims.append(int(d.dim_value))
        else:
            dims.append(d.dim_param or "?")
    return dims


def tensor_summary(value_info: Any) -> TensorSummary:
    elem = value_info.type.tensor_type.elem_type
    return TensorSummary(value_info.name, ELEM_NAMES.get(elem, "type{}".format(elem)), _shape(value_info))


def _tensor_params(tensor: Any) -> Tuple[int, int]:
    count = 1
    for d in tensor.dims:
        count *= int(d)
    return count, count * ELEM_BYTES.get(tensor.data_type, 4)


def summarize(model_or_path: Any) -> ModelSummary:
    path = ""
    file_bytes = 0
    model = model_or_path
    if isinstance(model_or_path, (str, os.PathLike)):
        path = str(model_or_path)
        model = load_model(path, load_external_data=False)
        file_bytes = os.path.getsize(path)
    graph = model.graph
    initializer_names = {t.name for t in graph.initializer}
    ops: Counter = Counter()
    params = nbytes = 0
    external = False
    nodes = 0
    for node in iter_nodes(graph):
        nodes += 1
        domain = node.domain if node.domain not in ("", "ai.onnx") else ""
        ops["{}::{}".format(domain, node.op_type) if domain else node.op_type] += 1
        if node.op_type == "Constant":
            for attr in node.attribute:
                if attr.name == "value" and attr.type == attr.TENSOR:
                    c, b = _tensor_params(attr.t)
                    params, nbytes = params + c, nbytes + b
    for tensor in graph.initializer:
        c, b = _tensor_params(tensor)
        params, nbytes = params + c, nbytes + b
        external = external or tensor.data_location == tensor.EXTERNAL
    opsets = {(o.domain or "ai.onnx"): int(o.version) for o in model.opset_import}
    return ModelSummary(
        path=path,
        file_bytes=file_bytes,
        ir_version=int(model.ir_version),
        producer=" ".join(p for p in (model.producer_name, model.producer_version) if p),
        opsets=opsets,
        inputs=[tensor_summary(v) for v in graph.input if v.name not in initializer_names],
        outputs=[tensor_summary(v) for v in graph.output],
        operators=dict(ops.most_common()),
        node_count=nodes,
        parameter_count=params,
        parameter_bytes=nbytes,
        metadata={p.key: p.value for p in model.metadata_props},
        external_data=external,
    )
