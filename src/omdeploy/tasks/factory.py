"""The task object for a task name, a model and `omdeploy run`'s options: one place for the CLI and the fleet."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict

from ..errors import UserError
from ..spec import DeploySpec
from .base import Task


def make_task(name: str, model: Path, options: Dict[str, Any]) -> Task:
    """The task object for `omdeploy run` options (keys: backend, threads, labels, top_k, head, conf, iou, rec,
    cls, preset)."""
    session = {"backend": options["backend"], "threads": options["threads"]}
    labels = None
    if options["labels"] is not None:
        labels = DeploySpec.from_dict({"model": str(model), "labels": str(options["labels"])}).label_names()
    if name == "classify":
        from .classify import Classifier

        return Classifier(model, k=options["top_k"], labels=labels, preset=options["preset"], **session)
    if name == "detect":
        from .detect import Detector

        return Detector(model, head=options["head"], conf=options["conf"], iou=options["iou"], labels=labels,
                        preset=options["preset"], **session)
    if name == "segment":
        from .segment import Segmenter

        return Segmenter(model, conf=options["conf"], iou=options["iou"], labels=labels, preset=options["preset"],
                         **session)
    if options["rec"] is None:
        raise UserError("--task ocr needs the recognition model too, got only the detector",
                        hint="omdeploy run ppocrv4_det.onnx page.png --task ocr --rec ppocrv4_rec.onnx "
                             "[--cls ppocr_mobile_v2_cls.onnx]")
    from .ocr import OcrPipeline

    return OcrPipeline(model, options["rec"], cls=options["cls"], **session)
