"""Session backend "sim": run the ONNX source on the CPU the way the deployed .om would behave.

Everything comes from the DeploySpec (the one-spec rule):
- the device-side input contract: uint8 NHWC for AIPP inputs (then the AIPP emulator), float16 for
  `--input_fp16_nodes` (spec input dtype float16), the declared layout, the compiled gears;
- the precision mode: the graph is fused like ATC does (BatchNorm folded into Conv in float32, constants
  folded: onnx/graph.fuse_graph), then every tensor an fp16 op reads or writes is rounded to float16
  (ascend/precision.apply_precision, the ATC knowledge); ops the device runs in float32 (FP32_ONLY_OPS) are
  kept and listed in `describe()["kept_fp32"]`;
- the output types (`--output_type`, spec output dtype);
- the compiled gears, with the acl backend's policy (runtime/gears.py): a batch between gears is padded to the
  next gear and sliced back; any other shape that is not a gear is refused as the device refuses it (145013);
- device memory per input/output and for the weights, compared with the soc's memory (207001 when over).

    with Session("deploy.yaml", backend="sim") as s:
        s.inputs          # the device contract, e.g. uint8 [1, 224, 224, 3] NHWC for an AIPP input
        s.run([image])    # outputs as the .om would return them
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from .._optional import require
from ..errors import UserError
from ..log import info_once, logger
from ..ascend.contract import hw_axes
from ..ascend.precision import apply_precision, keep_dtype_entries, overflow_mode, refuse_unsimulated_precision
from ..onnx.graph import ai_onnx_opset, expose_intermediates, fuse_graph, intermediate_names, real_inputs
from ..spec import DeploySpec
from .base import Backend, Dim, TensorInfo, guess_layout
from .gears import Gears, Plan, slice_batch

# ACL codes the device returns for the failures the simulator reproduces (docs/reference.md [acl-codes])
GEAR_REFUSED = "145013 ACL_ERROR_GE_DYNAMIC_BATCH_SIZE_INVALID"
OUT_OF_MEMORY = "207001 ACL_ERROR_RT_MEMORY_ALLOCATION"

_GEAR_CALLS = {"batch": "aclmdlSetDynamicBatchSize", "image_size": "aclmdlSetDynamicHWSize",
               "dims": "aclmdlSetInputDynamicDims"}
_OUTPUT_DTYPES = {"FP32": np.float32, "FP16": np.float16, "UINT8": np.uint8, "INT8": np.int8}
def refuse_unparsed_opset(model: Any, spec: DeploySpec) -> None:
    """The opset rule of `omdeploy check` (opset-range, the accepted range of the target CANN's ATC parser): a
    model ATC refuses has no .om to simulate."""
    from ..onnx.check_rules import opset_range

    opset, rng = ai_onnx_opset(model), opset_range(spec.target.cann)
    if not rng.accepts(opset):
        low, high = rng.accepted
        raise UserError("ai.onnx opset {} is outside the opsets CANN {}'s ATC parses (v{}-v{}): ATC refuses the "
                        "model, so there is no .om to simulate".format(opset, spec.target.cann, low, high),
                        hint="`omdeploy sanitize MODEL --opset {}` (or re-export at that opset); `omdeploy check` "
                             "says the same".format(min(max(opset, low), high) if opset > high else low))


def refuse_non_tensors(model: Any) -> None:
    """An .om's inputs and outputs are tensors: a sequence or optional one has no device form."""
    for kind, values in (("input", model.graph.input), ("output", model.graph.output)):
        for value in values:
            if value.type.WhichOneof("value") != "tensor_type" or not value.type.tensor_type.elem_type:
                raise UserError("{} '{}' is a {}, not a tensor: an .om's inputs and outputs are tensors".format(
                    kind, value.name, (value.type.WhichOneof("value") or "value of unknown type").replace(
                        "_type", "")), hint="return the tensors themselves from the model")


def refuse_strings(model: Any) -> None:
    """String tensors carry no arithmetic to emulate in float16 (and onnxruntime's string kernels depend on the
    machine's locales): a model that takes or returns strings is refused in one line."""
    string = require("onnx", "the NPU simulator").TensorProto.STRING
    for kind, values in (("input", model.graph.input), ("output", model.graph.output)):
        for value in values:
            if value.type.tensor_type.elem_type == string:
                raise UserError("{} '{}' is a string tensor: the simulator emulates the device's numeric "
                                "arithmetic, and an .om's inputs and outputs are numeric tensors".format(kind, value.name),
                                hint="keep the string handling (tokenising, labels) on the host, outside the model")


def refuse_bfloat16(model: Any) -> None:
    """bfloat16 exists only on Atlas A2/A3 chips; the 310-class simulator has no bf16 arithmetic to apply."""
    onnx = require("onnx", "the NPU simulator")
    bf16 = onnx.TensorProto.BFLOAT16
    graphs, found = [model.graph], []
    while graphs:
        graph = graphs.pop()
        values = list(graph.input) + list(graph.output) + list(graph.value_info)
        found += [v.name for v in values if v.type.tensor_type.elem_type == bf16]
        found += [t.name for t in graph.initializer if t.data_type == bf16]
        for node in graph.node:
            found += [node.name or node.op_type for a in node.attribute if a.name == "to" and a.i == bf16]
            graphs += [a.g for a in node.attribute if a.HasField("g")] + [g for a in node.attribute for g in a.graphs]
    if found:
        raise UserError("the model uses bfloat16 ({}): the simulator emulates float16 devices (310-class chips "
                        "have no bf16)".format(", ".join(sorted(set(found))[:3])),
                        hint="export the model in float32; bf16 runs only on Atlas A2/A3 (910B/910_93)")


# ---- the device contract -----------------------------------------------------------------------------

def _value_type(value: Any) -> Tuple[List[Dim], np.dtype]:
    """(dims, dtype) of an ONNX ValueInfo; an unnamed dynamic dim is '?'."""
    onnx = require("onnx", "the NPU simulator")
    tensor = value.type.tensor_type
    dims: List[Dim] = [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in tensor.shape.dim]
    return dims, np.dtype(onnx.helper.tensor_dtype_to_np_dtype(tensor.elem_type))


def _onnx_inputs(model: Any) -> List[Tuple[str, List[Dim], np.dtype]]:
    return [(v.name,) + _value_type(v) for v in real_inputs(model.graph)]


@dataclass
class DeviceInput:
    info: TensorInfo                 # what the .om takes
    model_shape: List[Dim]           # what the ONNX source takes (the spec's shape)
    model_dtype: np.dtype
    model_layout: str = "NCHW"
    aipp: Any = None                 # omdeploy.ascend.aipp.AippConfig when AIPP feeds this input

    @property
    def dynamic_axes(self) -> List[int]:
        return [i for i, d in enumerate(self.info.shape) if not isinstance(d, int)]


def aipp_configs(spec: DeploySpec, input_names: Sequence[str]) -> Dict[str, Any]:
    """input name -> the static AIPP config the .om applies to it (the device contract's)."""
    from ..ascend.contract import aipp_by_input

    return aipp_by_input(spec, input_names)


def device_inputs(model: Any, spec: DeploySpec) -> List[DeviceInput]:
    """The device contract (ascend/contract.py) as the simulator's inputs; a non-positive or '-1' dim is '?'."""
    from ..ascend.contract import device_contract

    def dims(shape: Sequence[Dim]) -> List[Dim]:
        return [d if isinstance(d, int) and d > 0 else (d if isinstance(d, str) and d not in ("-1", "") else "?")
                for d in shape]

    sources = [(name, list(shape), np.dtype(dtype).name) for name, shape, dtype in _onnx_inputs(model)]
    return [DeviceInput(TensorInfo(c.name, tuple(dims(c.device_shape)), np.dtype(c.device_dtype), c.device_layout),
                        dims(c.model_shape), np.dtype(c.model_dtype), c.model_layout, c.aipp)
            for c in device_contract(spec, sources)]


def check_dynamic_support(spec: DeploySpec, inputs: Sequence[DeviceInput]) -> None:
    """A dynamic dim of the model itself (the spec gives no shape) needs gears on chips without true dynamic
    shape; dims the spec marks -1 are checked with the other ATC rules by `build_argv`."""
    from ..ascend.atc import NO_DYNAMIC_SHAPE_SOCS

    if spec.dynamic is not None:
        return
    soc = spec.target.soc_version
    for item in inputs:
        if item.dynamic_axes and NO_DYNAMIC_SHAPE_SOCS.match(soc):
            raise UserError("input '{}' has dynamic dims {}; ATC for {} takes no true dynamic shape".format(
                item.info.name, item.info.shape_str(), soc),
                hint="fix the shape in the spec's inputs, or declare gears in `dynamic` "
                     "(--dynamic_batch_size / --dynamic_image_size / --dynamic_dims)")


def gear_key(spec: DeploySpec, inputs: Sequence[DeviceInput], feeds: Dict[str, np.ndarray]) -> Tuple[int, ...]:
    """The values of the dynamic dims in `feeds`, in the form the spec's gears are written."""
    assert spec.dynamic is not None
    values: List[int] = []
    for item in inputs:
        shape = feeds[item.info.name].shape
        axes = item.dynamic_axes
        if spec.dynamic.mode == "batch":
            axes = [a for a in axes if a == 0]
        elif spec.dynamic.mode == "image_size":
            axes = [a for a in axes if a in (hw_axes(item.info.layout, item.info.shape) or ())]
        values.extend(int(shape[a]) for a in axes)
    if spec.dynamic.mode == "batch" and values:
        return (values[0],) if len(set(values)) == 1 else tuple(values)
    return tuple(values)


def format_gear(gear: Sequence[int]) -> str:
    return "x".join(str(v) for v in gear)


# ---- memory ------------------------------------------------------------------------------------------

def largest_gear_shapes(spec: DeploySpec, shapes: Sequence[Tuple[str, Sequence[Dim]]]
                        ) -> Dict[str, Optional[List[int]]]:
    """Each named shape with its dynamic dims set from the largest gear (None where a dim stays unknown)."""
    gears = spec.dynamic.gear_tuples() if spec.dynamic is not None and spec.dynamic.gears else []
    gear = list(max(gears, key=lambda g: int(np.prod(list(g))))) if gears else []
    mode = spec.dynamic.mode if spec.dynamic is not None else None
    result: Dict[str, Optional[List[int]]] = {}
    for name, shape in shapes:
        dims: List[Any] = list(shape)
        dynamic = [i for i, d in enumerate(dims) if not isinstance(d, int)]
        if mode == "batch" and dynamic == [0] and gear:
            dims[0] = gear[0]
        elif mode == "image_size" and len(dynamic) == 2 and gear:
            dims[dynamic[0]], dims[dynamic[1]] = gear
        elif mode == "dims" and dynamic and len(gear) >= len(dynamic):
            for axis in dynamic:
                dims[axis] = gear.pop(0)
        result[name] = [int(d) for d in dims] if all(isinstance(d, int) for d in dims) else None
    return result


def output_shapes(model: Any, input_shapes: Dict[str, Optional[List[int]]]) -> Dict[str, Optional[List[int]]]:
    """Output shapes for concrete input shapes, by ONNX shape inference (None where it cannot tell)."""
    from ..onnx.shapes import infer_with_input_shapes

    fixed = infer_with_input_shapes(model, input_shapes, "the NPU simulator")
    result = {}
    for value in fixed.graph.output:
        dims = value.type.tensor_type.shape.dim
        known = [d.dim_value for d in dims if d.HasField("dim_value")]
        result[value.name] = known if len(known) == len(dims) else None
    return result


def _bytes(shape: Optional[List[int]], dtype: np.dtype) -> Optional[int]:
    return None if shape is None else int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize


def memory_estimate(spec: DeploySpec, inputs: Dict[str, Optional[int]], outputs: Dict[str, Optional[int]],
                    weights: int) -> Dict[str, Any]:
    """Device bytes for each input/output at its largest gear and for the weights, against the soc's memory."""
    known = [b for b in list(inputs.values()) + list(outputs.values()) if b is not None]
    total = sum(known) + weights
    soc = spec.target.soc_version
    from ..chips import memory_mb

    row = memory_mb(soc)
    return {
        "soc_version": soc, "inputs": dict(inputs), "outputs": dict(outputs), "weights": weights, "total": total,
        "complete": len(known) == len(inputs) + len(outputs),
        "soc_memory": None if row is None else row[0] * 1024 * 1024,
        "soc_memory_source": None if row is None else row[1],
        "fits": None if row is None else total <= row[0] * 1024 * 1024,
    }


def _weight_bytes(model: Any) -> int:
    """Bytes of the weights: float16 for the rounded twins of apply_precision."""
    onnx = require("onnx", "the NPU simulator")
    total = 0
    for tensor in model.graph.initializer:
        itemsize = 2 if "/sim_rounded" in tensor.name else \
            np.dtype(onnx.helper.tensor_dtype_to_np_dtype(tensor.data_type)).itemsize
        total += int(np.prod(tensor.dims, dtype=np.int64)) * itemsize
    return total


def _mb(n: float) -> str:
    return "{:.1f} MiB".format(n / 1024 / 1024)


# ---- the backend -------------------------------------------------------------------------------------

class SimBackend(Backend):
    """The deployed .om's behaviour, computed on the CPU with onnxruntime. `spec` drives everything; without
    one the deployment ATC makes from bare options is simulated (force_fp16, the model's own inputs)."""

    name = "sim"
    reports_device_layouts = True

    def __init__(self, path: str, spec: Optional[DeploySpec] = None, layers: bool = False,
                 threads: Optional[int] = None, overflow: Optional[str] = None, pad_batch: bool = True, **_: Any):
        from ..ascend.atc import build_argv

        ort = require("onnxruntime", "the NPU simulator")
        self.spec = spec if spec is not None else DeploySpec(model=path)
        # a deployment ATC refuses is refused here too, with ATC's reasons; the argv is what gets simulated
        self.atc_argv = build_argv(self.spec, absolute_paths=True)
        try:
            source = require("onnx", "the NPU simulator").load(path, load_external_data=False)
        except Exception:  # not an ONNX file: fuse_graph says why, as a user error
            source = None
        if source is not None:
            refuse_unparsed_opset(source, self.spec)
            refuse_strings(source)
            refuse_bfloat16(source)
        model = fuse_graph(path)
        refuse_non_tensors(model)
        self._device_inputs = device_inputs(model, self.spec)
        check_dynamic_support(self.spec, self._device_inputs)
        names = intermediate_names(model) if layers else []
        refuse_unsimulated_precision(self.spec)
        converted, self.precision = apply_precision(model, self.spec.precision_mode,
                                                    overflow_mode(self.spec.target.soc_version, overflow),
                                                    keep_dtype_entries(self.spec))
        self.layer_names = expose_intermediates(converted, names)
        self.inputs = [d.info for d in self._device_inputs]
        self.outputs = [self._output_info(o) for o in converted.graph.output]
        self.memory = self._estimate_memory(model, _weight_bytes(converted), path)
        self._refuse_if_over_memory()
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = int(threads)
        self._session = ort.InferenceSession(converted.SerializeToString(), sess_options=options,
                                             providers=["CPUExecutionProvider"])
        self.gears, self.pad_batch = Gears.from_spec(self.spec), pad_batch

    def _output_info(self, value: Any) -> TensorInfo:
        from ..ascend.atc import output_types

        dims, dtype = _value_type(value)
        types = output_types(self.spec)
        declared = types.get(value.name, types.get(""))
        if declared is not None and value.name not in self.layer_names:
            dtype = np.dtype(_OUTPUT_DTYPES[declared])
        return TensorInfo(value.name, tuple(dims), dtype, guess_layout(dims))

    def _estimate_memory(self, model: Any, weights: int, path: str) -> Dict[str, Any]:
        model_shapes = largest_gear_shapes(self.spec, [(d.info.name, d.model_shape) for d in self._device_inputs])
        device_shapes = largest_gear_shapes(self.spec, [(i.name, i.shape) for i in self.inputs])
        inputs = {i.name: _bytes(device_shapes[i.name], i.dtype) for i in self.inputs}
        shapes = output_shapes(model, model_shapes)
        outputs = {o.name: _bytes(shapes.get(o.name), o.dtype) for o in self.outputs if o.name not in self.layer_names}
        from ..onnx.inspect import load_model
        from ..onnx.memory import peak_memory

        m = memory_estimate(self.spec, inputs, outputs, weights)
        # the figure check and convert print (on the source graph, as they read it): + the live activations
        peak = peak_memory(load_model(path, load_external_data=False), self.spec)
        m.update(total=peak.total, activations=peak.activations, fits=None if m["soc_memory"] is None
                 else peak.total <= m["soc_memory"])
        return m

    def _refuse_if_over_memory(self) -> None:
        m = self.memory
        if m["fits"] is False:
            biggest = max(((n, b) for n, b in m["inputs"].items() if b), key=lambda x: x[1], default=("", 0))
            raise UserError("the deployment needs about {} of device memory (inputs {}, outputs {}, weights {}) "
                            "but {} has {}: the device fails with {}".format(
                                _mb(m["total"]), _mb(sum(b for b in m["inputs"].values() if b)),
                                _mb(sum(b for b in m["outputs"].values() if b)), _mb(m["weights"]),
                                m["soc_version"], _mb(m["soc_memory"]), OUT_OF_MEMORY),
                            hint="make input '{}' float16 (spec input dtype float16 = --input_fp16_nodes halves "
                                 "it), or use a smaller shape, batch or gear".format(biggest[0]))
        if m["fits"] and m["total"] > 0.8 * m["soc_memory"]:
            logger.warning("sim: the deployment needs about %s of the %s of %s", _mb(m["total"]),
                           _mb(m["soc_memory"]), m["soc_version"])

    # ------------------------------------------------------------------------------------------------
    def _plan(self, feeds: Dict[str, np.ndarray]) -> Plan:
        """The gear for these feeds, with the acl backend's policy (runtime/gears.py): a batch that is not a
        gear is padded to the next one; anything else the device refuses is refused here."""
        if self.gears.mode is None or not any(d.dynamic_axes for d in self._device_inputs):
            return Plan(None)
        key = gear_key(self.spec, self._device_inputs, feeds)
        plan = self.gears.plan(key, self.pad_batch)
        if plan is not None:
            if plan.batch is not None:
                info_once(("sim-pad", self.spec.model, plan.batch), "sim: batch %d is not a gear: padded to %d as "
                          "on the device", plan.batch, plan.padded_to)
            return plan
        shapes = ", ".join("'{}' {}".format(n, list(a.shape)) for n, a in feeds.items())
        gears = self.gears.describe()
        option = next(a for a in self.atc_argv if a.startswith("--dynamic_"))
        raise UserError("{} is not a compiled gear ({}): the .om was built with {} and takes {} only; the device "
                        "refuses it ({} returns {})".format(format_gear(key), shapes, option, gears,
                                                            _GEAR_CALLS[self.gears.mode], GEAR_REFUSED),
                        hint="{}, or add the gear to the spec's dynamic.gears and convert again".format(
                            self.gears.refusal_hint(key, self.pad_batch)))

    def _model_feed(self, item: DeviceInput, value: np.ndarray) -> np.ndarray:
        if item.aipp is not None:
            from ..ascend import aipp

            model_hw = _model_hw(item, value)
            return aipp.emulate(item.aipp, value, "float16", model_hw, _model_channels(item)).astype(item.model_dtype)
        return value.astype(item.model_dtype, copy=False)

    def run(self, feeds: Dict[str, np.ndarray], output_names: Optional[Sequence[str]] = None) -> List[np.ndarray]:
        plan = self._plan(feeds)
        feeds = {n: plan.pad(a) for n, a in feeds.items()}
        model_feeds = {d.info.name: self._model_feed(d, feeds[d.info.name]) for d in self._device_inputs}
        names = [o.name for o in self.outputs] if output_names is None else list(output_names)
        results = self._session.run(names, model_feeds)
        wanted = {o.name: o.dtype for o in self.outputs}
        return [slice_batch(_cast_output(r, wanted[n]), plan) for n, r in zip(names, results)]

    def describe(self) -> Dict[str, object]:
        return {"soc_version": self.spec.target.soc_version, "atc_argv": self.atc_argv, **self.precision.to_dict(),
                "gears": None if self.spec.dynamic is None else {
                    "mode": self.spec.dynamic.mode, "gears": [list(g) for g in self.spec.dynamic.gear_tuples()]},
                "aipp_inputs": [d.info.name for d in self._device_inputs if d.aipp is not None],
                "memory": self.memory}

    def close(self) -> None:
        self._session = None


def _model_hw(item: DeviceInput, value: np.ndarray) -> Tuple[int, int]:
    """The network's H, W for this feed (a gear's, when AIPP's source size is 0 = the model input's)."""
    h_axis, w_axis = hw_axes(item.model_layout, item.model_shape) or (2, 3)
    dims = [item.model_shape[h_axis], item.model_shape[w_axis]]
    if all(isinstance(d, int) for d in dims):
        return int(dims[0]), int(dims[1])
    return int(value.shape[1]), int(value.shape[2])


def _model_channels(item: DeviceInput) -> Optional[int]:
    """The network's channel count for this input (None when dynamic): a gray model reads AIPP's channel 0."""
    c = item.model_shape[3 if item.model_layout == "NHWC" else 1] if len(item.model_shape) == 4 else None
    return c if isinstance(c, int) and c > 0 else None


def _cast_output(array: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """--output_type: the NetOutput cast (integers saturate to their range, then truncate like Cast)."""
    if array.dtype == dtype:
        return array
    if dtype.kind in "iu":
        limits = np.iinfo(dtype)
        array = np.clip(array, limits.min, limits.max)
    return array.astype(dtype)
