"""The end-to-end demo on real assets, the whole training-box workflow in one command:

EfficientNet-Lite0 from its PyTorch weights -> export (verified against torch) -> inspect -> check (ATC
pre-flight) -> convert plan for the default chip with fp16 input -> simulate the NPU and compare with fp32 on real
photos -> run over a folder of photos -> bench on three backends; and OCR with PP-OCRv4 on a photo of a page.
Everything lands in one report folder (report.json, report.md, the ATC script, the sidecar, results.jsonl).
"""
from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional


from . import assets
from ._json import json_default
from .chips import DEFAULT_CANN, DEFAULT_SOC
from .fileio import write_text
from .spec import DeploySpec

DEMO_IMAGES = ["coffee.png", "chelsea.png", "astronaut.png", "rocket.jpg"]
# photos for the accuracy comparison and the folder run: the scikit-image photos plus OpenCV's samples
OPENCV_PHOTOS = ["baboon.jpg", "lena.jpg", "fruits.jpg", "orange.jpg", "apple.jpg", "butterfly.jpg",
                 "building.jpg", "home.jpg", "messi5.jpg", "board.jpg", "graf1.png", "smarties.png", "starry_night.jpg",
                 "pic1.png", "left01.jpg", "aero3.jpg", "ml.png", "box.png", "HappyFish.jpg"]
SOC = DEFAULT_SOC
CANN = DEFAULT_CANN

Say = Callable[[str], None]


def export_efficientnet_lite0(weights: Path, out: Path, opset: int = 13, verify_images: Optional[List[Path]] = None):
    """EfficientNet-Lite0 with the released weights -> ONNX, verified against torch on random inputs and
    `verify_images` (omdeploy.export). Returns the ExportResult (`.path`, `.max_abs_error`, ...)."""
    from ._optional import require
    from .onnx.export import export
    from .spec import PreprocessSpec
    from .zoo.efficientnet_lite import PREPROCESS, load_efficientnet_lite0

    torch = require("torch", "exporting EfficientNet-Lite0")
    result = export(load_efficientnet_lite0(str(weights)), torch.zeros(1, 3, 224, 224), out, opset=opset,
                    cann=CANN, input_names=["input"], output_names=["logits"], images=verify_images or [],
                    preprocess=PreprocessSpec(**PREPROCESS))
    return result


def demo_spec(model: Path, labels: Path, fp16_input: bool = False) -> DeploySpec:
    """The deployment: the default chip and CANN (omdeploy.chips), ATC's default force_fp16, optionally fp16 input."""
    from .zoo.efficientnet_lite import PREPROCESS

    return DeploySpec.from_dict({
        "name": "efficientnet_lite0",
        "model": model.name,
        "target": {"soc_version": SOC, "cann": CANN},
        "inputs": [{"name": "input", "shape": [1, 3, 224, 224], "dtype": "float16" if fp16_input else "float32",
                    "layout": "NCHW"}],
        "outputs": [{"name": "logits"}],
        "preprocess": PREPROCESS,
        "precision_mode": "force_fp16",
        "task": "classify",
        "labels": str(labels.resolve()),
    }, source="demo spec", base_dir=str(model.parent))


def classify_images(spec: DeploySpec, images: List[Path], backend: str) -> List[Dict[str, Any]]:
    """Top-5 and raw logits per image through Session (uint8 HWC in; the spec's preprocess normalises)."""
    from .runtime.session import Session
    from .tasks.classify import top_k
    from .tasks.image import load_image
    from .tasks.preprocess import fit

    labels = spec.label_names()
    results = []
    with Session(spec, backend=backend) as session:
        info = session.inputs[0]
        assert spec.preprocess is not None  # demo_spec() sets it
        for path in images:
            image, _ = fit(load_image(path), int(info.shape[2]), int(info.shape[3]), spec.preprocess)
            logits = session.run([image])["logits"]
            results.append({"image": path.name, "top5": top_k(logits[0], 5, labels), "logits": logits[0]})
    return results


