"""The simulator on ONNX's node conformance cases (the onnx wheel's backend test data, or Debian's
libonnx-testdata): it crashes on none; every case is refused in one line or runs within the fp16 rule below,
checked against a second implementation (onnx.reference, numpy) that applies the same rule node by node.

The fp16 rule (force_fp16 on a saturating 310-class chip), docs/simulate.md:
- a node the device runs in fp16 reads each float input rounded to fp16 and writes each float output rounded to
  fp16, both saturating (+-inf and values past +-65504 become +-65504, NaN becomes 0); it computes in fp32;
- exceptions: ops the device runs in fp32 (FP32_ONLY_OPS), shape/scale inputs (EXACT_INPUTS), the input of a
  float -> int Cast.
Counts of one full sweep are in docs/simulate.md; CI runs every SWEEP_STEP-th case (OMDEPLOY_FULL_SWEEP=1: all).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np
import pytest

pytestmark = [pytest.mark.needs_onnx]

SWEEP_STEP = 4
RTOL, ATOL = 4e-3, 1e-3  # two fp16 ulps (2^-9 relative): fp32 kernels of two libraries may round apart


def node_data() -> Optional[Path]:
    import onnx

    for root in (Path(onnx.__file__).parent / "backend" / "test" / "data" / "node",
                 Path("/usr/share/libonnx-testdata/data/node")):
        if root.is_dir() and any(root.iterdir()):
            return root
    return None


def cases() -> List[str]:
    root = node_data()
    if root is None:
        return []
    names = sorted(p.name for p in root.iterdir() if (p / "model.onnx").exists())
    return names if os.environ.get("OMDEPLOY_FULL_SWEEP") else names[::SWEEP_STEP]


def _load_inputs(case: Path) -> Optional[List[np.ndarray]]:
    import onnx
    from onnx import numpy_helper

    files = sorted((case / "test_data_set_0").glob("input_*.pb"), key=lambda p: int(p.stem.split("_")[1]))
    arrays = []
    for f in files:
        tensor = onnx.TensorProto()
        try:
            tensor.ParseFromString(f.read_bytes())
            arrays.append(numpy_helper.to_array(tensor))
        except Exception:  # a sequence or optional input: not a tensor an .om takes
            return None
    return arrays


def _saturate16(a: np.ndarray) -> np.ndarray:
    a = np.where(np.isnan(a), 0.0, np.clip(a, -65504.0, 65504.0))
    return a.astype(np.float16).astype(np.float32)


def emulate(model, feeds: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
    """The fp16 rule applied node by node, each node evaluated by onnx.reference (a numpy implementation)."""
    from onnx import numpy_helper
    from onnx.reference import ReferenceEvaluator

    from omdeploy.ascend.precision import EXACT_INPUTS, FP32_ONLY_OPS, _to_integer

    values = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    values.update(feeds)
    opsets = {o.domain: o.version for o in model.opset_import}
    for node in model.graph.node:
        fp16 = node.op_type not in FP32_ONLY_OPS
        inputs = []
        for i, name in enumerate(node.input):
            value = values.get(name) if name else None
            if (fp16 and value is not None and value.dtype == np.float32 and i not in EXACT_INPUTS.get(node.op_type, ())
                    and not (node.op_type == "Cast" and _to_integer(node))):
                value = _saturate16(value)
            inputs.append(value)
        evaluator = ReferenceEvaluator(_single_node_model(model, node, opsets))
        feeds_n = {n: v for n, v in zip(node.input, inputs) if n}
        outs = evaluator.run(None, feeds_n)
        for name, out in zip(node.output, outs):
            out = np.asarray(out)
            values[name] = _saturate16(out) if fp16 and out.dtype == np.float32 else out
    return {o.name: values[o.name] for o in model.graph.output}


def _single_node_model(model, node, opsets):
    from onnx import helper

    graph = helper.make_graph([node], "one", [helper.make_tensor_value_info(n, 0, None) for n in node.input if n],
                              [helper.make_tensor_value_info(n, 0, None) for n in node.output if n])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid(d, v) for d, v in opsets.items()],
                             functions=list(model.functions))


# outputs drawn at random (and training-mode Dropout's): only their shape and dtype can agree
RANDOM_OPS = ("Bernoulli", "RandomUniform", "RandomNormal", "RandomUniformLike", "RandomNormalLike", "Multinomial")


def _random(model) -> bool:
    return any(n.op_type in RANDOM_OPS or (n.op_type == "Dropout" and len(n.input) > 2 and n.input[2])
               for n in model.graph.node)


def _agree(got: np.ndarray, want: np.ndarray) -> bool:
    got, want = np.asarray(got), np.asarray(want)
    if got.shape != want.shape:
        return False
    if want.dtype.kind in "OSU" and got.dtype.kind in "OSU":  # Cast to STRING: libraries print floats apart
        try:
            got, want = got.astype(np.float64), want.astype(np.float64)
        except ValueError:
            return bool(np.array_equal(got, want))
    if want.dtype.kind != "f":
        return bool(np.array_equal(got, want))
    g, w = got.astype(np.float64), want.astype(np.float64)
    same = (g == w) | (np.isnan(g) & np.isnan(w))
    return bool(np.all(same | (np.abs(g - w) <= ATOL + RTOL * np.abs(w))))


def _onnxruntime_differs_in_fp32(case: Path, feeds: Dict[str, np.ndarray]) -> bool:
    """Plain onnxruntime (fp32, no simulator) against the case's own expected outputs."""
    import onnx
    import onnxruntime as ort
    from onnx import numpy_helper

    expected = [numpy_helper.to_array(onnx.load_tensor(str(f))) for f in
                sorted((case / "test_data_set_0").glob("output_*.pb"), key=lambda p: int(p.stem.split("_")[1]))]
    plain = ort.InferenceSession(str(case / "model.onnx"), providers=["CPUExecutionProvider"]).run(None, feeds)
    return not all(_agree(g, w) for g, w in zip(plain, expected))


