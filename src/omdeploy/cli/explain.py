"""omdeploy explain (CODE | RULE | LOGFILE | PLOG_DIR | -): what an aclError code, a finding's rule or a CANN log
means, and the fix."""
from __future__ import annotations

import re
from pathlib import Path
from typing import List

import typer

from ..ascend.knowledge import (AclCode, Diagnosis, LogText, code_class, describe_code, diagnose_logs,
                                patterns_for_code, read_logs)
from ..errors import UserError
from ._output import JsonOption, emit, err_console, live_display

_NUMBER = re.compile(r"^\d{1,9}$")
_LOG_CODE = re.compile(r"^(E[A-Z]?\d{4,5}|W\d{5})$", re.I)
_HINT = "omdeploy explain 507011 | explain EC0010 | explain atc.log | explain ~/ascend/log/debug/plog/ | ... | explain -"


def _render_code(code: AclCode, console) -> None:
    console.print("[bold]{}[/bold] {}: {}".format(code.code, code.name, code.meaning))
    if code.category:
        console.print("class: {}".format(code.category), style="dim", markup=False)
    console.print("likely causes:")
    for cause in code.causes:
        console.print("  - " + cause, markup=False)
    console.print("fix:")
    for i, fix in enumerate(code.fixes, 1):
        console.print("  {}. {}".format(i, fix), markup=False)


def _render_diagnoses(diagnoses: List[Diagnosis], logs: List[LogText], console) -> None:
    for log in logs:
        for note in log.notes:
            console.print("note: " + note, style="dim", markup=False)
    if not diagnoses:
        console.print("nothing recognised in {} ({} lines)".format(
            ", ".join(log.name for log in logs) or "the input", sum(len(log.text.splitlines()) for log in logs)),
            markup=False)
        return
    for n, d in enumerate(diagnoses, 1):
        head = "{}. {}".format(n, d.title) + (" [{}]".format(d.code) if d.code else "")
        console.print(head, style="bold" if n == 1 else None, markup=False)
        console.print("   {} ({} confidence)".format(d.role, d.confidence), style="dim", markup=False)
        where = "{}:{}".format(d.source, d.line) if d.source and len(logs) > 1 else "line {}".format(d.line)
        console.print("   evidence ({}): {}".format(where, d.evidence), markup=False)
        console.print("   cause: " + d.cause, markup=False)
        for i, fix in enumerate(d.fixes, 1):
            console.print("   fix {}: {}".format(i, fix), style="green", markup=False)


def _explain_code(number: int, as_json: bool) -> None:
    known = describe_code(number)
    if known is None:
        klass = code_class(number)
        emit({"code": number, "known": False, "class": klass}, as_json, lambda c: c.print(
            "{} is not in the aclError table{}".format(
                number, "; its class: " + klass["label"] if klass else ""), markup=False))
        raise typer.Exit(1)
    emit({"code": number, "known": True, **known.to_dict()}, as_json, lambda c: _render_code(known, c))


def _explain_log_code(code: str, as_json: bool) -> None:
    rows = patterns_for_code(code)
    if not rows:
        raise UserError("{} is not a code omdeploy has log rules for".format(code),
                        hint="give the whole log instead: omdeploy explain atc.log (or - for stdin)")
    data = [{"id": p.id, "title": p.title, "cause": p.cause, "fixes": p.fixes, "example": p.example} for p in rows]

    def render(console) -> None:
        for p in rows:
            console.print("[bold]{}[/bold]: {}".format(code, p.title))
            console.print("  e.g. " + p.example.splitlines()[-1], style="dim", markup=False)
            console.print("  cause: " + p.cause, markup=False)
            for i, fix in enumerate(p.fixes, 1):
                console.print("  fix {}: {}".format(i, fix), style="green", markup=False)

    emit({"code": code, "patterns": data}, as_json, render)


def _diagnose(logs: List[LogText], show_progress: bool) -> List[Diagnosis]:
    if not show_progress or not live_display():
        return diagnose_logs(logs)
    from rich.progress import Progress

    with Progress(console=err_console, transient=True) as progress:
        task = progress.add_task("reading logs", total=len(logs))
        return diagnose_logs(logs, on_each=lambda log: progress.advance(task))


def register(app: typer.Typer) -> None:
    @app.command("explain")
    def explain_cmd(
        target: str = typer.Argument(..., help="An aclError code (507011), an ATC code (EC0010), a finding's rule "
                                               "(opset-range), a log file, a plog directory "
                                               "(~/ascend/log/debug/plog/) or - for stdin."),
        as_json: bool = JsonOption,
    ) -> None:
        """Explain an error code or find the root cause in ATC output, plogs or a Python traceback."""
        from ..findings import rule, rules

        if not target.strip():
            raise UserError("expected an error code, a rule id, a log file, a plog directory or -, got an empty "
                            "argument", hint=_HINT)
        known = rule(target)
        if known is not None:  # a rule id wins over a file of that name (./NAME, not a rule id, reads the file)
            emit(known._asdict(), as_json, lambda c: c.print("{} ({}'s rule, at worst {}): checks {}".format(
                known.id, known.checker, known.severity, known.what), markup=False))
            return None
        is_path = target != "-" and Path(target).expanduser().exists()
        if _NUMBER.match(target) and not is_path:
            return _explain_code(int(target), as_json)
        if _LOG_CODE.match(target) and not is_path:
            return _explain_log_code(target.upper(), as_json)
        if target != "-" and not is_path:
            from ..errors import did_you_mean

            raise UserError("expected an error code, a rule id, a log file, a plog directory or -, got '{}': no such "
                            "file and no rule of that id{}".format(target, did_you_mean(target, rules())), hint=_HINT)
        try:
            logs = read_logs(target)
        except OSError as exc:
            raise UserError("cannot read {}: {}".format(target, exc.strerror), hint=_HINT) from None
        diagnoses = _diagnose(logs, show_progress=len(logs) > 1 and not as_json)
        data = {"input": target, "files": [{"name": log.name, "lines": len(log.text.splitlines()),
                                            "binary": log.binary, "truncated": log.truncated} for log in logs],
                "notes": [n for log in logs for n in log.notes],
                "diagnoses": [d.to_dict() for d in diagnoses]}
        emit(data, as_json, lambda c: _render_diagnoses(diagnoses, logs, c))
        if any(d.role != "noise" for d in diagnoses):
            raise typer.Exit(1)
