"""The task object for a task name, a model and `omdeploy run`'s options: one place for the CLI and the fleet."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Optional

from ..errors import UserError, did_you_mean, one_of
from ..spec import SPEC_SUFFIXES, DeploySpec
from .base import Task

TASKS = ("classify", "detect", "segment", "ocr")  # what `omdeploy run` and `serve` run
_FROM_SPEC = {"classify": "classify", "detect": "detect", "segment": "segment", "ocr-det": "ocr"}  # spec.task ->


def task_name(model: Path, task: Optional[str]) -> str:
    """The task to run: `task` when given, else the one the spec `model` names; a one-line error otherwise."""
    if task is None and model.suffix.lower() in SPEC_SUFFIXES:
        task = _FROM_SPEC.get(DeploySpec.load(model).task)
    if task is None:
        raise UserError("expected --task ({}), got none and the model is not a spec naming one".format(
            one_of(TASKS)), hint="omdeploy run model.onnx photos/ --task classify")
    if task not in TASKS:
        raise UserError("unknown task {!r}{}; known: {}".format(task, did_you_mean(task, TASKS), one_of(TASKS)))
    return task


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
