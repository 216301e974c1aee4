"""`omdeploy selftest`: on a machine with CANN, turn the box into evidence.

Tiny ONNX models are made here with onnx.helper (static, batch gears, image-size gears, an AIPP input, an
fp16-overflowing reduction), built with the local atc, run through pyACL (and MindX when installed) and compared
with onnxruntime (fp32) and with the simulator; then every question the docs leave open for hardware
(QUESTIONS, listed in docs/bundle.md from this table) is answered with a measurement. The JSON report is what a
user attaches to an issue. Without CANN it says what is missing, from the doctor, and fails.
"""
from __future__ import annotations

import importlib
import platform
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np

from ..chips import DEFAULT_CANN
from ..bundle.report import Check, CheckReport

# the one list of what the docs leave open for hardware: docs/bundle.md ("Open for hardware") shows it, and a
# test keeps the two equal
QUESTIONS: Tuple[Tuple[str, str], ...] = (
    ("dynamic_dims", "What do get_input_dims and get_output_dims report for a model with batch gears (-1 for the "
                     "dynamic dim? the largest gear?)"),
    ("gear_api", "Do get_input_dynamic_gear_count and get_input_dynamic_dims exist under those names in pyACL?"),
    ("init_after_finalize", "Does acl.init() work again after acl.finalize() in one process?"),
    ("two_models", "Do two models load and run side by side in one process?"),
    ("overflow_mode", "Which overflow mode does the chip apply to an fp16-overflowing reduction (saturation to "
                      "65504 or IEEE inf), and is it the simulator's?"),
    ("bandwidth", "What are the host-to-device and device-to-host copy bandwidths (MB/s, 602 KB each way)?"),
    ("aipp_rounding", "How far is the AIPP hardware's output from the emulator's on the same uint8 image?"),
    ("sim_vs_device", "How close are the device's outputs to the simulator's on every tiny model?"),
    ("mindx", "Does MindX give the same outputs as pyACL on the same .om?"),
)

SEED = 20240607
REPORT_HINT = "attach the JSON report (selftest --report selftest.json) to an issue"


@dataclass
class Tiny:
    name: str
    onnx: Path
    spec: Dict[str, Any]
    feed: Dict[str, np.ndarray]        # what the device and the simulator are given
    overflow: bool = False


def _conv_graph(name: str, shape: List[Any], out: Path) -> Path:
    """x -> Conv 3x3 (3->4) -> Relu -> GlobalAveragePool -> Flatten -> y, seeded weights."""
    from onnx import TensorProto, helper, numpy_helper, save

    rng = np.random.default_rng(SEED)
    weight = numpy_helper.from_array(rng.normal(0, 0.5, (4, 3, 3, 3)).astype(np.float32), "w")
    bias = numpy_helper.from_array(rng.normal(0, 0.1, (4,)).astype(np.float32), "b")
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["r"]), helper.make_node("GlobalAveragePool", ["r"], ["g"]),
             helper.make_node("Flatten", ["g"], ["y"])]
    dims = [d if isinstance(d, int) and d > 0 else "d{}".format(i) for i, d in enumerate(shape)]
    graph = helper.make_graph(nodes, name, [helper.make_tensor_value_info("x", TensorProto.FLOAT, dims)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [dims[0], 4])], [weight, bias])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 7
    save(model, str(out))
    return out


def _reduction(out: Path) -> Path:
    from onnx import TensorProto, helper, numpy_helper, save

    axes = numpy_helper.from_array(np.array([1], np.int64), "axes")
    graph = helper.make_graph([helper.make_node("ReduceSum", ["x", "axes"], ["y"], keepdims=0)], "overflow",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1024])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])], [axes])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 7
    save(model, str(out))
    return out


def _copy_graph(out: Path) -> Path:
    """x -> Relu -> y at 1x3x224x224: as many bytes out as in, for the copy bandwidths."""
    from onnx import TensorProto, helper, save

    shape = [1, 3, 224, 224]
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "copy",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, shape)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 7
    save(model, str(out))
    return out


