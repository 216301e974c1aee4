"""omdeploy doctor: CANN parts, NPUs and Python checked for what breaks conversion and inference."""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from ..findings import by_severity
from ..ascend.doctor import DoctorReport, compare_snapshot, load_snapshot, run_doctor
from ..errors import UserError, check_output_file
from ._output import JsonOption, emit, render_findings, table

def _render(report: DoctorReport, console) -> None:
    host = report.host
    console.print("[bold]{}[/bold] {} {}, Python {}".format(host["hostname"], host["system"], host["arch"],
                                                            host["python"]))
    if report.cann.components:
        parts = table("CANN (home {})".format(report.cann.toolkit_home or "-"), "part", "version", "arch",
                      "in use", "path")
        for c in report.cann.components:
            parts.add_row(c.kind, c.version or "?", c.arch or "", "yes" if c.active else "", c.path)
        console.print(parts)
    else:
        console.print("CANN: nothing found under {}".format(", ".join(report.cann.roots) or "the default roots"))
    if report.npu and report.npu.chips:
        chips = table("NPUs (npu-smi {})".format(report.npu.version or "?"), "npu", "chip", "soc_version",
                      "health", "memory MB", "AI Core %")
        for chip in report.npu.chips:
            chips.add_row(str(chip.npu_id), str(chip.chip_id), chip.soc_version, chip.health,
                          "{} / {}".format(chip.memory_used_mb, chip.memory_total_mb), str(chip.aicore_percent))
        console.print(chips)
    if report.python:
        py = report.python
        installed = ", ".join("{} {}".format(k, v) for k, v in sorted(py.dists.items()) if v)
        console.print("Python {} ({}): {}".format(py.version, py.executable, installed or "-"), markup=False)
    console.print()
    render_findings(report.findings, console)
    if report.soc_version:
        console.print("\nsoc_version for convert: [bold]{}[/bold]".format(report.soc_version))


def _read_npu_smi(path: Optional[Path]) -> Optional[str]:
    if path is None:
        return None
    try:
        return path.read_bytes().decode("utf-8", errors="replace")
    except OSError as exc:
        raise UserError("cannot read the npu-smi output {}: {}".format(path, exc.strerror),
                        hint="save it on the box with: npu-smi info > npu-smi.txt") from None


def register(app: typer.Typer) -> None:
    @app.command("doctor")
    def doctor_cmd(
        root: Optional[List[Path]] = typer.Option(None, "--root", help="A CANN install root to examine instead "
                                                  "of /usr/local/Ascend and $HOME/Ascend (repeatable)."),
        npu_smi: Optional[Path] = typer.Option(None, "--npu-smi", help="Read `npu-smi info` output from this "
                                               "file instead of running npu-smi."),
        save: Optional[Path] = typer.Option(None, "--save", help="Write this machine's report to a JSON snapshot."),
        against: Optional[Path] = typer.Option(None, "--against", help="Compare with a snapshot from another "
                                               "machine (e.g. the training box)."),
        as_json: bool = JsonOption,
    ) -> None:
        """Check CANN versions, set_env.sh, ATC's Python, pyACL, torch_npu and the NPUs; exit 1 on errors."""
        for path in root or []:
            if not path.is_dir():
                raise UserError("--root {} {}; expected the folder CANN is installed in".format(
                    path, "does not exist" if not path.exists() else "is not a folder"),
                    hint="e.g. --root /usr/local/Ascend (the folder that holds ascend-toolkit/ or cann/)")
        if save is not None:
            check_output_file(save, "--save", against)
        other = load_snapshot(against) if against is not None else None
        report = run_doctor(roots=list(root) if root else None, npu_smi_text=_read_npu_smi(npu_smi))
        if other is not None:
            found = compare_snapshot(report, other, str(against)) + report.findings
            report.findings = by_severity(found)
        if save is not None:
            report.save(save)
        data = report.to_dict()
        if save is not None:
            data["saved"] = str(save)

        def render(console) -> None:
            _render(report, console)
            if save is not None:
                console.print("snapshot written to {}".format(save), markup=False)

        emit(data, as_json, render)
        if report.errors:
            raise typer.Exit(1)
