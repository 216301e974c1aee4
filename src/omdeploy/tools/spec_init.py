"""A complete, portable starting DeploySpec for an ONNX model (`omdeploy spec --init`), and spec paths made
relative to the spec file (specs resolve their paths relative to themselves, so the pair travels to the box).

    spec = init_spec("det.onnx", "det.deploy.yaml", soc="Ascend310B4", cann="8.1.RC1")
    save_portable(spec, "det.deploy.yaml")

The task, preprocessing and labels come from what exporters embed in metadata_props: Ultralytics (`task`,
`imgsz`, `names`, `stride`), PaddleOCR (`character`); otherwise from the model's shape (an [N, classes]
output is a classifier, a PaddlePaddle [N, 1, H, W] map is PP-OCR detection). Dynamic dims get gears.
"""
from __future__ import annotations

import ast
import os
from pathlib import Path
from typing import Any, Dict, List, Optional, Union

from ..chips import DEFAULT_CANN, DEFAULT_SOC
from ..errors import UserError
from ..onnx.check import suggest_gears
from ..onnx.inspect import summarize
from ..spec import DeploySpec, guess_layout, save_document
from ..tasks.base import labels_from_metadata
from ..presets import DEFAULT_PRESET, PRESETS, preset_from_metadata

PathLike = Union[str, "os.PathLike[str]"]
_ULTRALYTICS_TASKS = {"detect": "detect", "segment": "segment", "classify": "classify"}


def bare_spec(model: PathLike, soc: str = DEFAULT_SOC, cann: str = DEFAULT_CANN) -> DeploySpec:
    """The spec convert uses for an ONNX model given without one: its inputs and outputs as they are (dynamic
    dims -1), validated as any spec is."""
    summary = summarize(model)
    inputs = [{"name": t.name, "shape": [d if isinstance(d, int) else -1 for d in t.shape], "dtype": t.dtype,
               "layout": guess_layout(t.shape)} for t in summary.inputs]
    return DeploySpec.from_dict({"model": os.path.abspath(str(model)), "target": {"soc_version": soc, "cann": cann},
                                 "inputs": inputs, "outputs": [{"name": t.name} for t in summary.outputs]},
                                source="generated spec")


def refuse_invalid(spec: DeploySpec, source: str) -> None:
    """A UserError listing every problem: the rules convert applies against the model, then ATC's option rules."""
    from ..ascend.atc import build_argv
    from ..onnx.spec_rules import spec_problems

    problems = spec_problems(spec)
    if not problems:
        try:
            build_argv(spec, absolute_paths=True)
        except UserError as exc:
            problems.append(str(exc))
    if problems:
        raise UserError("{}: {} problem(s): {}".format(source, len(problems), "; ".join(problems)),
                        hint="fix the spec (omdeploy spec --schema lists the keys; omdeploy inspect MODEL shows "
                             "the model's inputs and outputs)")


def relative_to(path: PathLike, spec_file: PathLike, base_dir: PathLike = ".") -> str:
    """`path` (relative to base_dir) as the spec at `spec_file` must write it."""
    absolute = os.path.abspath(str(Path(base_dir) / path))  # symlinks kept: the path the user sees
    return Path(os.path.relpath(absolute, os.path.abspath(str(Path(spec_file).parent)))).as_posix()


def save_portable(spec: DeploySpec, spec_file: PathLike) -> Path:
    """Write `spec` to `spec_file` with every file path relative to `spec_file`."""
    spec_file = Path(spec_file)
    doc = spec.to_dict()
    doc["model"] = relative_to(spec.model, spec_file, spec.base_dir)
    # the target always written: a spec without one silently means ATC's defaults on another box
    target = {"soc_version": spec.target.soc_version, "cann": spec.target.cann}
    doc = dict([("model", doc["model"]), ("target", target)] + [(k, v) for k, v in doc.items()
                                                               if k not in ("model", "target")])
    if spec.weight:
        doc["weight"] = relative_to(spec.weight, spec_file, spec.base_dir)
    if isinstance(spec.labels, str):
        doc["labels"] = relative_to(spec.labels, spec_file, spec.base_dir)
    if spec.atc.insert_op_conf:
        doc.setdefault("atc", {})["insert_op_conf"] = relative_to(spec.atc.insert_op_conf, spec_file, spec.base_dir)
    DeploySpec.from_dict(doc, source=str(spec_file), base_dir=str(spec_file.parent))  # still a valid spec
    save_document(spec_file, doc)
    return spec_file


