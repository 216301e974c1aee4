"""An offline wheelhouse for the box: omdeploy and what it needs there, for one Python and platform.

    build_wheelhouse("cp38-aarch64", Path("wheels/cp38-aarch64"))   # + requirements.txt and install.sh

Two traps this avoids. onnxruntime's aarch64 wheels from 1.17 on are tagged only manylinux_2_27/2_28, so
`pip download --platform manylinux2014_aarch64` alone silently stops at 1.16.3: every manylinux tag of the
target is given. And pip evaluates the environment markers of dependencies for the machine it runs on, not for
`--python-version` (a Python 3.11 host drops `typing-extensions; python_version < "3.11"` that a 3.8 box
needs): each package is downloaded with --no-deps and its Requires-Dist are evaluated here for the target, then
downloaded the same way, each at the newest version that supports the target's Python and platform
(onnxruntime 1.19.2 and numpy 1.24.4 for cp38). Downloads and resolutions are cached in
$OMDEPLOY_WHEEL_CACHE or <cache>/wheels/<target>/ (delete it to resolve the newest versions again).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from ..errors import ToolchainError, UserError, one_of
from ..fileio import write_text

PYTHONS = ("cp38", "cp39", "cp310", "cp311", "cp312")
ARCHES = ("aarch64", "x86_64")
# the box's runtime: numpy, onnxruntime (and onnx, the simulator and the model's inputs), images, the CLI
BOX_PACKAGES = ("numpy", "onnxruntime", "onnx", "Pillow", "pyyaml", "typer", "rich", "opencv-python-headless")
_TARGET = re.compile(r"^cp3(\d+)-(aarch64|x86_64)$")


def parse_target(text: str) -> Tuple[str, str, str]:
    """'cp38-aarch64' -> ('3.8', 'cp38', 'aarch64')."""
    match = _TARGET.match(text.strip())
    if not match or "cp3" + match.group(1) not in PYTHONS:
        raise UserError("--wheels {!r}: expected cpXY-ARCH with cpXY one of {} and ARCH one of {}".format(
            text, one_of(PYTHONS), one_of(ARCHES)), hint="--wheels cp38-aarch64")
    return "3." + match.group(1), "cp3" + match.group(1), match.group(2)


def platforms(arch: str) -> List[str]:
    return ["manylinux_2_28_" + arch, "manylinux_2_27_" + arch, "manylinux_2_17_" + arch, "manylinux2014_" + arch]


def marker_environment(python: str, arch: str) -> Dict[str, str]:
    """The environment markers of a CPython `python` on Linux `arch` (PEP 508)."""
    return {"python_version": python, "python_full_version": python + ".0", "platform_machine": arch,
            "sys_platform": "linux", "platform_system": "Linux", "os_name": "posix",
            "implementation_name": "cpython", "platform_python_implementation": "CPython",
            "implementation_version": python + ".0", "platform_release": "", "platform_version": "", "extra": ""}


def _packaging():
    try:
        from packaging.requirements import Requirement
        from packaging.utils import canonicalize_name
    except ImportError:  # pip vendors it
        from pip._vendor.packaging.requirements import Requirement
        from pip._vendor.packaging.utils import canonicalize_name
    return Requirement, canonicalize_name


def _requires(wheel: Path) -> List[str]:
    """Requires-Dist of a wheel, from its METADATA."""
    with zipfile.ZipFile(str(wheel)) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        text = archive.read(name).decode("utf-8", errors="replace")
    return [line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("Requires-Dist:")]


def _wheel_version(wheel: Path) -> str:
    return wheel.name.split("-")[1]


def _download(requirement: str, python: str, abi: str, arch: str, cache: Path) -> Path:
    """The newest wheel satisfying `requirement` for the target (cached: the same requirement is resolved once)."""
    index_file = cache / "resolved.json"
    resolved = json.loads(index_file.read_text()) if index_file.is_file() else {}
    known = resolved.get(requirement)
    if known and (cache / known).is_file():
        return cache / known
    with tempfile.TemporaryDirectory(prefix="omdeploy-wheel-") as tmp:
        argv = [sys.executable, "-m", "pip", "download", "-q", "--disable-pip-version-check", "--no-deps",
                "--only-binary=:all:", "--implementation", "cp", "--python-version", python, "--abi", abi]
        for platform in platforms(arch):
            argv += ["--platform", platform]
        proc = subprocess.run(argv + ["-d", tmp, requirement], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if proc.returncode != 0:
            lines = [line for line in proc.stdout.decode("utf-8", "replace").splitlines() if line.strip()]
            raise ToolchainError("pip download {} for {} {} failed: {}".format(
                requirement, abi, arch, lines[-1] if lines else "exit {}".format(proc.returncode)),
                hint="check the network (or the pip index set in pip.conf); pip download -v shows why")
        got = sorted(Path(tmp).glob("*.whl"))
        if len(got) != 1:
            raise ToolchainError("pip download {} gave {} wheels, expected one".format(requirement, len(got)))
        cache.mkdir(parents=True, exist_ok=True)
        target = cache / got[0].name
        if not target.is_file():
            shutil.move(str(got[0]), str(target))
    resolved[requirement] = target.name
    write_text(index_file, json.dumps(resolved, indent=2, sort_keys=True) + "\n")
    return target


def _has_setuptools(major: int) -> bool:
    """setuptools >= `major` here (pyproject.toml's [project] table needs 61)."""
    try:
        from importlib.metadata import version
    except ImportError:  # Python 3.7
        return False
    try:
        return int(version("setuptools").split(".")[0]) >= major
    except Exception:  # not installed, or an odd version string
        return False


def omdeploy_wheel(out: Path) -> Path:
    """omdeploy's own wheel, built from the source tree this omdeploy runs from (pip wheel --no-deps)."""
    source = Path(__file__).resolve().parents[3]
    if not (source / "pyproject.toml").is_file():
        raise UserError("omdeploy runs from an installed copy ({}), not a source checkout: its wheel cannot be "
                        "built here".format(Path(__file__).resolve().parents[1]),
                        hint="pack --wheels from a source checkout of omdeploy (pip install -e .)")
    with tempfile.TemporaryDirectory(prefix="omdeploy-wheel-") as tmp:
        # built from a copy: setuptools' build/ folder in the tree can carry modules deleted since
        tree = Path(tmp) / "source"
        shutil.copytree(str(source / "src"), str(tree / "src"),
                        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "*.pyc"))
        for name in ("pyproject.toml", "README.md", "LICENSE"):
            if (source / name).is_file():
                shutil.copy2(str(source / name), str(tree / name))
        isolation = ["--no-build-isolation"] if _has_setuptools(61) else []  # else pip fetches setuptools
        proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--disable-pip-version-check", "--no-deps"]
                              + isolation + ["-w", tmp, str(tree)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        wheels = sorted(Path(tmp).glob("omdeploy-*.whl"))
        if proc.returncode != 0 or not wheels:
            raise ToolchainError("building omdeploy's wheel failed: {}".format(
                proc.stdout.decode("utf-8", "replace").strip().splitlines()[-1:]))
        out.mkdir(parents=True, exist_ok=True)
        shutil.copy2(str(wheels[0]), str(out / wheels[0].name))
        return out / wheels[0].name


_INSTALL = """#!/bin/sh
# Installs omdeploy and its runtime for {abi} {arch} from this folder, offline (written by omdeploy pack).
#   sh install.sh                    # into python3's environment (a venv: python3 -m venv /opt/omdeploy first)
#   PYTHON=/opt/omdeploy/bin/python sh install.sh
set -e
here="$(cd "$(dirname "$0")" && pwd)"
PYTHON="${{PYTHON:-python3}}"
"$PYTHON" -c 'import platform, sys
want = ("{python}", "{arch}")
have = ("%d.%d" % sys.version_info[:2], platform.machine())
if have != want:
    sys.exit("install.sh: these wheels are for Python %s on %s, %s is Python %s on %s" % (want + (sys.executable,) + have))'
"$PYTHON" -m pip install --no-index --find-links "$here" -r "$here/requirements.txt"
"$PYTHON" -m omdeploy.cli.main --version
"""


def build_wheelhouse(target: str, out: Path, packages: Tuple[str, ...] = BOX_PACKAGES,
                     cache: Optional[Path] = None) -> List[Path]:
    """Every wheel the box needs for `target` in `out`, with requirements.txt (name==version) and install.sh."""
    from .cache import cache_root

    Requirement, canonical = _packaging()
    python, abi, arch = parse_target(target)
    cache = cache or Path(os.environ.get("OMDEPLOY_WHEEL_CACHE") or cache_root() / "wheels") / target
    env = marker_environment(python, arch)
    chosen: Dict[str, Path] = {}
    wanted: Dict[str, List[str]] = {}
    queue = [str(p) for p in packages]
    omdeploy = omdeploy_wheel(out)
    queue += _requires(omdeploy)
    while queue:
        req = Requirement(queue.pop(0))
        if req.marker is not None and not req.marker.evaluate(env):
            continue
        name = canonical(req.name)
        wanted.setdefault(name, [])
        if str(req.specifier) and str(req.specifier) not in wanted[name]:
            wanted[name].append(str(req.specifier))
        have = chosen.get(name)
        if have is not None and all(Requirement("x" + s).specifier.contains(_wheel_version(have), prereleases=True)
                                    for s in wanted[name]):
            continue
        wheel = _download(req.name + ",".join(wanted[name]), python, abi, arch, cache)
        chosen[name] = wheel
        queue += _requires(wheel)
    out.mkdir(parents=True, exist_ok=True)
    for wheel in chosen.values():
        shutil.copy2(str(wheel), str(out / wheel.name))
    lines = ["omdeploy=={}".format(_wheel_version(omdeploy))]
    lines += sorted("{}=={}".format(name, _wheel_version(w)) for name, w in chosen.items())
    write_text(out / "requirements.txt", "\n".join(lines) + "\n")
    script = out / "install.sh"
    write_text(script, _INSTALL.format(abi=abi, arch=arch, python=python))
    os.chmod(str(script), 0o755)
    return [omdeploy] + [out / w.name for w in chosen.values()]


__all__ = ["build_wheelhouse", "parse_target", "BOX_PACKAGES", "PYTHONS", "ARCHES"]
