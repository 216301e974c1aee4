"""Is the ONNX file a valid model at all: external data present, onnx.checker with shape inference, an
onnxruntime load; and which exporter wrote it (TorchScript or dynamo), so advice can name that exporter's fix.

Each function returns a list of (rule, message, fix, source) tuples that check.py turns into findings.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, List, Optional, Tuple

from .._optional import require

Problem = Tuple[str, str, str, str]
CHECKER_SOURCE = "onnx.checker.check_model(full_check=True) (https://onnx.ai/onnx/api/checker.html)"
ORT_SOURCE = "onnxruntime.InferenceSession load (https://onnxruntime.ai/docs/api/python/api_summary.html)"
EXTERNAL_SOURCE = "ONNX external data format (https://onnx.ai/onnx/repo-docs/ExternalData.html)"
EXPORTER_SOURCE = ("torch.onnx docs: torch >= 2.9 exports with dynamo=True by default "
                   "(https://docs.pytorch.org/docs/stable/onnx.html); Split-18 added num_outputs "
                   "(https://onnx.ai/onnx/operators/onnx__Split.html)")


def exporter(model: Any) -> Optional[str]:
    """'dynamo' or 'torchscript' for torch exports (from the producer and the node names), else None."""
    if model.producer_name != "pytorch":
        return None
    names = [n.name for n in model.graph.node if n.name]
    if not names:
        return "torchscript"
    dynamo = sum(1 for n in names if n.startswith("node_"))
    return "dynamo" if dynamo * 2 > len(names) else "torchscript"


def exporter_fix(model: Any, opset: int) -> str:
    if exporter(model) == "dynamo":
        return ("this is a torch dynamo export (torch >= 2.9's default): re-export with "
                "torch.onnx.export(..., dynamo=False, opset_version={0}) (or `omdeploy export ... --opset {0}`)"
                .format(opset))
    return "re-export with torch.onnx.export(..., dynamo=False, opset_version={0}) or your framework's exporter".format(
        opset)


def external_data_problems(model: Any, path: Optional[str]) -> List[Problem]:
    onnx = require("onnx", "checking external data")
    base = Path(path).parent if path else Path(".")
    missing, short = [], []
    for tensor in model.graph.initializer:
        if tensor.data_location != onnx.TensorProto.EXTERNAL:
            continue
        info = {e.key: e.value for e in tensor.external_data}
        file = base / info.get("location", "")
        if not file.is_file():
            missing.append(str(file))
            continue
        end = int(info.get("offset", 0) or 0) + int(info.get("length", 0) or 0)
        if end > os.path.getsize(file):
            short.append(str(file))
    problems = []
    if missing:
        files = sorted(set(missing))
        problems.append(("external-data", "the weights of {} initializer(s) live in external file(s) that do not "
                         "exist: {}".format(len(missing), ", ".join(files)),
                         "copy the .data file(s) next to the model (the location is relative to the .onnx), or save "
                         "the model with onnx.save(model, path, save_as_external_data=False) below 2 GB",
                         EXTERNAL_SOURCE))
    if short:
        problems.append(("external-data", "external weight file(s) shorter than the model says (truncated copy?): "
                         "{}".format(", ".join(sorted(set(short)))), "copy the .data file(s) again in full",
                         EXTERNAL_SOURCE))
    return problems


def checker_problems(model: Any, path: Optional[str], opset: Optional[int]) -> List[Problem]:
    onnx = require("onnx", "validating the model")
    try:
        onnx.checker.check_model(path if path else model, full_check=True)
    except Exception as exc:  # ValidationError, InferenceError, or a protobuf error: all are a refusal
        text = " ".join(str(exc).split())
        fix = "repair the graph where the checker points (a node reading a tensor nobody produces, an attribute " \
              "the opset does not define); ATC's parser refuses what the checker refuses"
        if "Unrecognized attribute" in text or "num_outputs" in text:
            fix = "the exporter wrote an attribute newer than the model's opset; " + exporter_fix(model, opset or 17) \
                + ", or export at opset 18"
            return [("onnx-checker", "onnx.checker rejects the model: {}".format(text[:400]), fix,
                     CHECKER_SOURCE + "; " + EXPORTER_SOURCE)]
        return [("onnx-checker", "onnx.checker rejects the model: {}".format(text[:400]), fix, CHECKER_SOURCE)]
    return []


def onnxruntime_problems(model: Any, path: Optional[str]) -> List[Problem]:
    try:
        ort = require("onnxruntime", "loading the model")
    except Exception:  # onnxruntime is optional for check: the load is skipped without it
        return []
    try:
        options = ort.SessionOptions()
        options.log_severity_level = 3  # the load is the test; onnxruntime's own warnings are noise here
        ort.InferenceSession(path if path else model.SerializeToString(), sess_options=options,
                             providers=["CPUExecutionProvider"])
    except Exception as exc:
        text = " ".join(str(exc).split())
        return [("onnxruntime-load", "onnxruntime cannot load the model: {}".format(text[:400]),
                 "fix what onnxruntime names; a model no runtime loads will not convert either", ORT_SOURCE)]
    return []
