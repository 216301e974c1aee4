"""Shared CLI plumbing: the console, --json rendering, exit codes, and options every verb takes."""
from __future__ import annotations

import json
import os
import sys
from typing import Any, Callable, Dict, List, Optional

import typer
from rich.console import Console
from rich.table import Table

from .._json import json_default
from ..errors import UserError

EXIT_OK = 0
EXIT_FAILURE_FOUND = 1  # the command worked and found a problem (check errors, compare mismatch, bad inputs)
EXIT_USER_ERROR = 2

# emoji=False: rich would turn a user's ':fire:' (names like 'input:0' hold colons) into an emoji
console = Console(highlight=False, soft_wrap=True, emoji=False)
err_console = Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)

_SEVERITY_STYLE = {"error": "bold red", "warning": "yellow", "info": "dim"}


def render_findings(findings: List[Any], out: Console, empty: Optional[str] = "no findings") -> None:
    """The one rendering of omdeploy.findings.Finding lists (check, doctor, convert): severity, rule, message,
    then what to do, the nodes it is about and where the rule comes from."""
    from rich.text import Text

    if not findings and empty:
        out.print(empty)
    for f in findings:
        out.print(Text.assemble(("{:<8}".format(f.severity), _SEVERITY_STYLE.get(f.severity, "")),
                                "{}: {}".format(f.rule, f.message)))
        for label, value in (("fix", f.fix), ("nodes", ", ".join(f.nodes)), ("source", f.source)):
            if value:
                out.print("        {}: {}".format(label, value), style="green" if label == "fix" else None,
                          markup=False)


def cpu_count() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


# numeric options that can exhaust the machine: their upper bounds
_BOUNDS = {"threads": lambda: cpu_count() * 4, "workers": lambda: cpu_count() * 4, "queue": lambda: 4096,
           "batch": lambda: 4096, "runs": lambda: 1000000, "warmup": lambda: 100000}


def check_bounds(**values: Optional[int]) -> None:
    """--threads 100000 hangs the machine: refuse values past the bound (threads/workers <= CPU count x 4)."""
    for name, value in values.items():
        if value is None:
            continue
        limit = _BOUNDS[name]()
        if value > limit:
            raise UserError("--{} {} is more than this machine can use (at most {}{})".format(
                name, value, limit, ", 4 x {} CPUs".format(cpu_count()) if name in ("threads", "workers") else ""),
                hint="--{} {}".format(name, min(limit, cpu_count())))


def live_display() -> bool:
    """Progress bars and spinners only on a terminal: on a pipe or a file rich leaves a blank line behind
    them, ahead of the one-line `error: ...` of a failure."""
    return err_console.is_terminal


JsonOption = typer.Option(False, "--json", help="Print the result as JSON on stdout.")


def dumps(data: Any) -> str:
    return json.dumps(data, indent=2, default=json_default, ensure_ascii=False)


def emit(data: Dict[str, Any], as_json: bool, render: Callable[[Console], object]) -> None:
    """One result, as JSON on stdout or rendered for people."""
    if as_json:
        sys.stdout.write(dumps(data) + "\n")
    else:
        render(console)


def table(title: Optional[str] = None, *columns: str, **kwargs: Any) -> Table:
    t = Table(title=title, title_justify="left", show_edge=False, pad_edge=False, **kwargs)
    for c in columns:
        t.add_column(c)
    return t


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return "{:.0f} {}".format(n, unit) if unit == "B" else "{:.1f} {}".format(n, unit)
        n /= 1024.0
    return str(n)


def human_count(n: float) -> str:
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= size:
            return "{:.2f}{}".format(n / size, unit)
    return str(int(n))


def progress_tracker(enabled: bool):
    """(bar, tracker): a rich progress bar on stderr (None without a terminal or when disabled) and
    tracker(label) -> update(done, total) for one of its tasks."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    if not enabled or not live_display():
        return None, lambda label: (lambda done, total: None)
    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), console=err_console,
                   transient=True)

    def tracker(label: str):
        task = bar.add_task(label, total=None)
        return lambda done, total: bar.update(task, completed=done, total=total)

    return bar, tracker