@pytest.mark.skipif(node_data() is None, reason="no ONNX node conformance data (onnx wheel or libonnx-testdata)")
def test_the_simulator_crashes_on_no_node_case_and_each_runs_within_the_fp16_rule_or_is_refused():
    import onnx

    from omdeploy.errors import UserError
    from omdeploy.runtime.session import Session
    from omdeploy.spec import DeploySpec

    root = node_data()
    counts = {"ran": 0, "refused": 0, "not tensors": 0, "not emulated": 0, "random": 0}
    crashes, outside, multiline, differs = [], [], [], []
    for name in cases():
        path = root / name / "model.onnx"
        inputs = _load_inputs(root / name)
        if inputs is None:
            counts["not tensors"] += 1
            continue
        model = onnx.load(str(path))
        initialized = {t.name for t in model.graph.initializer}
        feeds = dict(zip([i.name for i in model.graph.input if i.name not in initialized], inputs))
        spec = DeploySpec.from_dict({"model": str(path)}, source="node case")
        try:
            with Session(path, backend="sim", spec=spec) as s:
                got = s.run(feeds)
        except UserError as exc:
            counts["refused"] += 1
            if "\n" in str(exc):
                multiline.append(name)
            continue
        except Exception as exc:  # a crash: what the sweep exists to find
            crashes.append("{}: {}: {}".format(name, type(exc).__name__, str(exc).splitlines()[:1]))
            continue
        counts["ran"] += 1
        try:
            want = emulate(model, feeds)
        except Exception:  # onnx.reference has no kernel (or no subgraph context) for this node
            counts["not emulated"] += 1
            continue
        if _random(model):
            counts["random"] += 1
            if not all(np.shape(got[n]) == np.shape(want[n]) for n in want):
                outside.append(name)
        elif not all(_agree(got[n], want[n]) for n in want):
            if _onnxruntime_differs_in_fp32(root / name, feeds):
                differs.append(name)  # not the simulator's fp16: onnxruntime itself differs from the case
            else:
                outside.append(name)
    print("node conformance sweep:", counts, "onnxruntime differs in fp32:", differs, "outside the rule:", outside)
    assert not crashes, crashes
    assert not multiline, multiline
    assert counts["ran"] > 0
    assert not outside, outside
