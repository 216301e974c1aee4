"""The three kinds of failure omdeploy reports, and how the CLI treats them.

- UserError: bad input, options or configuration. The CLI prints one line (plus a hint) and exits 2.
- ToolchainError: ATC, CANN or a runtime failed. Carries the diagnosis; the CLI exits 1.
- InternalError: a bug in omdeploy. The CLI asks for a report and exits 1.
"""
from __future__ import annotations

import difflib
import os
from pathlib import Path
from typing import Iterable, Optional, Sequence


class OmdeployError(Exception):
    exit_code = 1

    def __init__(self, message: str, hint: Optional[str] = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class UserError(OmdeployError):
    exit_code = 2


class MissingDependencyError(UserError):
    """An optional package is not installed; says which extra brings it."""

    def __init__(self, module: str, extra: Optional[str] = None, purpose: Optional[str] = None):
        what = "'{}'".format(module) + (" (needed for {})".format(purpose) if purpose else "")
        hint = "pip install 'omdeploy[{}]'".format(extra) if extra else "pip install {}".format(module)
        super().__init__("{} is not installed".format(what), hint=hint)
        self.module = module
        self.extra = extra


class ToolchainError(OmdeployError):
    exit_code = 1

    def __init__(self, message: str, hint: Optional[str] = None, diagnosis: Optional[object] = None,
                 log: Optional[str] = None):
        super().__init__(message, hint=hint)
        self.diagnosis = diagnosis
        self.log = log


class InternalError(OmdeployError):
    exit_code = 1


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """' (did you mean X?)' when a close match exists, else ''."""
    choices = [str(c) for c in choices]
    lowered = {c.lower(): c for c in choices}
    word = str(word).lower()
    match = difflib.get_close_matches(word, list(lowered), n=1, cutoff=0.6)
    if not match and len(word) >= 3:
        match = [c for c in lowered if c.startswith(word) or word.startswith(c)][:1]
    return " (did you mean '{}'?)".format(lowered[match[0]]) if match else ""


def one_of(choices: Sequence[object]) -> str:
    return ", ".join(str(c) for c in choices)


def check_output_file(path: os.PathLike, option: str, source: Optional[os.PathLike] = None) -> None:
    """Refuse, before any work, an output file that is a folder or that would overwrite the source."""
    path = Path(path)
    if path.is_dir():
        raise UserError("{} {} is a folder; expected a file name".format(option, path),
                        hint="e.g. {} {}".format(option, path / "out"))
    if source is not None and path.exists() and Path(source).exists() and path.samefile(source):
        raise UserError("{} {} would overwrite the input {}".format(option, path, source),
                        hint="write to a new file")
