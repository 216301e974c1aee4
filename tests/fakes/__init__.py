"""Strict fakes of the on-box runtimes (pyACL's `acl`, MindX's `mindx.sdk`), for tests only.

They are importable only inside `fakes_on_path()`, which puts this folder on sys.path and gives each test
a fresh fake device and a fresh omdeploy runtime module (whose process-wide state would otherwise carry
over from one test to the next).
"""
from __future__ import annotations

import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

FAKES = str(Path(__file__).resolve().parent)
_FRESH = ("acl", "mindx", "fake_om", "omdeploy.runtime.acl", "omdeploy.runtime.mindx")


def _forget_modules() -> None:
    for name in list(sys.modules):
        if any(name == m or name.startswith(m + ".") for m in _FRESH):
            del sys.modules[name]


@contextmanager
def fakes_on_path() -> Iterator[None]:
    _forget_modules()
    sys.path.insert(0, FAKES)
    try:
        yield
    finally:
        sys.path.remove(FAKES)
        _forget_modules()
