"""omdeploy compare REF TARGET: accuracy of one deployment against another, output by output (and --layers)."""
from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import typer

from ..errors import UserError
from ..named import parse_named, parse_shapes
from ._options import renamed
from ._output import JsonOption, emit, human_bytes, progress_tracker, table

_FMT = {"cosine": "{:.6f}", "top1": "{:.3f}", "top5": "{:.3f}"}


_ROWS = (("cosine", "cosine (worst sample)"), ("max_abs", "max abs error"), ("mean_abs", "mean abs error"),
         ("max_rel", "max rel error"), ("RelativeEuclideanDistance", "rel euclidean distance"),
         ("MeanRelativeError", "mean rel error"), ("KullbackLeiblerDivergence", "KL divergence"), ("rmse", "rmse"), ("atol", "atol needed (rtol=0)"),
         ("rtol", "rtol needed (atol=0)"), ("top1", "top-1 agreement"), ("top5", "top-5 agreement"),
         ("nonfinite", "inf/nan values"))


def _cell(metric: str, value: Any) -> str:
    if value is None:  # not applicable (top-k of a non-classifier); inf and nan print as themselves
        return "-"
    if isinstance(value, int):
        return str(value)
    return _FMT.get(metric, "{:.3g}").format(value)


def _checks(output: Any) -> str:
    return ", ".join("{}{}{:g}{}".format(c["metric"], c["op"], c["value"], "" if c["passed"] else " FAILED")
                     for c in output.checks if c["passed"] is not None)


def _render(report: Any, console: Any) -> None:
    console.print("ref:     {}\ntarget:  {}\nsamples: {}".format(report.ref, report.target, len(report.samples)),
                  markup=False)
    info = report.target_info
    if "precision_mode" in info:
        kept = ", ".join("{} x{}".format(k, v) for k, v in info["kept_fp32"].items()) or "none"
        console.print("simulated: {} {}, ops kept in fp32: {}, device memory ~{}".format(
            info["soc_version"], info["precision_mode"], kept, human_bytes(info["device_memory_bytes"])), markup=False)
    t = table(None, "", *[o.name for o in report.outputs])
    for key, label in _ROWS:
        t.add_row(label, *[_cell(key, o.metrics.get(key)) for o in report.outputs])
    t.add_row("checks", *[_checks(o) for o in report.outputs])
    t.add_row("result", *["[green]pass[/green]" if o.passed else "[red]FAIL[/red]" for o in report.outputs])
    console.print(t)
    if report.task is not None:
        _render_task(report.task, console)
    if report.layers is not None:
        _render_layers(report.layers, console)
    console.print("[green]PASS[/green]" if report.passed else "[red]FAIL[/red]")


_TASK_ROWS = (("top1", "top-1 agreement"), ("top1_in_top5", "ref top-1 in target top-5"),
              ("detections_ref", "detections (reference)"), ("detections_target", "detections (target)"),
              ("det_precision", "precision (target vs ref)"), ("det_recall", "recall (target vs ref)"),
              ("box_iou", "mean box IoU (matched)"), ("score_diff", "max score diff (matched)"),
              ("mask_iou", "mean mask IoU"), ("text_equal", "same text"), ("cer", "character error rate"))


def _render_task(verdict: Dict[str, Any], console: Any) -> None:
    metrics = verdict["metrics"]
    layout = metrics.get("layout") or {}
    title = "task {}: the decoded answers{}".format(verdict["task"], ", layout {} {}".format(
        layout.get("layout"), layout.get("shape")) if layout.get("layout") else "")
    t = table(title, "", "value")
    for key, label in _TASK_ROWS:
        if key in metrics:
            t.add_row(label, _cell(key, metrics[key]))
    t.add_row("checks", ", ".join("{}{}{:g}{}".format(c["metric"], c["op"], c["value"],
                                                       "" if c["passed"] is not False else " FAILED")
                                  for c in verdict["checks"]))
    t.add_row("result", "[green]pass[/green]" if verdict["passed"] else "[red]FAIL[/red]")
    console.print(t)


def _render_layers(layers: Dict[str, Any], console: Any) -> None:
    jump = layers["first_jump"]
    worst = sorted(layers["rows"], key=lambda r: (r["cosine"] is not None, r["cosine"] or 0))[:8]
    t = table("layers: {} tensors, worst first".format(layers["tensors"]), "tensor", "op", "cosine", "max abs",
              "non-finite", "overflow")
    for r in worst:
        t.add_row(r["tensor"], r["op_type"], _cell("cosine", r["cosine"]), _cell("max_abs", r["max_abs"]),
                  str(r["nonfinite"]), str(r.get("overflow", "-")))
    console.print(t)
    if jump is None:
        console.print("no layer falls below cosine {:g}".format(layers["cosine_min"]), markup=False)
    else:
        console.print("first layer whose error jumps: {} (op {}, node {}): cosine {}, {} non-finite values".format(
            jump["tensor"], jump["op_type"], jump["node"], _cell("cosine", jump["cosine"]), jump["nonfinite"]),
            markup=False, style="bold red")


