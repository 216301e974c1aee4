"""omdeploy spec: validate a DeploySpec, print its schema, or write a starting spec from an ONNX model."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..chips import DEFAULT_CANN, DEFAULT_SOC
from ..errors import UserError, check_output_file
from ..spec import DeploySpec
from ..tools.spec_init import refuse_invalid
from ._output import JsonOption, dumps, emit


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
