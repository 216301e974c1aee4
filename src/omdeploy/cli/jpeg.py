"""omdeploy jpeg PATHS...: will the DVPP JPEG decoder take these files? Headers only, no decoding."""
from __future__ import annotations

from pathlib import Path
from typing import List

import typer

from ..ascend.jpeg import JPEG_SUFFIXES, JpegCheck, check_jpeg
from ..errors import UserError, did_you_mean
from ..chips import DEFAULT_SOC, SOC_NAME_RULE, SOC_VERSIONS
from ..tasks.image import files_with_suffixes
from ._output import JsonOption, emit, table


def _render(results: List[JpegCheck], show_all: bool, console) -> None:
    rows = table(None, "file", "verdict", "why")
    fixes = {}
    for r in results:
        if r.ok and show_all:
            rows.add_row(r.path, "ok", "{} {} {}x{}".format(r.process, r.subsampling, r.width, r.height))
        for p in r.problems:
            rows.add_row(r.path, "rejected", p.message)
            fixes[p.rule] = p.fix
    if rows.row_count:
        console.print(rows)
    for code, fix in fixes.items():
        console.print("fix ({}): {}".format(code, fix), markup=False)
    accepted = sum(r.ok for r in results)
    console.print("{} of {} JPEG files accepted by the DVPP decoder".format(accepted, len(results)))


def register(app: typer.Typer) -> None:
    @app.command("jpeg")
    def jpeg_cmd(
        paths: List[Path] = typer.Argument(..., help="JPEG files, or folders searched recursively."),
        soc: str = typer.Option(DEFAULT_SOC, "--soc", help="Target soc_version (size limits differ per chip)."),
        show_all: bool = typer.Option(False, "--all", help="List accepted files too."),
        as_json: bool = JsonOption,
    ) -> None:
        """Check from the headers alone whether the DVPP JPEG decoder accepts each file, why not, how to fix it."""
        if soc not in SOC_VERSIONS:
            raise UserError("unknown soc_version {!r}{}".format(soc, did_you_mean(soc, SOC_VERSIONS)),
                            hint=SOC_NAME_RULE)
        results = [check_jpeg(p, soc) for p in files_with_suffixes(paths, JPEG_SUFFIXES)]
        accepted = sum(r.ok for r in results)
        data = {"soc_version": soc, "files": [r.to_dict() for r in results],
                "summary": {"checked": len(results), "accepted": accepted, "rejected": len(results) - accepted}}
        emit(data, as_json, lambda c: _render(results, show_all, c))
        if accepted < len(results):
            raise typer.Exit(1)
