"""The end-to-end demo on real assets: EfficientNet-Lite0 from PyTorch weights to ONNX, inspected, then
classifying real photos through Session on onnxruntime and OpenVINO. Grows as the workflow grows.
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

import numpy as np

from . import assets
from .spec import DeploySpec

DEMO_IMAGES = ["coffee.png", "chelsea.png", "astronaut.png", "rocket.jpg"]


def export_efficientnet_lite0(weights: Path, out: Path, opset: int = 13) -> Path:
    from ._optional import require
    from .zoo.efficientnet_lite import load_efficientnet_lite0

    torch = require("torch", "the demo's PyTorch export")
    model = load_efficientnet_lite0(str(weights))
    dummy = torch.zeros(1, 3, 224, 224)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's constant-folding notes are not actionable
        torch.onnx.export(model, (dummy,), str(out), input_names=["input"], output_names=["logits"],
                          opset_version=opset, dynamo=False)
    return out


def demo_spec(model: Path, labels: Path) -> DeploySpec:
    from .zoo.efficientnet_lite import PREPROCESS

    return DeploySpec.from_dict({
        "name": "efficientnet_lite0",
        "model": model.name,
        "target": {"soc_version": "Ascend310P3", "cann": "8.0"},
        "inputs": [{"name": "input", "shape": [1, 3, 224, 224], "dtype": "float32", "layout": "NCHW"}],
        "outputs": [{"name": "logits"}],
        "preprocess": PREPROCESS,
        "task": "classify",
        "labels": str(labels.resolve()),
    }, source="demo spec", base_dir=str(model.parent))


def classify_images(spec: DeploySpec, images: List[Path], backend: str) -> List[Dict[str, Any]]:
    from .runtime.session import Session
    from .tasks.classify import top_k
    from .tasks.image import load_image
    from .tasks.preprocess import fit

    labels = spec.label_names()
    results = []
    with Session(spec, backend=backend) as session:
        info = session.inputs[0]
        for path in images:
            image, _ = fit(load_image(path), info.shape[2], info.shape[3], spec.preprocess)
            logits = session.run([image])["logits"]  # uint8 HWC in; the spec's preprocess normalises
            results.append({"image": path.name, "top5": top_k(logits[0], 5, labels), "logits": logits[0]})
    return results


def run_demo(out_dir: Path, say: Callable[[str], None] = print, assets_root: Optional[Path] = None) -> Dict[str, Any]:
    from .onnx.inspect import summarize

    out_dir.mkdir(parents=True, exist_ok=True)
    weights = assets.asset("models/efficientnet-lite0.pth", assets_root)
    labels = assets.asset("imagenet_classes.txt", assets_root)
    images = [assets.asset("images/" + name, assets_root) for name in DEMO_IMAGES]

    say("1/3 export: EfficientNet-Lite0 (PyTorch, real weights) -> ONNX")
    onnx_path = export_efficientnet_lite0(weights, out_dir / "efficientnet_lite0.onnx")
    spec = demo_spec(onnx_path, labels)
    spec.save(out_dir / "deploy.yaml")

    say("2/3 inspect: {}".format(onnx_path))
    summary = summarize(onnx_path)
    say("    opset {}, {} nodes, {:.2f}M parameters, inputs {}, outputs {}".format(
        summary.opsets.get("ai.onnx"), summary.node_count, summary.parameter_count / 1e6,
        [(t.name, t.shape) for t in summary.inputs], [(t.name, t.shape) for t in summary.outputs]))

    say("3/3 classify real photos through Session (onnxruntime and OpenVINO)")
    by_backend = {b: classify_images(spec, images, b) for b in ("onnxruntime", "openvino")}
    rows = []
    for ort_r, ov_r in zip(by_backend["onnxruntime"], by_backend["openvino"]):
        diff = float(np.max(np.abs(ort_r["logits"] - ov_r["logits"])))
        best = ort_r["top5"][0]
        rows.append({"image": ort_r["image"], "label": best["label"], "score": round(best["score"], 4),
                     "openvino_label": ov_r["top5"][0]["label"], "max_abs_diff_vs_openvino": diff})
        say("    {:<14} {:<32} {:.3f}   openvino agrees: {}  (max |diff| {:.1e})".format(
            ort_r["image"], best["label"][:32], best["score"], ov_r["top5"][0]["label"] == best["label"], diff))
    report = {"model": str(onnx_path), "spec": str(out_dir / "deploy.yaml"), "inspect": summary.to_dict(200),
              "classifications": rows}
    (out_dir / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    say("report: {}".format(out_dir / "report.json"))
    return report
