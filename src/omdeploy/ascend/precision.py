"""What ATC's precision modes do to a graph, as the simulator applies it (ATC knowledge, not runtime code).

- which ops each --precision_mode puts in float16 on a 310-class chip (PRECISION_POLICIES, CUBE_OPS,
  MIX_PRECISION_FP32_OPS), which it keeps in float32 (FP32_ONLY_OPS) and which float inputs stay exact
  (EXACT_INPUTS); each row has a test in tests/runtime/test_sim.py;
- the chip's float16 overflow mode (saturation or inf/NaN, from the chip table);
- `--keep_dtype` entries, and `apply_precision`: the graph with every float tensor an fp16 op reads or writes
  rounded to float16.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from .. import chips
from .._optional import require
from ..errors import UserError, one_of
from ..log import info_once, logger
from ..onnx.graph import ai_onnx_opset, all_graphs, float_tensors, subgraphs
from ..spec import DeploySpec

# What each --precision_mode puts in float16 on a 310-class chip:
#   all   every op (ATC's default force_fp16)
#   mixed every op but MIX_PRECISION_FP32_OPS (the precision-sensitive ops ATC's mixed lists keep in fp32)
#   cube  only the Cube-unit ops (CUBE_OPS), which have no fp32 kernel on 310-class chips
#   none  nothing (the source dtypes are kept)
# The second value says whether the float16 ops also write float16 (False: fp16 in, fp32 out).
PRECISION_POLICIES: Dict[str, Tuple[str, bool]] = {
    "force_fp16": ("all", True),
    "allow_mix_precision": ("mixed", True),
    "allow_mix_precision_fp16": ("mixed", True),
    "allow_fp32_to_fp16": ("cube", True),
    "force_fp32": ("cube", False),
    "cube_fp16in_fp32out": ("cube", False),
    "must_keep_origin_dtype": ("none", False),
}
CUBE_OPS = ("Conv", "ConvTranspose", "MatMul", "Gemm")
# ops whose float values are coordinates, indices or counts; the device runs them in float32 (AI CPU)
FP32_ONLY_OPS = ("NonMaxSuppression", "TopK", "RoiAlign", "Range", "CumSum", "RandomUniformLike",
                 "RandomNormalLike")
# float inputs that are shapes, coordinates or counts, not activations: the device keeps them exact (a Resize
# scale of 0.8 rounded to fp16 is 0.7998 and turns 5 px into 3, not 4); (op type -> input indices)
EXACT_INPUTS: Dict[str, Tuple[int, ...]] = {"Resize": (1, 2), "Upsample": (1,), "OneHot": (1,), "Dropout": (1,)}
MIX_PRECISION_FP32_OPS = ("Exp", "Log", "Pow", "Sqrt", "Reciprocal", "Softmax", "LogSoftmax", "ReduceSum",
                          "ReduceMean", "ReduceL2", "ReduceSumSquare", "LayerNormalization", "Erf")

_FP16_MAX = 65504.0

# How each chip's float16 arithmetic treats overflow (Huawei CANN `aclrtFloatOverflowMode` /
# `aclrtSetDeviceSatMode`, https://www.hiascend.com/document/detail/en/canncommercial/850/API/appdevgapi/
# aclcppdevg_03_0049.html): in saturation mode an inf result becomes +-65504 (the fp16 extremum) and NaN becomes
# 0; Atlas inference products (310P), Atlas 200I/500 A2 (310B) and Atlas training products (910) support
# saturation only; Atlas A2/A3 (910B, 910_93) default to IEEE inf/NaN and can be switched to saturation.
# (soc prefix, default mode, modes the chip supports); first matching prefix wins; unknown socs: saturation.
# A chip fact: the chip table (data/chips.json).
OVERFLOW_MODES: Tuple[Tuple[str, str, Tuple[str, ...]], ...] = chips.overflow_modes()


def overflow_mode(soc: str, requested: Optional[str] = None) -> str:
    """The float overflow mode the simulator applies for `soc`: its default, or `requested` when it supports it."""
    default, supported = next(((d, m) for prefix, d, m in OVERFLOW_MODES if soc.startswith(prefix)),
                              ("saturation", ("saturation",)))
    if requested is None:
        return default
    if requested not in supported:
        raise UserError("overflow mode {!r} is not available on {}: it runs {}".format(
            requested, soc, one_of(list(supported))),
            hint="Atlas inference chips (310P/310B) saturate only; inf_nan exists on Atlas A2/A3 (910B/910_93)")
    return requested


@dataclass
class PrecisionPlan:
    mode: str
    ops: str                   # which ops run in float16 (PRECISION_POLICIES)
    fp16_nodes: int
    kept_fp32: Dict[str, int]  # op type -> nodes kept float32 although the mode puts the rest in float16
    overflow: str = "saturation"  # OVERFLOW_MODES
    clamped_constants: List[str] = field(default_factory=list)  # constants beyond +-65504, clamped as ATC does

    def to_dict(self) -> Dict[str, object]:
        return {"precision_mode": self.mode, "fp16_ops": self.ops, "fp16_nodes": self.fp16_nodes,
                "kept_fp32": dict(self.kept_fp32), "overflow_mode": self.overflow,
                "clamped_constants": list(self.clamped_constants)}


def _runs_fp16(op_type: str, ops: str) -> bool:
    if ops == "cube":
        return op_type in CUBE_OPS
    if ops == "none" or op_type in FP32_ONLY_OPS:
        return False
    return ops == "all" or op_type not in MIX_PRECISION_FP32_OPS


def _to_integer(node: Any) -> bool:
    onnx = require("onnx", "the NPU simulator")
    to = next((a for a in node.attribute if a.name == "to"), None)
    if to is None or to.type != onnx.AttributeProto.INT:
        return False
    return np.dtype(onnx.helper.tensor_dtype_to_np_dtype(to.i)).kind in "iub"


def round_fp16(array: np.ndarray) -> np.ndarray:
    """float32 values as float16 stores them (saturating at 65504, as ATC converts weights)."""
    return np.clip(array, -_FP16_MAX, _FP16_MAX).astype(np.float16).astype(np.float32)


# atc.options that change which ops run in float16 op by op (files read by ATC) that the simulator cannot follow;
# keep_dtype it follows (keep_dtype_entries)
UNSIMULATED_PRECISION_OPTIONS = ("modify_mixlist", "customize_dtypes")
KEEP_TYPE_PREFIX = "OpType::"


@dataclass(frozen=True)
class KeepDtype:
    """ATC --keep_dtype: ops that keep the source model's precision (one per line, an op name of the source model,
    or OpType::TYPE; no effect under must_keep_origin_dtype). CANN ATC reference, --keep_dtype:
    https://www.hiascend.com/document/detail/zh/CANNCommunityEdition/910/devaids/atctool/atlasatcparam_16_0074.html
    The simulator matches OpType:: against the ONNX op type (ATC against the Ascend IR type: the same name for
    most ops)."""
    names: Tuple[str, ...] = ()
    types: Tuple[str, ...] = ()

    def keeps(self, node: Any) -> bool:
        return node.name in self.names or node.op_type in self.types

    @classmethod
    def parse(cls, text: str) -> "KeepDtype":
        lines = [line.strip() for line in text.splitlines()]
        lines = [line for line in lines if line and not line.startswith("#")]
        return cls(tuple(l for l in lines if not l.startswith(KEEP_TYPE_PREFIX)),
                   tuple(l[len(KEEP_TYPE_PREFIX):] for l in lines if l.startswith(KEEP_TYPE_PREFIX)))

    def to_text(self) -> str:
        return "".join(line + "\n" for line in list(self.names) + [KEEP_TYPE_PREFIX + t for t in self.types])


def keep_dtype_entries(spec: DeploySpec) -> KeepDtype:
    """The spec's atc.options.keep_dtype file (relative to the spec), parsed; empty without one."""
    value = spec.atc.options.get("keep_dtype")
    if not value:
        return KeepDtype()
    from pathlib import Path

    path = Path(spec.base_dir) / str(value)
    try:
        return KeepDtype.parse(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UserError("atc.options.keep_dtype: {} cannot be read ({})".format(path, exc.strerror or exc),
                        hint="write one op name (or OpType::TYPE) per line; `omdeploy precision` writes one") from None


def refuse_unsimulated_precision(spec: DeploySpec) -> None:
    """A spec whose atc.options tune precision per op is refused: the simulated numbers would not be the .om's."""
    given = [k for k in UNSIMULATED_PRECISION_OPTIONS if k in spec.atc.options]
    if given:
        raise UserError("atc.options sets {}: the simulator cannot reproduce per-op precision files, so it would not "
                        "simulate this .om".format(", ".join("--" + k for k in given)),
                        hint="simulate without them (a copy of the spec), or compare the built .om on the box")


def saturate_nodes(source: str, target: str, opset: int, graph: Any) -> List[Any]:
    """Nodes writing `source` saturated to `target`: +-inf (and any value past +-65504) become +-65504, NaN
    becomes 0 (the saturation mode of OVERFLOW_MODES). IsNaN/Where need opset 9: older graphs only clip."""
    onnx = require("onnx", "the NPU simulator")
    helper = onnx.helper
    clipped = target + "/sim_clip" if opset >= 9 else target
    if opset >= 11:
        bounds = [target + "/sim_lo", target + "/sim_hi"]
        graph.initializer.extend([helper.make_tensor(bounds[0], onnx.TensorProto.FLOAT, [], [-_FP16_MAX]),
                                  helper.make_tensor(bounds[1], onnx.TensorProto.FLOAT, [], [_FP16_MAX])])
        nodes = [helper.make_node("Clip", [source] + bounds, [clipped], name=clipped)]
    else:
        nodes = [helper.make_node("Clip", [source], [clipped], name=clipped, min=-_FP16_MAX, max=_FP16_MAX)]
    if opset >= 9:
        zero = target + "/sim_zero"
        graph.initializer.append(helper.make_tensor(zero, onnx.TensorProto.FLOAT, [], [0.0]))
        nodes += [helper.make_node("IsNaN", [source], [target + "/sim_isnan"], name=target + "/sim_isnan"),
                  helper.make_node("Where", [target + "/sim_isnan", zero, clipped], [target], name=target + "/sim_nan0")]
    return nodes


def apply_precision(model: Any, mode: str, overflow: str = "saturation",
                    keep: Optional[KeepDtype] = None) -> Tuple[Any, PrecisionPlan]:
    """The graph as `mode` evaluates it: every float tensor a float16 op reads or writes is rounded to float16
    (Cast to float16 and back); the ops compute in float32 in between, which is the Cube's fp16-in,
    fp32-accumulate. Rounding is explicit because onnxruntime's CPU runs most float16 nodes by casting them
    to float32 and then drops the casts between neighbours, which would hide fp16 overflow and rounding."""
    policy = PRECISION_POLICIES.get(mode)
    if policy is None:
        raise UserError("precision_mode {}: the simulator emulates {}, not bfloat16 modes".format(
            mode, one_of(sorted(PRECISION_POLICIES))),
            hint="bf16 modes exist only on Atlas A2/A3 chips; simulate with force_fp16 or allow_mix_precision")
    ops, round_outputs = policy
    onnx = require("onnx", "the NPU simulator")
    from onnx import numpy_helper

    floats = set(float_tensors(model))
    graph = model.graph
    initializers = {t.name: t for t in graph.initializer}
    rounded: Dict[str, str] = {}  # tensor -> its float16-rounded twin
    nodes: List[Any] = []
    kept: Dict[str, int] = {}
    fp16_nodes = 0
    clamped: List[str] = []
    opset = ai_onnx_opset(model)

    def cast_pair(source: str, target: str) -> List[Any]:
        half = target + "/sim_fp16"
        pre: List[Any] = []
        if overflow == "saturation":
            pre = saturate_nodes(source, target + "/sim_sat", opset, graph)
            source = target + "/sim_sat"
        return pre + [
            onnx.helper.make_node("Cast", [source], [half], name=half, to=onnx.TensorProto.FLOAT16),
            onnx.helper.make_node("Cast", [half], [target], name=target + "/sim_fp32", to=onnx.TensorProto.FLOAT)]

    keep = keep or KeepDtype()
    missing = [n for n in keep.names if n not in {node.name for g in all_graphs(graph) for node in g.node}]
    if missing:
        logger.warning("sim: keep_dtype names %s, not an op of the graph (ATC matches op names of the source "
                       "model)", ", ".join(missing[:5]))

    def round_nodes(g: Any, rounded: Dict[str, str], initializers: Dict[str, Any], tag: str = "") -> List[Any]:
        """g's nodes with their float inputs and outputs rounded; bodies of If/Loop/Scan the same way, seeing
        the outer scope's rounded twins (outer values are visible in a body) but keeping their own."""
        nonlocal fp16_nodes
        nodes: List[Any] = []
        own = {t.name for t in g.initializer}
        for node in list(g.node):
            for k, body in enumerate(subgraphs(node)):
                inner = dict(initializers, **{t.name: t for t in body.initializer})
                # a body's twins are named apart: the outer graph may round the same tensor later
                body_nodes = round_nodes(body, dict(rounded), inner, "{}/{}{}".format(tag, node.name, k))
                del body.node[:]
                body.node.extend(body_nodes)
            kept_by_file = ops != "none" and keep.keeps(node)
            if kept_by_file or not _runs_fp16(node.op_type, ops):
                if ops != "none" and (kept_by_file or node.op_type in FP32_ONLY_OPS or ops == "mixed"):
                    kept[node.op_type] = kept.get(node.op_type, 0) + 1
                nodes.append(node)
                continue
            fp16_nodes += 1
            exact = EXACT_INPUTS.get(node.op_type, ())
            for i, name in enumerate(node.input):
                if name not in floats or name in rounded.values() or i in exact:
                    continue
                if node.op_type == "Cast" and _to_integer(node):
                    continue  # a float -> int Cast converts the value it gets (fp16 if its producer ran in fp16)
                if name not in rounded:
                    rounded[name] = name + "/sim_rounded" + tag
                    if name in initializers:
                        values = numpy_helper.to_array(initializers[name])
                        if np.any(np.abs(values[np.isfinite(values)]) > _FP16_MAX):
                            clamped.append(name)
                        twin = numpy_helper.from_array(round_fp16(values), rounded[name])
                        (g if name in own else graph).initializer.append(twin)
                    else:
                        nodes.extend(cast_pair(name, rounded[name]))
                node.input[i] = rounded[name]
            nodes.append(node)
            if round_outputs:
                for i, name in enumerate(node.output):
                    if name in floats:
                        node.output[i] = name + "/sim_exact"
                        nodes.extend(cast_pair(node.output[i], name))
                        rounded[name] = name  # already rounded: later readers use it as is
        return nodes

    nodes = round_nodes(graph, rounded, initializers)
    del graph.node[:]
    graph.node.extend(nodes)
    read = {name for g in all_graphs(graph) for node in g.node for name in node.input} | {
        o.name for o in graph.output}
    unread = [t for t in graph.initializer if t.name not in read]  # a constant folded into an output stays
    for tensor in unread:
        graph.initializer.remove(tensor)
    dropped = {t.name for t in unread}  # and their graph-input entries (IR < 4), or they become inputs to feed
    for value in [v for v in graph.input if v.name in dropped]:
        graph.input.remove(value)
    if kept:
        info_once(("sim-kept", tuple(sorted(kept))), "sim: kept in float32 (the device runs them in fp32): %s",
                  ", ".join("{} x{}".format(k, v) for k, v in sorted(kept.items())))
    if clamped:
        logger.warning("sim: constant%s %s exceed%s the float16 range and %s clamped to +-65504 as ATC stores "
                       "them", "s" if len(clamped) > 1 else "", ", ".join(clamped), "" if len(clamped) > 1 else "s",
                       "are" if len(clamped) > 1 else "is")
    return model, PrecisionPlan(mode, ops, fp16_nodes, kept, overflow, clamped)