def register(app: typer.Typer) -> None:
    @app.command("compare")
    def compare_cmd(
        sides: List[str] = typer.Argument(..., metavar="REF TARGET",
                                          help="Two sides, PATH[@BACKEND]: model.onnx, deploy.yaml@sim, model.om, "
                                               "model.onnx@openvino. With --load, only TARGET."),
        inputs: List[Path] = typer.Option([], "--inputs", "-i", help="Images (through the spec's preprocessing), "
                                                                     ".npy/.npz, or folders of them. Repeatable."),
        random: int = typer.Option(0, "--random", help="Number of seeded random samples (when no --inputs)."),
        seed: int = typer.Option(0, "--seed", help="Seed for --random."),
        ranges: List[str] = typer.Option([], "--range", help="NAME:LOW,HIGH for random data of one input."),
        shapes: List[str] = typer.Option([], "--shape", help="NAME:D0,D1,... for inputs with dynamic dims."),
        thresholds: List[str] = typer.Option([], "--threshold",
                                             help="[OUTPUT:]METRIC>=VALUE or <=VALUE (cosine, max_abs, mean_abs, "
                                                  "max_rel, rmse, atol, rtol, top1, top5, msit names, task metrics). "
                                                  "Defaults: cosine>=0.99, RelativeEuclideanDistance<=0.05, top1>=1; "
                                                  "per task: docs/simulate.md."),
        thresholds_old: List[str] = typer.Option([], "-t", hidden=True, help="Deprecated spelling of --threshold."),
        spec_path: Optional[Path] = typer.Option(None, "--spec", help="DeploySpec for a side given as a bare model."),
        save: Optional[Path] = typer.Option(None, "--save", help="Write inputs and REF's outputs to this .npz."),
        load: Optional[Path] = typer.Option(None, "--load", help="Golden .npz from --save: its inputs and "
                                                                 "reference outputs replace REF."),
        layers: bool = typer.Option(False, "--layers", help="Also compare every intermediate tensor (fp32 vs the "
                                                            "simulator) and report the first layer whose error jumps."),
        layer_cosine: float = typer.Option(0.999, "--layer-cosine", help="--layers: a tensor below this cosine "
                                                                         "is where the error jumps."),
        task: Optional[str] = typer.Option(None, "--task", help="Judge the decoded answers too: classify, detect, "
                                                                  "segment, ocr-rec (ocr). Default: the spec's task."),
        head: str = typer.Option("yolov8", "--head", help="--task detect/segment: the head layout (yolov8, yolov5, "
                                                           "yolox)."),
        as_json: bool = JsonOption,
    ) -> None:
        """Compare two deployments output by output: cosine, abs/rel errors, RMSE, tolerances, top-k."""
        from ..spec import DeploySpec
        from ..tools import compare as cmp

        expected = 1 if load else 2
        if len(sides) != expected:
            raise UserError("expected {} ({}), got {} argument{}".format(
                "TARGET" if load else "REF and TARGET", "reference outputs come from --load" if load else
                "e.g. model.onnx deploy.yaml@sim", len(sides), "" if len(sides) == 1 else "s"))
        if load and save:
            raise UserError("--save and --load together: expected one of them",
                            hint="--save on the training box, --load on the edge box")
        if inputs and random:
            raise UserError("--inputs and --random: expected one of them", hint="random data is made only without "
                                                                              "--inputs")
        if load:
            given = [name for name, value in (("--inputs", inputs), ("--random", random), ("--range", ranges))
                     if value]
            if given:
                raise UserError("--load and {}: the golden data brings its own inputs".format(given[0]),
                                hint="drop {}".format(given[0]))
        if not -1.0 <= layer_cosine <= 1.0:
            raise UserError("--layer-cosine: expected a cosine between -1 and 1, got {:g}".format(layer_cosine))
        for option, value in (("--random", random), ("--seed", seed)):
            if value < 0:
                raise UserError("{}: expected a number >= 0, got {}".format(option, value))
        parsed = [cmp.Threshold.parse(t) for t in renamed(thresholds, thresholds_old, "--threshold", "-t")]
        shape_map = parse_shapes(shapes, "--shape", "1,3,640,640")
        range_map: Dict[str, Tuple[float, float]] = {}
        for k, vals in parse_named(ranges, "--range", "LOW,HIGH").items():
            if len(vals) != 2:
                raise UserError("--range {}: expected LOW,HIGH, got {} values".format(k, len(vals)))
            if not vals[0] <= vals[1]:
                raise UserError("--range {}: expected LOW <= HIGH, got {:g},{:g}".format(k, vals[0], vals[1]))
            range_map[k] = (vals[0], vals[1])
        spec = DeploySpec.load(spec_path) if spec_path else None
        bar, tracker = progress_tracker(not as_json)
        with ExitStack() as stack:
            if bar is not None:
                stack.enter_context(bar)
            report = cmp.compare_sides(None if load else sides[0], sides[-1], inputs, spec, random, seed, shape_map,
                                       range_map, parsed, golden=load, save=save, layers=layers,
                                       layer_cosine=layer_cosine, tracker=tracker, task=task, head=head)
        data = report.to_dict()
        if save:
            data["saved"] = str(save)
        emit(data, as_json, lambda c: _render(report, c))
        if not report.passed:
            raise typer.Exit(1)
