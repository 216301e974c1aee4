"""Imports point downwards only (DESIGN.md): cli > tools > tasks > runtime > ascend > onnx > core.

Checked on the source, lazy (function-level) imports included, so a layer cannot quietly reach upwards.
"""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "omdeploy"
RANK = {"cli": 7, "demo": 7, "serve": 6, "tools": 6, "tasks": 5, "zoo": 5, "runtime": 4, "ascend": 3, "onnx": 2,
        "bundle": 1}  # bundle: the archive format and its cache (pack, verify, selftest are tools)
# the package's own lazy facade (omdeploy.Session, omdeploy.export) sits above everything by design
FACADE = "omdeploy"
KNOWN_EXCEPTIONS = set()  # (module, imported) pairs allowed to point upwards: none


def rank(module: str) -> int:
    parts = module.split(".")
    return RANK.get(parts[1], 0) if len(parts) > 1 else 0


def imports(path: Path, module: str):
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = module.split(".")
            base = base if is_package else base[:-1]
            base = base[:len(base) - node.level + 1]
            target = ".".join(base + ([node.module] if node.module else []))
            if node.module:
                yield target, node.lineno
            else:
                for alias in node.names:
                    yield target + "." + alias.name, node.lineno
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            for name in names:
                if name.startswith("omdeploy."):
                    yield name, node.lineno


def test_imports_point_downwards():
    upwards = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts).replace(".__init__", "")
        if module == FACADE:
            continue
        for target, line in imports(path, module):
            if rank(target) > rank(module) and (module, target) not in KNOWN_EXCEPTIONS:
                upwards.append("{}:{} imports {}".format(module, line, target))
    assert upwards == []