def tiny_models(folder: Path, soc: str, cann: str) -> List[Tiny]:
    rng = np.random.default_rng(SEED)
    target = {"soc_version": soc, "cann": cann}

    def spec(name: str, model: Path, shape: List[int], **extra: Any) -> Dict[str, Any]:
        return dict({"name": name, "model": model.name, "target": target, "outputs": [{"name": "y"}],
                     "inputs": [{"name": "x", "shape": shape, "layout": "NCHW" if len(shape) == 4 else "ND"}]},
                    **extra)

    models = [
        Tiny("static", _conv_graph("static", [1, 3, 224, 224], folder / "static.onnx"),
             spec("static", folder / "static.onnx", [1, 3, 224, 224]),
             {"x": rng.uniform(-1, 1, (1, 3, 224, 224)).astype(np.float32)}),
        Tiny("batch_gears", _conv_graph("batch_gears", [-1, 3, 16, 16], folder / "batch_gears.onnx"),
             spec("batch_gears", folder / "batch_gears.onnx", [-1, 3, 16, 16],
                  dynamic={"mode": "batch", "gears": [1, 2, 4]}),
             {"x": rng.uniform(-1, 1, (2, 3, 16, 16)).astype(np.float32)}),
        Tiny("image_size_gears", _conv_graph("image_size_gears", [1, 3, -1, -1], folder / "image_size_gears.onnx"),
             spec("image_size_gears", folder / "image_size_gears.onnx", [1, 3, -1, -1],
                  dynamic={"mode": "image_size", "gears": [[16, 16], [32, 32]]}),
             {"x": rng.uniform(-1, 1, (1, 3, 32, 32)).astype(np.float32)}),
        Tiny("aipp", _conv_graph("aipp", [1, 3, 32, 32], folder / "aipp.onnx"),
             spec("aipp", folder / "aipp.onnx", [1, 3, 32, 32],
                  preprocess={"where": "aipp", "color": "rgb", "mean": [123.675, 116.28, 103.53],
                              "std": [58.395, 57.12, 57.375]}),
             {"x": rng.integers(0, 256, (32, 32, 3), endpoint=False).astype(np.uint8)}),
        Tiny("overflow", _reduction(folder / "overflow.onnx"), spec("overflow", folder / "overflow.onnx", [1, 1024]),
             {"x": np.full((1, 1024), 100.0, np.float32)}, overflow=True),  # sum 102400 > fp16's 65504
        Tiny("copy", _copy_graph(folder / "copy.onnx"), spec("copy", folder / "copy.onnx", [1, 3, 224, 224]),
             {"x": rng.uniform(-1, 1, (1, 3, 224, 224)).astype(np.float32)}),
    ]
    return models


def _missing(doctor_report: Any, soc: Optional[str]) -> List[Check]:
    from ..ascend.convert import find_atc

    checks = []
    if find_atc() is None:
        checks.append(Check("missing.atc", "fail", "no atc (the CANN toolkit) on this machine",
                            "install the CANN toolkit and source its set_env.sh (omdeploy doctor shows what is found)"))
    try:
        from ..runtime.acl import import_acl

        import_acl()
    except Exception as exc:  # a UserError naming set_env.sh, or a broken native library
        checks.append(Check("missing.pyacl", "fail", "pyACL cannot be imported: {}".format(exc),
                            getattr(exc, "hint", None) or "source set_env.sh of the CANN nnrt or toolkit"))
    if not soc:
        checks.append(Check("missing.npu", "fail", "no NPU found by npu-smi, and no --soc given",
                            "check the driver with npu-smi info, or give --soc"))
    if checks:  # what the doctor finds wrong explains what is missing
        for finding in doctor_report.errors:
            checks.append(Check("doctor." + finding.rule, "fail", finding.message, finding.fix or ""))
    return checks


def _metrics(ref: np.ndarray, got: np.ndarray) -> Dict[str, Any]:
    from .compare import json_safe, output_metrics

    m = output_metrics([ref], [got.astype(ref.dtype).reshape(ref.shape)], classifier=False)
    return json_safe({"cosine": m["cosine"], "max_abs": m["max_abs"]})


