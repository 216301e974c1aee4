"""omdeploy verify BUNDLE.tar: integrity, environment, golden outputs and a short bench on this machine."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..errors import UserError, check_output_file
from ._output import JsonOption, emit, err_console

_STYLE = {"pass": "green", "fail": "bold red", "skip": "dim"}


def render_checks(report, console) -> None:
    for c in report.checks:
        console.print("{:<5} ".format(c.status.upper() if c.status == "fail" else c.status), style=_STYLE[c.status],
                      end="", markup=False)
        console.print("{:<19} {}".format(c.name, c.detail), markup=False)
        if c.fix and c.status == "fail":
            console.print("      fix: {}".format(c.fix), style="green", markup=False)
    console.print("[green]PASS[/green]" if report.passed else "[red]FAIL[/red]")


def register(app: typer.Typer) -> None:
    from ..tools.verify import VERIFY_BACKENDS

    @app.command("verify")
    def verify_cmd(
        bundle: Path = typer.Argument(..., help="The bundle written by omdeploy pack (BUNDLE.tar)."),
        backend: str = typer.Option("auto", "--backend", "-b", help="{} (auto: the .om on the NPU when there is "
                                    "one, else the simulator).".format("|".join(VERIFY_BACKENDS))),
        build: bool = typer.Option(False, "--build", help="Without an .om inside: build it with this machine's atc "
                                   "from the plan."),
        report: Optional[Path] = typer.Option(None, "--report", help="Write the report as FILE.json and FILE.md."),
        as_json: bool = JsonOption,
    ) -> None:
        """Check a bundle on this machine; exit 0 when every check passes, 1 when one fails."""
        from ..bundle.manifest import is_bundle
        from ..tools.verify import verify

        if not bundle.is_file():
            raise UserError("{} {}".format(bundle, "does not exist" if not bundle.exists() else "is not a file"),
                            hint="give the .tar written by omdeploy pack")
        if not is_bundle(bundle):
            raise UserError("{} is not a bundle (a .tar whose first member is bundle.json)".format(bundle),
                            hint="pack one with: omdeploy pack deploy.yaml -o bundle.tar -i photos/")
        if report is not None:
            check_output_file(report, "--report", bundle)
        say = (lambda text: None) if as_json else (lambda text: err_console.print(text, markup=False, style="dim"))
        result = verify(bundle, backend=backend, build=build, say=say)
        data = result.to_dict()
        if report is not None:
            data["report_files"] = [str(p) for p in result.write(report)]
        emit(data, as_json, lambda console: render_checks(result, console))
        if not result.passed:
            raise typer.Exit(1)