def _photos(root: Optional[Path], folder: Path) -> List[Path]:
    """The demo photos, copied into one folder: scikit-image's and those of OpenCV's samples that exist."""
    folder.mkdir(parents=True, exist_ok=True)
    sources = [assets.asset("images/" + n, root) for n in DEMO_IMAGES]
    opencv = assets.assets_dir(root) / "opencv"
    sources += [opencv / n for n in OPENCV_PHOTOS if (opencv / n).is_file()]
    copies = []
    for src in sources:
        dst = folder / src.name
        if not dst.exists():
            shutil.copy2(src, dst)
        copies.append(dst)
    return copies


class _Steps:
    def __init__(self, say: Say, total: int):
        self.say, self.total, self.done = say, total, 0
        self.timings: Dict[str, float] = {}

    def start(self, name: str, text: str) -> float:
        self.done += 1
        self.say("{}/{} {}: {}".format(self.done, self.total, name, text))
        return time.perf_counter()

    def end(self, name: str, started: float) -> None:
        self.timings[name] = round(time.perf_counter() - started, 2)


def run_demo(out_dir: Path, say: Say = print, assets_root: Optional[Path] = None) -> Dict[str, Any]:
    from .ascend.convert import convert, format_command
    from .onnx.check import check
    from .onnx.inspect import summarize
    from .tasks.classify import Classifier
    from .tasks.image import load_image
    from .tasks.ocr import OcrPipeline
    from .tools.bench import bench_many
    from .tools.compare import compare_sides
    from .tools.runner import run_batch

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    weights = assets.asset("models/efficientnet-lite0.pth", assets_root)
    labels = assets.asset("imagenet_classes.txt", assets_root)
    photos = _photos(assets_root, out_dir / "photos")
    steps = _Steps(say, 8)
    report: Dict[str, Any] = {"soc_version": SOC, "cann": CANN}

    t = steps.start("export", "EfficientNet-Lite0 (PyTorch, real weights) -> ONNX, verified against torch")
    exported = export_efficientnet_lite0(weights, out_dir / "efficientnet_lite0.onnx", verify_images=photos[:1])
    onnx_path = Path(exported.path)
    say("    opset {}, max |onnxruntime - torch| = {:.2e}".format(exported.opset, exported.max_abs_error))
    report["export"] = exported.to_dict()
    steps.end("export", t)

    t = steps.start("inspect", str(onnx_path))
    summary = summarize(onnx_path)
    say("    {} nodes, {:.2f}M parameters, inputs {}, outputs {}".format(
        summary.node_count, summary.parameter_count / 1e6, [(x.name, x.shape) for x in summary.inputs],
        [(x.name, x.shape) for x in summary.outputs]))
    report["inspect"] = summary.to_dict(200)
    steps.end("inspect", t)

    t = steps.start("check", "ATC pre-flight for {} / CANN {}".format(SOC, CANN))
    checked = check(onnx_path, soc=SOC, cann=CANN)
    say("    {} ({} errors, {} warnings)".format("pass" if checked.ok else "FAIL", len(checked.errors),
                                                 len(checked.warnings)))
    for finding in checked.findings:
        say("    {} {}: {}".format(finding.severity, finding.rule, finding.message))
    report["check"] = checked.to_dict()
    steps.end("check", t)

    t = steps.start("convert", "ATC plan with fp16 input (no CANN here: script + sidecar, no .om)")
    spec = demo_spec(onnx_path, labels, fp16_input=True)
    spec_path = spec.save(out_dir / "deploy.yaml")
    planned = convert(spec, out_dir / "build", plan=True)
    say("    " + format_command(planned.argv))
    say("    wrote {} and {}".format(planned.script, planned.sidecar))
    report["convert"] = planned.to_dict()
    steps.end("convert", t)

    t = steps.start("simulate", "the NPU (force_fp16, fp16 input) vs fp32 onnxruntime on {} real photos".format(
        len(photos)))
    compared = compare_sides(str(spec_path), str(spec_path) + "@sim", inputs=photos)
    metrics = compared.outputs[0].metrics
    say("    cosine (worst photo) {:.5f}, max abs error {:.3g}, top-1 agreement {:.3f}: {}".format(
        metrics["cosine"], metrics["max_abs"], metrics["top1"], "PASS" if compared.passed else "FAIL"))
    report["compare"] = compared.to_dict()
    steps.end("simulate", t)

    t = steps.start("run", "classify the photo folder (pipelined, results as JSONL)")
    results_path = out_dir / "results.jsonl"
    with Classifier(spec_path, k=3) as classifier:
        summary_run = run_batch(classifier, [out_dir / "photos"], results_path)
    records = [json.loads(line) for line in results_path.read_text(encoding="utf-8").splitlines()]
    for record in (r for r in records if Path(r["input"]).name in DEMO_IMAGES):
        best = record["result"]["top"][0] if record.get("ok") else {"label": record.get("error"), "score": 0.0}
        say("    {:<16} {:<34} {:.3f}".format(Path(record["input"]).name, str(best["label"])[:34], best["score"]))
    say("    {} photos, {} failed -> {}".format(summary_run.processed, summary_run.failed, results_path))
    report["run"] = {"results": str(results_path), "processed": summary_run.processed, "failed": summary_run.failed,
                     "top1": {Path(r["input"]).name: r["result"]["top"][0]["label"] for r in records if r.get("ok")}}
    steps.end("run", t)

    t = steps.start("bench", "onnxruntime, OpenVINO and the simulator, batch 1")
    benched = bench_many(onnx_path, ["onnxruntime", "openvino", "sim"], iterations=30, warmup=3, spec=spec)
    for b in benched:
        say("    {:<12} median {:.2f} ms, p99 {:.2f} ms, {:.0f} images/s".format(
            b.backend, b.latency_ms.get("median", float("nan")), b.latency_ms.get("p99", float("nan")),
            b.throughput or 0.0) if b.ok else "    {:<12} failed: {}".format(b.backend, b.error))
    report["bench"] = [b.to_dict() for b in benched]
    steps.end("bench", t)

    t = steps.start("ocr", "PP-OCRv4 (det + angle cls + rec) on scikit-image's page")
    with OcrPipeline(assets.asset("models/ppocrv4_det.onnx", assets_root),
                     assets.asset("models/ppocrv4_rec.onnx", assets_root),
                     cls=assets.asset("models/ppocr_mobile_v2_cls.onnx", assets_root)) as ocr:
        lines = ocr(load_image(assets.asset("images/page.png", assets_root)))["lines"]
    for line in lines[:3]:
        say("    {!r} ({:.2f})".format(line["text"], line["score"]))
    say("    {} lines read".format(len(lines)))
    report["ocr"] = {"image": "page.png", "lines": [{"text": x["text"], "score": x["score"]} for x in lines]}
    steps.end("ocr", t)

    report["seconds"] = steps.timings
    write_text(out_dir / "report.json", json.dumps(report, indent=2, default=json_default) + "\n")
    write_text(out_dir / "report.md", _markdown(report))
    say("report: {} (and report.md)".format(out_dir / "report.json"))
    return report


