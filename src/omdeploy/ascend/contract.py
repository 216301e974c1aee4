"""The device contract: what the application feeds the .om, per model input, derived once from a DeploySpec
and the model's real input list (ONNX graph inputs minus initializers, in ONNX order).

convert's sidecar and the simulator take it from here, so the two cannot disagree on which input gets which
AIPP block (`related_input_rank` counts over the ONNX input order, as ATC maps it), on the device dtype/layout/
shape, or on where H and W sit in a layout.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

from ..errors import UserError, one_of

Dim = Union[int, str]
# (name, dims, dtype name) of one model input
Source = Tuple[str, List[Dim], str]


def hw_axes(layout: str) -> Optional[Tuple[int, int]]:
    """(H axis, W axis) of a 4-D image layout; None for ND and the 5-D layouts (no image plane is implied)."""
    return {"NCHW": (2, 3), "NHWC": (1, 2)}.get(layout)


@dataclass
class InputContract:
    name: str
    device_shape: List[Dim]      # what the .om takes
    device_dtype: str
    device_layout: str
    model_shape: List[Dim]       # what the ONNX source takes (the spec's shape when it gives one)
    model_dtype: str
    model_layout: str
    aipp: Any = None             # omdeploy.ascend.aipp.AippConfig when AIPP feeds this input

    @property
    def hw_axes(self) -> Optional[Tuple[int, int]]:
        return hw_axes(self.model_layout)

    def as_input_spec(self) -> Any:
        from ..spec import InputSpec

        return InputSpec(self.name, list(self.device_shape), self.device_dtype, self.device_layout)


def aipp_by_input(spec: Any, input_names: Sequence[str]) -> Dict[str, Any]:
    """input name -> the static AIPP config the .om applies to it: from atc.insert_op_conf (by
    related_input_rank over `input_names`, the ONNX order) or from preprocess.where: aipp."""
    from . import aipp

    conf = spec.atc.insert_op_conf
    if conf:
        path = Path(spec.base_dir) / conf
        return aipp.configs_by_input(aipp.read_aipp_file(path), list(input_names), str(path))
    return {name: aipp.aipp_from_spec(spec, name) for name in aipp.aipp_inputs(spec)}


def onnx_sources(model: Any) -> List[Source]:
    """The model's real inputs (graph inputs minus initializers) with their dims ('?' for an unnamed dynamic
    dim) and numpy dtype names, in ONNX order."""
    import numpy as np

    from .._optional import require

    onnx = require("onnx", "reading the model's inputs")
    initializers = {t.name for t in model.graph.initializer}
    out: List[Source] = []
    for value in model.graph.input:
        if value.name in initializers:
            continue
        tensor = value.type.tensor_type
        dims: List[Dim] = [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in tensor.shape.dim]
        out.append((value.name, dims, np.dtype(onnx.helper.tensor_dtype_to_np_dtype(tensor.elem_type)).name))
    return out


def spec_sources(spec: Any) -> List[Source]:
    """The spec's own inputs as sources, for when the model cannot be read (no onnx, another format)."""
    return [(i.name, list(i.shape), i.dtype) for i in spec.inputs]


def device_contract(spec: Any, sources: Sequence[Source]) -> List[InputContract]:
    """One InputContract per model input, in the model's order (see the module docstring)."""
    from ..spec import guess_layout
    from .aipp import device_input_shape

    declared = {i.name: i for i in spec.inputs}
    names = [name for name, _, _ in sources]
    unknown = [n for n in declared if n not in names]
    if unknown:
        raise UserError("spec input {!r} is not an input of {}; its inputs are: {}".format(
            unknown[0], spec.model, one_of(names)))
    configs = aipp_by_input(spec, names)
    out = []
    for name, dims, dtype in sources:
        item = declared.get(name)
        shape: List[Dim] = list(item.shape) if item is not None and item.shape else list(dims)
        layout = item.layout if item is not None else guess_layout(shape)
        config = configs.get(name)
        if config is not None:
            out.append(InputContract(name, list(device_input_shape(config, shape, layout)), "uint8", "NHWC",
                                     shape, dtype, layout, config))
        else:
            out.append(InputContract(name, list(shape), item.dtype if item is not None else dtype, layout,
                                     shape, dtype, layout))
    return out


__all__ = ["InputContract", "device_contract", "aipp_by_input", "onnx_sources", "spec_sources", "hw_axes"]