def _imgsz(meta: Dict[str, str]) -> Optional[List[int]]:
    try:
        value = ast.literal_eval(meta["imgsz"])
    except (KeyError, ValueError, SyntaxError):
        return None
    if isinstance(value, int):
        return [value, value]
    return [int(v) for v in value][:2] if isinstance(value, (list, tuple)) and len(value) >= 2 else None


def _task(meta: Dict[str, str], summary: Any) -> str:
    if meta.get("task") in _ULTRALYTICS_TASKS:
        return _ULTRALYTICS_TASKS[meta["task"]]
    outputs = [list(t.shape) for t in summary.outputs]
    if "character" in meta:  # PaddleOCR: a [N, T, classes] CTC output reads text, an [N, classes] one classifies
        return "ocr-rec" if len(outputs) == 1 and len(outputs[0]) == 3 else "classify"
    if len(outputs) == 1 and len(outputs[0]) == 4 and outputs[0][2:] == [1, 1] and isinstance(outputs[0][1], int):
        return "classify"  # [N, classes, 1, 1] (Caffe2-style classifiers)
    if len(outputs) == 1 and len(outputs[0]) == 2 and isinstance(outputs[0][1], int) and outputs[0][1] > 1:
        return "ocr-cls" if outputs[0][1] == 2 and "paddle" in summary.producer.lower() else "classify"
    if len(outputs) == 1 and len(outputs[0]) == 4 and outputs[0][1] == 1:
        return "ocr-det"  # a one-channel probability map (PP-OCR's DB head)
    return "none"


def init_spec(model: PathLike, spec_file: PathLike, soc: str = DEFAULT_SOC, cann: str = DEFAULT_CANN) -> DeploySpec:
    """The starting spec for `model`, with its paths relative to `spec_file` (not written)."""
    model, spec_file = Path(model), Path(spec_file)
    summary = summarize(model)
    meta = summary.metadata
    task = _task(meta, summary)
    imgsz = _imgsz(meta)
    doc: Dict[str, Any] = {"model": relative_to(model, spec_file), "target": {"soc_version": soc, "cann": cann},
                           "task": task, "inputs": [], "outputs": [{"name": t.name} for t in summary.outputs]}
    dynamic = None
    for t in summary.inputs:
        shape: List[Any] = [d if isinstance(d, int) and d > 0 else -1 for d in t.shape]
        if imgsz and len(shape) == 4:
            shape = [1 if shape[0] < 0 else shape[0], shape[1]] + imgsz
        elif -1 in shape and dynamic is None:
            suggestion = suggest_gears(t)
            if suggestion["mode"] in ("batch", "image_size"):
                dynamic = {"mode": suggestion["mode"], "gears": suggestion["gears"]}
                shape = [1 if suggestion["mode"] == "image_size" and i == 0 else d for i, d in enumerate(shape)]
            else:
                shape = list(suggestion["freeze"])
        elif -1 in shape:
            shape = list(suggest_gears(t)["freeze"])
        doc["inputs"].append({"name": t.name, "shape": shape, "dtype": t.dtype if t.dtype in ("float32", "float16")
                              else t.dtype, "layout": guess_layout(t.shape)})
    if dynamic is not None:
        doc["dynamic"] = dynamic
    if task in DEFAULT_PRESET and len(summary.inputs) == 1:  # the exporter's framework first (its resize policy)
        doc["preprocess"] = dict(PRESETS[preset_from_metadata(meta) or DEFAULT_PRESET[task]])
    labels = labels_from_metadata(meta)
    if labels:
        doc["labels"] = labels
    return DeploySpec.from_dict(doc, source="spec --init {}".format(model), base_dir=str(spec_file.parent))