def _markdown(report: Dict[str, Any]) -> str:
    cmp = report["compare"]["outputs"][0]["metrics"]
    lines = [
        "# omdeploy demo: EfficientNet-Lite0 for {} (CANN {})".format(report["soc_version"], report["cann"]),
        "",
        "| step | result |",
        "|---|---|",
        "| export | opset {}, max abs error vs torch {:.2e} |".format(report["export"]["opset"],
                                                                     report["export"]["max_abs_error"]),
        "| check | {} errors, {} warnings |".format(report["check"]["errors"], report["check"]["warnings"]),
        "| convert | {}: `{}` |".format(report["convert"]["status"], report["convert"]["command"]),
        "| simulate + compare | cosine {:.5f}, top-1 agreement {:.3f}, max abs {:.3g} |".format(
            cmp["cosine"], cmp["top1"], cmp["max_abs"]),
        "| run | {} photos, {} failed |".format(report["run"]["processed"], report["run"]["failed"]),
    ]
    for b in report["bench"]:
        if b["ok"]:
            lines.append("| bench {} | median {:.2f} ms, {:.0f} images/s |".format(
                b["backend"], b["latency_ms"]["median"], b["throughput"]))
    lines.append("| OCR page.png | {} lines, first: {!r} |".format(
        len(report["ocr"]["lines"]), report["ocr"]["lines"][0]["text"] if report["ocr"]["lines"] else ""))
    lines += ["", "No .om was produced: there is no CANN toolkit on this machine; run build/*.atc.sh where it is."]
    return "\n".join(lines) + "\n"
