"""Which nodes must stay fp32 for compare to pass: a greedy search from the layer where the float16 error first
jumps, verified at the end, written as the ATC --keep_dtype file (and a spec that uses it).

The anchors are Polygraphy's `debug precision` (bisect which layers to run in higher precision) and rknn's hybrid
quantisation; this one emits what ATC consumes. Each step simulates the spec with the nodes kept so far
(the simulator honours keep_dtype as ATC does), compares every intermediate tensor with fp32 (compare --layers)
and keeps the producer of the first tensor whose error jumps; when compare passes, kept nodes that are not
needed are dropped again (last kept first) and the result is compared once more.

    result = find_keep_set(Path("deploy.yaml"), inputs=[Path("photos/")])
    result.kept, result.passed
"""
from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from ..errors import UserError
from ..fileio import atomic_open
from ..spec import DeploySpec

MAX_STEPS = 32


@dataclass
class PrecisionResult:
    spec: str
    precision_mode: str
    kept: List[str]                          # node names, in graph order
    op_types: Dict[str, int]                 # op type -> kept nodes
    fp16_nodes: int                          # nodes the mode runs in fp16 without the keep file
    passed: bool
    steps: List[Dict[str, Any]] = field(default_factory=list)  # each search step: the node kept and why
    report: Optional[Dict[str, Any]] = None  # the final compare report
    keep_file: Optional[str] = None
    saved_spec: Optional[str] = None

    def to_dict(self) -> Dict[str, Any]:
        return {"spec": self.spec, "precision_mode": self.precision_mode, "passed": self.passed,
                "kept": list(self.kept), "cost": {"nodes": len(self.kept), "op_types": dict(self.op_types),
                                                  "fp16_nodes": self.fp16_nodes},
                "steps": list(self.steps), "keep_file": self.keep_file, "saved_spec": self.saved_spec,
                "compare": self.report}


def relocated(spec: DeploySpec, new_dir: Path, keep_file: Optional[Path], relative: bool = True) -> Dict[str, Any]:
    """The spec as a document saved in `new_dir`: its file paths (model, weight, labels file, AIPP config)
    rewritten to resolve from there, and atc.options.keep_dtype set to `keep_file` (or dropped)."""
    import os

    def moved(value: str) -> str:
        target = (Path(spec.base_dir) / value).resolve()
        return os.path.relpath(str(target), str(new_dir.resolve())) if relative else str(target)

    data = spec.to_dict()
    for key in ("model", "weight"):
        if data.get(key):
            data[key] = moved(data[key])
    if isinstance(data.get("labels"), str):
        data["labels"] = moved(data["labels"])
    atc = dict(data.get("atc") or {})
    if atc.get("insert_op_conf"):
        atc["insert_op_conf"] = moved(atc["insert_op_conf"])
    options = {k: v for k, v in (atc.get("options") or {}).items() if k != "keep_dtype"}
    if keep_file is not None:
        options["keep_dtype"] = (os.path.relpath(str(keep_file.resolve()), str(new_dir.resolve())) if relative
                                 else str(keep_file.resolve()))
    atc["options"] = options
    data["atc"] = atc
    return data


def _write_keep(path: Path, names: Sequence[str]) -> Path:
    from ..ascend.precision import KeepDtype

    with atomic_open(path, "w") as handle:
        handle.write(KeepDtype(tuple(names)).to_text())
    return path


