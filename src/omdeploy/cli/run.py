"""omdeploy run MODEL_OR_SPEC INPUTS... --task ...: a task over images, folders and videos, to resumable JSONL."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional

import typer

from ..errors import UserError
from ..tasks.factory import make_task, task_name
from ._output import JsonOption, emit, err_console, live_display, table

def _render(summary: Dict[str, Any], errors: List[Dict[str, Any]], console) -> None:
    rows = table(None, "inputs", "run now", "skipped (resume)", "failed", "results")
    rows.add_row(str(summary["inputs"]), str(summary["processed"]), str(summary["skipped"]), str(summary["failed"]),
                 summary["results"])
    console.print(rows)
    decoding = summary.get("decoding")
    if decoding:
        reasons = ", ".join("{} {}".format(n, why) for why, n in sorted(decoding["host_reasons"].items()))
        console.print("preprocess.where dvpp{}: {} file(s) decoded by JPEGD, {} on the host{}".format(
            " (emulated: no device here)" if decoding.get("emulated") else "", decoding["dvpp"], decoding["host"],
            " ({})".format(reasons) if reasons else ""), markup=False)
    for e in errors[:20]:
        console.print("failed: {}".format(e["error"]), markup=False)
    if len(errors) > 20:
        console.print("... {} more failures in {}".format(len(errors) - 20, summary["results"]), markup=False)


def register(app: typer.Typer) -> None:
    @app.command("run")
    def run_cmd(
        model: Path = typer.Argument(..., help="Model (.onnx) or DeploySpec (.yaml/.json)."),
        inputs: List[Path] = typer.Argument(..., help="Image files, folders (recursive) or video files."),
        task: Optional[str] = typer.Option(None, "--task", "-t", help="classify, detect, segment or ocr "
                                                                      "(default: the spec's task)."),
        out: Path = typer.Option(Path("omdeploy-run"), "--out", "-o", help="Folder for results.jsonl (and "
                                                                           "annotated images)."),
        resume: bool = typer.Option(False, "--resume", help="Keep results.jsonl and skip the inputs it has."),
        annotate: bool = typer.Option(False, "--annotate", help="Also write annotated images to OUT/annotated."),
        preset: Optional[str] = typer.Option(None, "--preset", help="Preprocessing of a bare model: imagenet, "
                                             "efficientnet-lite, orientation, yolo, yolox (a spec's own wins)."),
        labels: Optional[Path] = typer.Option(None, "--labels", help="Class names, one per line."),
        top_k: int = typer.Option(5, "--top-k", min=1, help="classify: how many classes to report."),
        head: str = typer.Option("yolov8", "--head", help="detect: yolov8, yolov5 or yolox."),
        conf: float = typer.Option(0.25, "--conf", min=0.0, max=1.0, help="detect/segment: confidence threshold."),
        iou: float = typer.Option(0.45, "--iou", min=0.0, max=1.0, help="detect/segment: NMS IoU threshold."),
        rec: Optional[Path] = typer.Option(None, "--rec", help="ocr: the recognition model."),
        cls: Optional[Path] = typer.Option(None, "--cls", help="ocr: the optional angle classifier."),
        stride: int = typer.Option(1, "--stride", min=1, help="Videos: run every N-th frame."),
        workers: int = typer.Option(2, "--workers", min=1, help="Decode/preprocess threads."),
        queue: int = typer.Option(32, "--queue", min=1, help="Inputs prepared ahead of inference at most (memory)."),
        threads: Optional[int] = typer.Option(None, "--threads", min=1, help="Runtime intra-op threads (default: all "
                                                                      "cores but one, left to the decoders)."),
        backend: str = typer.Option("auto", "--backend", help="Runtime backend: auto, or onnxruntime, openvino, "
                                                              "sim, acl, ..."),
        ray_address: Optional[str] = typer.Option(None, "--ray", help="Run on a Ray cluster: auto (RAY_ADDRESS, a "
                                                  "running local cluster, or a new one) or its address (docs/fleet.md)."),
        actors: Optional[int] = typer.Option(None, "--actors", min=1, max=4096, help="--ray: inference actors "
                                             "(default: one per NPU of the cluster, else 1)."),
        npus_per_actor: float = typer.Option(1.0, "--npus-per-actor", min=0.01, max=64, help="--ray: NPUs each "
                                             "actor takes where the cluster has them."),
        as_json: bool = JsonOption,
    ) -> None:
        """Run a task over images, folders and videos: one JSON line per input, resumable, bad inputs reported."""
        from ..tools.annotate import writer
        from ..tools.runner import inference_threads, plan_inputs, run_batch, run_identity
        from ._output import check_bounds

        check_bounds(threads=threads, workers=workers, queue=queue)
        from ..bundle.cache import resolve_model

        model = resolve_model(model, backend)  # a bundle (BUNDLE.tar): its spec or .om, unpacked and verified

        if out.exists() and not out.is_dir():
            raise UserError("-o {} is a file; expected the folder for results.jsonl".format(out),
                            hint="-o results/ (created when missing)")
        name = task_name(model, task)
        if name != "ocr" and (rec is not None or cls is not None):
            raise UserError("{} goes with --task ocr, not --task {}".format("--rec" if rec is not None else "--cls",
                                                                           name),
                            hint="drop it, or run --task ocr with the detector as the model")
        if ray_address is None and (actors is not None or npus_per_actor != 1.0):
            raise UserError("--actors and --npus-per-actor go with --ray", hint="omdeploy run ... --ray auto --actors 2")
        if ray_address is not None:
            if annotate:
                raise UserError("--annotate is not available with --ray", hint="run --annotate without --ray")
            ray_options = dict(top_k=top_k, head=head, conf=conf, iou=iou, rec=rec, cls=cls, preset=preset,
                               labels=labels, backend=backend, threads=threads or 1)
            identity = run_identity(model, name, {k: v for k, v in ray_options.items()
                                                  if k not in ("threads", "backend")})
            return _run_on_ray(name, model, inputs, out, resume, stride, ray_address, actors, npus_per_actor,
                               ray_options, as_json, identity)
        files, total = plan_inputs(inputs, stride, exclude=[out])
        options = dict(top_k=top_k, head=head, conf=conf, iou=iou, rec=rec, cls=cls, preset=preset, labels=labels,
                       backend=backend, threads=threads or inference_threads(workers))
        errors: List[Dict[str, Any]] = []
        identity = run_identity(model, name, {k: v for k, v in options.items() if k not in ("threads", "backend")})
        with make_task(name, model, options) as runner_task:
            results = out / "results.jsonl"
            draw = writer(out / "annotated") if annotate else None
            try:
                if as_json:
                    summary = run_batch(runner_task, inputs, results, resume, stride, workers, queue, files=files,
                                        annotate=draw, on_record=lambda r: errors.append(r) if not r["ok"] else None,
                                        identity=identity)
                else:
                    summary = _with_progress(runner_task, inputs, results, resume, stride, workers, queue, files,
                                             total, draw, errors, identity)
            except KeyboardInterrupt:
                err_console.print("interrupted: the finished results are in {}; run the same command with --resume "
                                  "to finish".format(results), markup=False)
                raise typer.Exit(130) from None
        data = summary.to_dict()
        emit({"summary": data, "errors": errors}, as_json, lambda c: _render(data, errors, c))
        if summary.failed:
            raise typer.Exit(1)


def _run_on_ray(name, model, inputs, out, resume, stride, address, actors, npus_per_actor, options, as_json,
                identity) -> None:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from ..tools.fleet import run_fleet
    from ..tools.runner import plan_inputs

    errors: List[Dict[str, Any]] = []
    results = out / "results.jsonl"
    _, total = plan_inputs(inputs, stride, exclude=[out])
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    try:
        with Progress(*columns, console=err_console, transient=True,
                      disable=as_json or not live_display()) as progress:
            bar = progress.add_task(name + " (ray)", total=total)

            def on_record(record: Dict[str, Any]) -> None:
                progress.advance(bar)
                if not record["ok"]:
                    errors.append(record)

            if resume:
                from ..tools.runner import read_finished

                progress.update(bar, completed=len(read_finished(results)))
            summary = run_fleet(name, model, options, inputs, results, resume=resume, stride=stride,
                                address=address, actors=actors, npus_per_actor=npus_per_actor, on_record=on_record,
                                identity=identity)
    except KeyboardInterrupt:
        err_console.print("interrupted: the finished results are in {}; run the same command with --resume "
                          "(with or without --ray) to finish".format(results), markup=False)
        raise typer.Exit(130) from None
    data = summary.to_dict()

    def render(console) -> None:
        _render(data, errors, console)
        for node, figures in data["per_node"].items():
            console.print("node {}: {} inputs, {} images/s".format(node[:12], figures["inputs"],
                                                                   figures["images_per_s"]), markup=False)

    emit({"summary": data, "errors": errors}, as_json, render)
    if summary.failed:
        raise typer.Exit(1)


def _with_progress(task, inputs, results, resume, stride, workers, queue, files, total, draw, errors, identity):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from ..tools.runner import run_batch

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=err_console, transient=True, disable=not live_display()) as progress:
        bar = progress.add_task(task.name, total=total)

        def on_record(record: Dict[str, Any]) -> None:
            progress.advance(bar)
            if not record["ok"]:
                errors.append(record)

        summary = run_batch(task, inputs, results, resume, stride, workers, queue, files=files, annotate=draw,
                            on_record=on_record, identity=identity)
        progress.update(bar, completed=total)
    return summary