class _Run:
    """Each tiny model built, run on every side; what the questions need is kept."""

    def __init__(self, soc: str, folder: Path, say: Callable[[str], None]):
        self.soc, self.folder, self.say = soc, folder, say
        self.outputs: Dict[str, Dict[str, Any]] = {}
        self.oms: Dict[str, Path] = {}
        self.specs: Dict[str, Any] = {}

    def build(self, tiny: Tiny) -> Check:
        from ..ascend.convert import convert
        from ..spec import DeploySpec

        spec = DeploySpec.from_dict(tiny.spec, source="selftest " + tiny.name, base_dir=str(self.folder))
        self.specs[tiny.name] = spec
        result = convert(spec, out_dir=self.folder / "build")
        if result.status != "built":
            return Check("build." + tiny.name, "fail", "atc: {}".format(
                "; ".join(result.error_lines[:2]) or result.status), "omdeploy explain {}".format(result.log))
        self.oms[tiny.name] = result.om
        return Check("build." + tiny.name, "pass", "atc built {}".format(result.om.name))

    def run(self, tiny: Tiny, mindx: bool) -> Check:
        from ..runtime.session import Session

        spec = self.specs[tiny.name]
        with Session(spec, backend="onnxruntime") as ort:
            fp32 = ort.run(tiny.feed)["y"]
        with Session(spec, backend="sim") as sim:
            simulated = sim.run(tiny.feed)["y"]
            overflow_mode = sim.describe().get("overflow_mode")
        with Session(self.oms[tiny.name], backend="acl") as device:
            got = device.run(tiny.feed)["y"]
        row: Dict[str, Any] = {"fp32": fp32, "sim": simulated, "acl": got, "sim_overflow_mode": overflow_mode,
                               "acl_vs_fp32": _metrics(fp32, got), "acl_vs_sim": _metrics(simulated, got)}
        if mindx:
            with Session(self.oms[tiny.name], backend="mindx") as other:
                row["mindx"] = next(iter(other.run(tiny.feed).values()))  # MindX names outputs by index
                row["mindx_vs_acl"] = _metrics(got, row["mindx"])
        self.outputs[tiny.name] = row
        if tiny.overflow:
            return Check("run." + tiny.name, "pass", "device sum {} (fp32 {:g}, simulator {:g})".format(
                float(got.ravel()[0]), float(fp32.ravel()[0]), float(simulated.ravel()[0])))
        cosine = row["acl_vs_fp32"]["cosine"]
        ok = isinstance(cosine, float) and cosine >= 0.99
        return Check("run." + tiny.name, "pass" if ok else "fail", "device vs fp32: cosine {}, max_abs {}; vs the "
                     "simulator: cosine {}".format(cosine, row["acl_vs_fp32"]["max_abs"], row["acl_vs_sim"]["cosine"]),
                     "" if ok else "the device computes this op differently: " + REPORT_HINT)


def _answers(run: _Run, acl: Any) -> List[Dict[str, Any]]:
    from ..runtime import acl as acl_backend
    from ..runtime.session import Session
    from .bench import bench

    answers: Dict[str, Any] = {}

    def answer(key: str, how: Callable[[], Any]) -> None:
        try:
            answers[key] = how()
        except Exception as exc:  # the question stays open, with the error as its evidence
            answers[key] = {"error": "{}: {}".format(type(exc).__name__, exc)}

    def dims() -> Any:
        with Session(run.oms["batch_gears"], backend="acl") as s:
            backend = s.backend
            assert isinstance(backend, acl_backend.AclBackend)
            return dict(backend.reported_dims(0), session_inputs=[i.to_dict() for i in s.inputs],
                        gears=backend.describe()["gears"])

    def init_again() -> Any:
        acl_backend.shutdown()  # acl.finalize() once every model is closed
        with Session(run.oms["static"], backend="acl") as s:
            s.run({"x": np.zeros((1, 3, 224, 224), np.float32)})
        return {"works": True}

    def two() -> Any:
        with Session(run.oms["static"], backend="acl") as a, Session(run.oms["batch_gears"], backend="acl") as b:
            a.run({"x": np.zeros((1, 3, 224, 224), np.float32)})
            b.run({"x": np.zeros((1, 3, 16, 16), np.float32)})
        return {"works": True}

    def overflow() -> Any:
        row = run.outputs["overflow"]
        value = float(np.asarray(row["acl"]).ravel()[0])
        seen = "inf_nan" if not np.isfinite(value) else ("saturation" if abs(value) == 65504.0 else "none")
        return {"device_value": value, "fp32_value": float(row["fp32"].ravel()[0]), "device_mode": seen,
                "simulator_mode": row["sim_overflow_mode"], "matches_simulator": seen == row["sim_overflow_mode"]}

    def bandwidth() -> Any:
        if "copy" not in run.oms:
            return {"error": "not measured: the copy model did not build"}
        result = bench(run.oms["copy"], backend="acl", iterations=20, warmup=2)
        if not result.ok or not result.stages_ms:
            return {"error": result.error or "the acl backend reported no stage timings"}
        size = 1 * 3 * 224 * 224 * 4  # float32 in, float32 out

        def rate(ms: float) -> Optional[float]:
            return size / 1e6 / (ms / 1000.0) if ms else None

        return {"h2d_mb_s": rate(result.stages_ms["h2d"]), "d2h_mb_s": rate(result.stages_ms["d2h"]),
                "stages_ms": result.stages_ms, "bytes_each_way": size, "runs": result.iterations}

    for key, how in (("dynamic_dims", dims), ("init_after_finalize", init_again), ("two_models", two),
                     ("overflow_mode", overflow), ("bandwidth", bandwidth)):
        if key != "overflow_mode" and "static" not in run.oms:
            answers[key] = {"error": "not measured: the static model did not build"}
            continue
        answer(key, how)
    answers["gear_api"] = {name: hasattr(acl.mdl, name) for name in (
        "get_input_dynamic_gear_count", "get_input_dynamic_dims", "get_dynamic_batch", "get_dynamic_hw")}
    if "aipp" in run.outputs:
        answers["aipp_rounding"] = dict(run.outputs["aipp"]["acl_vs_sim"],
                                        measured_at="the aipp model's output: AIPP, then a 3x3 conv in fp16")
    answers["sim_vs_device"] = {name: row["acl_vs_sim"] for name, row in run.outputs.items()}
    mindx = {name: row["mindx_vs_acl"] for name, row in run.outputs.items() if "mindx_vs_acl" in row}
    answers["mindx"] = mindx or {"error": "not measured: MindX (mindx.sdk) is not installed"}
    return [{"id": key, "question": text, "answer": answers.get(key, {"error": "not measured"})}
            for key, text in QUESTIONS]


