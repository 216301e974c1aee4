"""The peak device memory of a deployment, one estimate for check, the simulator and convert (MiB everywhere).

    est = peak_memory(model, spec)      # weights + inputs + outputs + the largest live set of activations
    est.total, est.mib(est.total)

Sizes are in the precision the device runs: float tensors take 2 bytes under the precision modes that put
them in float16 (force_fp16, ATC's default), inputs in the dtype the spec feeds (float16 = --input_fp16_nodes,
uint8 under AIPP), every dynamic dim at the largest gear.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Optional

import numpy as np

from .dtypes import itemsize
from .shapes import infer_with_input_shapes

MIB = 1024 * 1024
FP16_MODES = ("force_fp16", "allow_fp32_to_fp16", "allow_mix_precision", "allow_mix_precision_fp16",
              "allow_mix_precision_bf16", "allow_fp32_to_bf16")
_FLOATS = (1, 11)  # float32, float64: what a float16 precision mode turns into float16


@dataclass
class MemoryEstimate:
    weights: int
    inputs: Dict[str, Optional[int]]
    outputs: Dict[str, Optional[int]]
    activations: int
    float_bytes: int
    complete: bool
    input_shapes: Dict[str, Optional[List[int]]] = field(default_factory=dict)

    @property
    def total(self) -> int:
        known = [b for b in list(self.inputs.values()) + list(self.outputs.values()) if b is not None]
        return self.weights + sum(known) + self.activations

    @property
    def input_bytes(self) -> int:
        return sum(b for b in self.inputs.values() if b is not None)

    @staticmethod
    def mib(n: float) -> str:
        return "{:.1f} MiB".format(n / MIB)

    def summary(self) -> str:
        return "peak device memory {} (weights {}, inputs {}, outputs {}, activations {})".format(
            self.mib(self.total), self.mib(self.weights), self.mib(self.input_bytes),
            self.mib(sum(b for b in self.outputs.values() if b)), self.mib(self.activations))

    def to_dict(self) -> Dict[str, Any]:
        data = asdict(self)
        data.update(total=self.total, total_mib=round(self.total / MIB, 1))
        return data


def largest_gear(spec: Any) -> List[int]:
    gears = spec.dynamic.gear_tuples() if spec is not None and spec.dynamic is not None and spec.dynamic.gears else []
    valid = [g for g in gears if all(isinstance(v, int) and v > 0 for v in g)]
    if not valid:
        return []
    best = valid[0]
    for g in valid:
        if _count(g) > _count(best):
            best = g
    return list(best)


def _count(dims: Any) -> int:
    n = 1
    for d in dims:
        n *= int(d)
    return n


def input_shapes(model: Any, spec: Any = None) -> Dict[str, Optional[List[int]]]:
    """Each model input's shape on the device: the spec's static dims, dynamic dims at the largest gear."""
    from .graph import real_inputs
    from .inspect import _shape

    gear = largest_gear(spec)
    mode = spec.dynamic.mode if spec is not None and spec.dynamic is not None else None
    result: Dict[str, Optional[List[int]]] = {}
    for value in real_inputs(model.graph):
        dims: List[Any] = list(_shape(value))
        entry = spec.input(value.name) if spec is not None else None
        if entry is not None and entry.shape and len(entry.shape) == len(dims):
            dims = [w if isinstance(w, int) and w > 0 else h for w, h in zip(entry.shape, dims)]
            for axis in entry.dynamic_axes:
                dims[axis] = None
        dynamic = [i for i, d in enumerate(dims) if not isinstance(d, int) or d < 1]
        if mode == "batch" and dynamic == [0] and gear:
            dims[0] = gear[0]
        elif mode == "image_size" and len(dynamic) == 2 and len(gear) == 2:
            dims[dynamic[0]], dims[dynamic[1]] = gear
        elif mode == "dims" and dynamic and gear:
            gear = list(gear)
            for axis in dynamic:
                if gear:
                    dims[axis] = gear.pop(0)
        result[value.name] = [int(d) for d in dims] if all(isinstance(d, int) and d > 0 for d in dims) else None
    return result


def _sizes(model: Any, float_bytes: int) -> Dict[str, int]:
    sizes = {}
    for vi in list(model.graph.value_info) + list(model.graph.output) + list(model.graph.input):
        tt = vi.type.tensor_type
        dims = [d.dim_value if d.HasField("dim_value") else None for d in tt.shape.dim]
        if tt.HasField("shape") and all(d is not None for d in dims):
            elem = float_bytes if tt.elem_type in _FLOATS else itemsize(tt.elem_type)
            sizes[vi.name] = _count(dims) * elem
    return sizes


def _largest_live_set(model: Any, sizes: Dict[str, int], skip: set) -> int:
    """Max over the nodes (in graph order) of the bytes of the activations alive while that node runs."""
    nodes = list(model.graph.node)
    last_use: Dict[str, int] = {}
    for i, node in enumerate(nodes):
        for name in node.input:
            last_use[name] = i
    live: Dict[str, int] = {}
    peak = 0
    for i, node in enumerate(nodes):
        for name in node.output:
            if name and name not in skip and name in sizes and node.op_type != "Constant":
                live[name] = sizes[name]
        peak = max(peak, sum(live.values()))
        for name in [n for n in live if last_use.get(n, -1) <= i]:
            del live[name]
    return peak


def _weight_bytes(model: Any, float_bytes: int) -> int:
    total = 0
    tensors = list(model.graph.initializer) + [a.t for n in model.graph.node if n.op_type == "Constant"
                                               for a in n.attribute if a.name == "value"]
    for t in tensors:
        elem = float_bytes if t.data_type in _FLOATS else itemsize(t.data_type)
        total += _count(t.dims) * elem
    return total


def peak_memory(model: Any, spec: Any = None) -> MemoryEstimate:
    """The deployment's peak device memory; `model` an onnx.ModelProto (weights need not be loaded)."""
    mode = spec.precision_mode if spec is not None else "force_fp16"
    float_bytes = 2 if mode in FP16_MODES else 4
    shapes = input_shapes(model, spec)
    inferred = infer_with_input_shapes(model, shapes, "estimating device memory")
    sizes = _sizes(inferred, float_bytes)
    aipp = spec is not None and spec.preprocess is not None and spec.preprocess.where in ("aipp", "dvpp")
    elem_types = {v.name: v.type.tensor_type.elem_type for v in model.graph.input}
    inputs: Dict[str, Optional[int]] = {}
    for name, shape in shapes.items():
        entry = spec.input(name) if spec is not None else None
        if aipp:
            size = 1
        elif entry is not None:
            size = np.dtype(entry.dtype).itemsize
        else:
            size = itemsize(elem_types.get(name, 1))
        inputs[name] = None if shape is None else _count(shape) * size
    outputs: Dict[str, Optional[int]] = {}
    for value in inferred.graph.output:
        tt = value.type.tensor_type
        dims = [d.dim_value if d.HasField("dim_value") else None for d in tt.shape.dim]
        known = tt.HasField("shape") and all(d is not None and d > 0 for d in dims)
        outputs[value.name] = _count(dims) * itemsize(tt.elem_type) if known else None
    skip = set(shapes) | set(outputs) | {t.name for t in model.graph.initializer}
    activations = _largest_live_set(inferred, sizes, skip)
    produced = [o for n in inferred.graph.node for o in n.output if o and o not in skip]
    complete = all(v is not None for v in list(inputs.values()) + list(outputs.values())) and \
        all(o in sizes for o in produced)
    return MemoryEstimate(_weight_bytes(model, float_bytes), inputs, outputs, activations, float_bytes, complete,
                          shapes)
