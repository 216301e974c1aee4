"""omdeploy selftest: tiny models through this box's atc, pyACL (MindX) vs onnxruntime vs the simulator."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..chips import SOC_NAME_RULE
from ..errors import check_output_file
from ._output import JsonOption, emit, err_console


def register(app: typer.Typer) -> None:
    @app.command("selftest")
    def selftest_cmd(
        soc: Optional[str] = typer.Option(None, "--soc", help="soc_version to build for (default: npu-smi's)."),
        report: Optional[Path] = typer.Option(None, "--report", help="Write the report as FILE.json and FILE.md "
                                              "(attach the JSON to an issue)."),
        keep: Optional[Path] = typer.Option(None, "--keep", help="Build in this folder and keep the models."),
        as_json: bool = JsonOption,
    ) -> None:
        """Measure what the docs leave open for hardware; exit 1 when CANN is missing or a check fails."""
        from ..tools.selftest import selftest
        from .verify import render_checks

        if report is not None:
            check_output_file(report, "--report")
        if soc is not None:
            from ..errors import UserError, did_you_mean
            from ..spec import SOC_VERSIONS

            if soc not in SOC_VERSIONS:
                raise UserError("--soc {!r} is not an Ascend soc_version{}".format(soc, did_you_mean(soc, SOC_VERSIONS)),
                                hint=SOC_NAME_RULE)
        say = (lambda text: None) if as_json else (lambda text: err_console.print(text, markup=False, style="dim"))
        result = selftest(soc=soc, work=keep, say=say)
        data = result.to_dict()
        if report is not None:
            data["report_files"] = [str(p) for p in result.write(report)]

        def render(console) -> None:
            render_checks(result, console)
            for q in result.facts["questions"]:
                console.print("{}: {}".format(q["id"], q["answer"]), markup=False)
            console.print(result.facts["how_to_send"], markup=False, style="dim")

        emit(data, as_json, render)
        if not result.passed:
            raise typer.Exit(1)