def selftest(soc: Optional[str] = None, work: Optional[Path] = None, doctor: Optional[Callable[[], Any]] = None,
             say: Callable[[str], None] = lambda text: None) -> CheckReport:
    from .. import __version__
    from .._optional import available
    from ..ascend.convert import find_atc
    from ..ascend.doctor import run_doctor

    say("doctor: CANN, NPU and pyACL on this machine")
    box = (doctor or run_doctor)()
    soc = soc or box.soc_version
    install = find_atc()
    report = CheckReport("omdeploy selftest", {
        "omdeploy_version": __version__, "host": box.host, "arch": platform.machine(), "soc_version": soc,
        "cann": {c.kind: c.version for c in box.cann.components}, "atc": str(install.atc) if install else None,
        "how_to_send": REPORT_HINT, "questions": []})
    missing = _missing(box, soc)
    if missing:
        for check in missing:
            report.add(check)
        report.facts["questions"] = [{"id": k, "question": q, "answer": {"error": "not measured: CANN is missing"}}
                                     for k, q in QUESTIONS]
        return report
    acl = importlib.import_module("acl")
    with tempfile.TemporaryDirectory(prefix="omdeploy-selftest-") as tmp:
        folder = Path(work) if work is not None else Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        run = _Run(soc, folder, say)  # type: ignore[arg-type]
        cann = (install.version if install else None) or DEFAULT_CANN
        mindx = available("mindx.sdk")
        for tiny in tiny_models(folder, soc, cann):  # type: ignore[arg-type]
            say("{}: atc, then pyACL{} vs onnxruntime vs the simulator".format(tiny.name, ", MindX" if mindx else ""))
            if report.add(run.build(tiny)).status == "pass":
                report.add(_guarded("run." + tiny.name, lambda: run.run(tiny, mindx)))
        say("questions: {}".format(len(QUESTIONS)))
        report.facts["questions"] = _answers(run, acl)
    from ..runtime.acl import shutdown

    shutdown()
    return report


def _guarded(name: str, how: Callable[[], Check]) -> Check:
    try:
        return how()
    except Exception as exc:  # a device error is a measurement: the report carries it, with where it arose
        import traceback

        frame = traceback.extract_tb(exc.__traceback__)[-1]
        return Check(name, "fail", "{}: {} (at {}:{})".format(type(exc).__name__, exc, Path(frame.filename).name,
                                                              frame.lineno), REPORT_HINT)


__all__ = ["selftest", "QUESTIONS", "tiny_models"]
