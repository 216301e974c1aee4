"""omdeploy check: the ATC pre-flight. Exit 1 when an error-severity finding exists."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..chips import DEFAULT_CANN, DEFAULT_SOC
from ..spec import SPEC_SUFFIXES
from ._output import EXIT_FAILURE_FOUND, JsonOption, emit, render_findings


def _render(report, console) -> None:
    low, high = report.accepted_opsets
    console.print("check {} for {}, CANN {} (ai.onnx opset {}; ATC parses {}-{})".format(
        report.model, report.soc, report.cann, report.opset, low, high), markup=False)
    render_findings(report.findings, console, empty=None)
    memory = report.facts.get("memory")
    if memory is not None:
        from ..onnx.memory import MemoryEstimate

        device = report.facts.get("device_memory_mb")
        console.print("memory: {}{}; device {}".format(
            MemoryEstimate(**{k: memory[k] for k in ("weights", "inputs", "outputs", "activations", "float_bytes",
                                                     "complete")}).summary(),
            "" if memory["complete"] else " (some shapes unknown: a lower bound)",
            "unknown" if device is None else "{:.1f} MiB".format(device)), markup=False)
    verdict = "ATC pre-flight passed" if report.ok else "ATC would refuse this model or the box would fail on it"
    console.print("{} error(s), {} warning(s): {}".format(len(report.errors), len(report.warnings), verdict))


def register(app: typer.Typer) -> None:
    @app.command("check")
    def check_cmd(
        model: Path = typer.Argument(..., help="ONNX model, or a DeploySpec (.yaml/.json) naming one."),
        soc: Optional[str] = typer.Option(None, "--soc", help="Target soc_version (default: the spec's, "
                                                              "else {}).".format(DEFAULT_SOC)),
        cann: Optional[str] = typer.Option(None, "--cann", help="CANN version on the box (default: the spec's, "
                                                                "else {}).".format(DEFAULT_CANN)),
        spec_path: Optional[Path] = typer.Option(None, "--spec", help="DeploySpec with frozen shapes, layouts "
                                                                      "and gears."),
        as_json: bool = JsonOption,
    ) -> None:
        """ATC pre-flight: opset, domains, operators, dynamic dims, dtypes, memory, layout; each with a fix."""
        from ..onnx.check import check
        from ..spec import DeploySpec

        spec = DeploySpec.load(spec_path) if spec_path is not None else None
        if model.suffix.lower() in SPEC_SUFFIXES:
            spec = spec or DeploySpec.load(model)
            model = spec.model_path
        report = check(model, soc=soc, cann=cann, spec=spec)
        emit(report.to_dict(), as_json, lambda c: _render(report, c))
        if not report.ok:
            raise typer.Exit(EXIT_FAILURE_FOUND)