def find_keep_set(spec_path: Path, inputs: Sequence[Path] = (), random: int = 0, seed: int = 0,
                  shapes: Optional[Dict[str, List[int]]] = None,
                  ranges: Optional[Dict[str, Tuple[float, float]]] = None, thresholds: Sequence[Any] = (),
                  task: Optional[str] = None, layer_cosine: float = 0.999,
                  progress: Optional[Callable[[str], None]] = None) -> PrecisionResult:
    """The smallest set the greedy search finds of nodes to keep in fp32 so that compare (the spec's thresholds,
    task-aware) passes between the spec on onnxruntime and the spec simulated."""
    from ..ascend.precision import PRECISION_POLICIES, apply_precision
    from ..onnx.graph import fuse_graph
    from .compare import compare_layers, compare_sides, make_samples, open_side, feed_infos

    say = progress or (lambda text: None)
    spec = DeploySpec.load(spec_path)
    if PRECISION_POLICIES.get(spec.precision_mode, ("none",))[0] == "none":
        raise UserError("precision_mode {}: nothing runs in fp16, so there is nothing to keep in fp32".format(
            spec.precision_mode), hint="keep_dtype has no effect under must_keep_origin_dtype (CANN ATC reference)")
    if "keep_dtype" in spec.atc.options:
        raise UserError("{} already sets atc.options.keep_dtype: the search starts from the spec without it".format(
            spec_path), hint="remove atc.options.keep_dtype from a copy of the spec and search again")
    fused = fuse_graph(str(spec.model_path))
    order = [n.name for n in fused.graph.node]
    _, plan = apply_precision(fuse_graph(str(spec.model_path)), spec.precision_mode)
    with open_side(str(spec_path)) as ref, open_side(str(spec_path) + "@sim") as target:
        samples = make_samples(inputs, feed_infos(ref, target), spec, random, seed, shapes or {}, ranges or {})
    layer_sample = samples[0][1]
    kept: List[str] = []
    steps: List[Dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="omdeploy-precision-") as tmp:
        def run(names: Sequence[str]) -> Tuple[bool, Any, DeploySpec]:
            keep_file = _write_keep(Path(tmp) / "keep.cfg", names) if names else None
            spec_file = DeploySpec.from_dict(relocated(spec, Path(tmp), keep_file, relative=False),
                                             source="precision search").save(Path(tmp) / "candidate.yaml")
            report = compare_sides(str(spec_path), str(spec_file) + "@sim", inputs, random=random, seed=seed,
                                   shapes=shapes, ranges=ranges, thresholds=thresholds, task=task)
            return report.passed, report, DeploySpec.load(spec_file)

        passed, report, candidate = run(kept)
        while not passed and len(steps) < MAX_STEPS:
            layers = compare_layers(spec.model_path, spec, candidate, layer_sample, layer_cosine)
            jump = next((r for r in layers["rows"] if r["node"] not in kept and _jumps(r, layer_cosine)), None)
            if jump is None:
                break
            kept.append(jump["node"])
            steps.append({"kept": jump["node"], "op_type": jump["op_type"], "tensor": jump["tensor"],
                          "cosine": jump["cosine"], "max_rel": jump["max_rel"], "nonfinite": jump["nonfinite"]})
            say("keep {} ({})".format(jump["node"], jump["op_type"]))
            passed, report, candidate = run(kept)
        if passed and kept:
            for name in list(reversed(kept)):  # drop what the later choices made unnecessary
                trial = [n for n in kept if n != name]
                ok, trial_report, trial_spec = run(trial)
                if ok:
                    kept, report, candidate = trial, trial_report, trial_spec
                    say("not needed: {}".format(name))
    kept = sorted(kept, key=order.index)
    types: Dict[str, int] = {}
    for node in fused.graph.node:
        if node.name in kept:
            types[node.op_type] = types.get(node.op_type, 0) + 1
    return PrecisionResult(str(spec_path), spec.precision_mode, kept, types, plan.fp16_nodes, passed, steps,
                           report.to_dict())


# a layer's relative Euclidean distance past this is an error jump even at cosine 1 (a rescale); fp16 noise on
# a layer stays near 1e-3
LAYER_RED_MAX = 0.01


def _jumps(row: Dict[str, Any], cosine_min: float) -> bool:
    """compare --layers' criterion (inf/NaN, a cosine below the bar, one value off by more than 1e-3), and a
    relative Euclidean distance past LAYER_RED_MAX, which a cosine cannot see."""
    if row["nonfinite"] or (row.get("RelativeEuclideanDistance") or 0.0) > LAYER_RED_MAX:
        return True
    if row["cosine"] is None:
        return row["max_rel"] > 1e-3
    return row["cosine"] < cosine_min


def write_outputs(result: PrecisionResult, keep_path: Path, spec_out: Optional[Path]) -> PrecisionResult:
    """The ATC --keep_dtype file and, optionally, a copy of the spec whose atc.options.keep_dtype names it
    (relative to the new spec when it can be)."""
    _write_keep(keep_path, result.kept)
    result.keep_file = str(keep_path)
    if spec_out is not None:
        spec = DeploySpec.load(Path(result.spec))
        spec_dir = spec_out.resolve().parent
        DeploySpec.from_dict(relocated(spec, spec_dir, keep_path), source=str(spec_out)).save(spec_out)
        result.saved_spec = str(spec_out)
    return result
