"""omdeploy spec: validate a DeploySpec, print its schema, or write a starting spec from an ONNX model."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..chips import DEFAULT_CANN, DEFAULT_SOC
from ..errors import UserError, check_output_file
from ..spec import DeploySpec, InputSpec, OutputSpec, guess_layout
from ._output import JsonOption, dumps, emit


def spec_from_model(model: Path, soc: str, cann: str) -> DeploySpec:
    """The bare spec convert uses for an ONNX model given without one (its inputs as they are)."""
    from ..onnx.inspect import summarize

    summary = summarize(model)
    inputs = [InputSpec(t.name, [d if isinstance(d, int) else -1 for d in t.shape], t.dtype,
                        guess_layout(t.shape)) for t in summary.inputs]
    outputs = [OutputSpec(t.name) for t in summary.outputs]
    spec = DeploySpec.from_dict({"model": str(model), "target": {"soc_version": soc, "cann": cann}},
                                source="generated spec")
    spec.inputs, spec.outputs = inputs, outputs
    return spec


def refuse_invalid(spec: DeploySpec, source: str) -> None:
    """Exit 2 listing every problem: the rules convert applies against the model, then ATC's option rules."""
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


def register(app: typer.Typer) -> None:
    @app.command("spec")
    def spec_cmd(
        path: Optional[Path] = typer.Argument(None, help="A DeploySpec (.yaml/.json) to validate, or with "
                                                         "--init an ONNX model to start one from."),
        schema: bool = typer.Option(False, "--schema", help="Print every key of a DeploySpec."),
        init: bool = typer.Option(False, "--init", help="Write a starting spec for the ONNX model PATH."),
        soc: str = typer.Option(DEFAULT_SOC, "--soc", help="Target soc_version (with --init)."),
        cann: str = typer.Option(DEFAULT_CANN, "--cann", help="Target CANN version (with --init)."),
        output: Optional[Path] = typer.Option(None, "--output", "-o", help="Where --init writes the spec."),
        as_json: bool = JsonOption,
    ) -> None:
        """Validate a DeploySpec, print its schema, or start one from an ONNX model (--init)."""
        if schema:
            lines = DeploySpec.schema_lines()
            emit({"schema": lines}, as_json, lambda c: [c.print(line, markup=False) for line in lines])
            return
        if path is None:
            raise UserError("expected a spec file (or an ONNX model with --init), got nothing",
                            hint="omdeploy spec deploy.yaml | omdeploy spec --init model.onnx | omdeploy spec --schema")
        if init:
            target = output or path.with_suffix(".deploy.yaml")
            check_output_file(target, "-o", path)
            from ..tools.spec_init import init_spec, save_portable

            spec = init_spec(path, target, soc, cann)
            save_portable(spec, target)
            emit({"written": str(target), "spec": spec.to_dict()}, as_json,
                 lambda c: c.print("wrote {}".format(target), markup=False))
            return
        if path.suffix.lower() == ".onnx":
            raise UserError("{} is an ONNX model; expected a spec (.yaml/.json) to validate".format(path),
                            hint="start a spec from it: omdeploy spec --init {}".format(path))
        spec = DeploySpec.load(path)
        refuse_invalid(spec, str(path))
        data = spec.to_dict()
        emit({"valid": True, "spec": data}, as_json,
             lambda c: (c.print("{}: valid".format(path), markup=False), c.print(dumps(data), markup=False)))
