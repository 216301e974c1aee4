"""omdeploy demo: the whole workflow on real bundled assets, writing a report folder."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ._output import JsonOption, console, emit


def register(app: typer.Typer) -> None:
    @app.command("demo")
    def demo_cmd(
        out: Path = typer.Option(Path("omdeploy-demo"), "--out", "-o", help="Report folder."),
        assets_dir: Optional[Path] = typer.Option(None, "--assets", help="Asset cache (default: .assets or "
                                                                          "$OMDEPLOY_ASSETS)."),
        as_json: bool = JsonOption,
    ) -> None:
        """Run the whole workflow on real assets: export, inspect, check, convert plan, simulate + compare, run, bench, OCR."""
        from ..demo import run_demo

        say = (lambda s: None) if as_json else (lambda s: console.print(s, markup=False, highlight=False))
        report = run_demo(out, say=say, assets_root=assets_dir)
        if as_json:
            emit(report, True, lambda c: None)
