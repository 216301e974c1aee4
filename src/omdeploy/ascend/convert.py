"""Running ATC for a DeploySpec: find `atc`, prepare the environment it needs, run it in a temporary working
directory with its log captured, and write the sidecar `<model>.om.json` (docs/reference.md [atc-options], [cann-install]).

With `plan=True`, or when no atc is found, nothing is converted: the exact command is written as a runnable
shell script next to the AIPP file and a sidecar marked `built: false`. A `.om` is never pretended.
"""
from __future__ import annotations

import datetime
import importlib.util
import logging
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple

from ..errors import UserError
from ..findings import Finding
from ..fileio import file_sha256, write_text
from ..log import logger
from ..spec import DeploySpec, FileRef, InputSpec, Sidecar
from . import setenv
from .aipp import aipp_inputs, aipp_text_for_spec
from .atc import build_argv, format_command, output_stem

# where atc's toolkit home sits under an install root: <= 8.3 / 8.5+ (data/environment.json install_layout)
TOOLKIT_SUBDIRS = tuple(setenv.install_layout()["toolkit_homes"])

STATUSES = ("built", "planned", "no_atc", "failed")


@dataclass
class AtcInstall:
    atc: Path
    home: Optional[Path]        # the toolkit home (ascend-toolkit/latest), when known
    found_by: str               # PATH, ASCEND_TOOLKIT_HOME, or the default root
    version: Optional[str] = None


def _looks_like_toolkit(home: Path) -> bool:
    return (home / "opp").is_dir() or (home / "lib64").is_dir()


def _toolkit_home(atc: Path) -> Optional[Path]:
    """<H> of <H>/bin/atc, following a symlinked atc (e.g. /usr/local/bin/atc) when needed."""
    for candidate in (atc.parent.parent, atc.resolve().parent.parent):
        if _looks_like_toolkit(candidate):
            return candidate
    return None


def toolkit_version(home: Optional[Path]) -> Optional[str]:
    """The release of the toolkit at `home`, read by the CANN install scanner."""
    if home is None:
        return None
    from .cann import scan

    for part in scan(roots=[setenv.root_of_home(home)]).of_kind("toolkit"):
        if os.path.realpath(part.path) == os.path.realpath(str(home)):
            return part.version
    return None


def find_atc(env: Optional[Mapping[str, str]] = None) -> Optional[AtcInstall]:
    """atc from PATH, then $ASCEND_TOOLKIT_HOME/bin, then the default install roots; None when absent."""
    from .cann import default_roots

    env = os.environ if env is None else env
    candidates: List[Tuple[Optional[str], str]] = [(shutil.which("atc", path=env.get("PATH", "")), "PATH")]
    if env.get("ASCEND_TOOLKIT_HOME"):
        candidates.append((str(Path(env["ASCEND_TOOLKIT_HOME"]) / "bin" / "atc"), "ASCEND_TOOLKIT_HOME"))
    for root in default_roots(env)[:2]:  # /usr/local/Ascend, $HOME/Ascend
        for sub in TOOLKIT_SUBDIRS:
            candidates.append((str(root / sub / "bin" / "atc"), "default root {}".format(root)))
    for path, how in candidates:
        if path and os.path.isfile(path) and os.access(path, os.X_OK):
            atc = Path(path)
            home = _toolkit_home(atc)
            return AtcInstall(atc, home, how, toolkit_version(home))
    return None


def _arch() -> str:
    return platform.machine() or "x86_64"


def _add_hal_library(out: Dict[str, str], home: Path) -> Optional[Finding]:
    """Without a driver (x86 training boxes) atc.bin needs libascend_hal.so from devlib (the seed's fix) or the
    stub; the library and the directories are the doctor's table (data/environment.json)."""
    from .doctor import rules

    table = rules()
    library = table["hal_library"]
    dirs = [d for d in out.get("LD_LIBRARY_PATH", "").split(os.pathsep) if d]
    if any((Path(d) / library).exists() for d in dirs):
        return None
    for template in table["hal_stub_dirs"]:
        extra = Path(template.format(home=home, arch=_arch()))
        if (extra / library).exists():
            out["LD_LIBRARY_PATH"] = os.pathsep.join([str(extra)] + dirs)
            return Finding("info", "env.devlib", "added {} to LD_LIBRARY_PATH for {}".format(extra, library),
                           "export LD_LIBRARY_PATH={}:$LD_LIBRARY_PATH".format(extra))
    return None


def atc_environment(install: AtcInstall, env: Optional[Mapping[str, str]] = None) -> Tuple[Dict[str, str], List[Finding]]:
    """The environment to run atc with, and what had to be fixed or is still missing."""
    out = dict(os.environ if env is None else env)
    home = install.home
    if home is None:
        return out, [Finding("warning", "cann.found", "cannot tell the toolkit home of {}".format(install.atc),
                             "source <toolkit>/set_env.sh before running omdeploy convert")]
    findings: List[Finding] = []
    if not out.get("ASCEND_OPP_PATH"):
        setenv.apply(out, home=str(home), root=str(setenv.root_of_home(home)), arch=_arch())
        findings.append(Finding("info", "env.set_env", "set_env.sh was not sourced: omdeploy set the variables it sets, from {}"
                                .format(home), "source {}/set_env.sh".format(home.parent)))
    hal = _add_hal_library(out, home)
    if hal is not None:
        findings.append(hal)
    findings.extend(python_findings(out))
    return out, findings


def python_findings(env: Mapping[str, str], table: Optional[Mapping[str, Any]] = None) -> List[Finding]:
    """What the `python3` atc will use lacks (the seed's EC0010 'No module named decorator / tbe', NumPy 2's
    missing np.float_), by the doctor's rules (doctor.atc_python_findings)."""
    from .doctor import atc_python_findings, probe_python, rules

    table = rules() if table is None else table
    python = shutil.which("python3", path=env.get("PATH", ""))
    if python is None:
        return [Finding("error", "python.atc", "no python3 on PATH: ATC's op compiler runs Python",
                        "install python3 (3.7-3.10 for CANN 8.0)")]
    try:
        probe = probe_python(python, env, table["toolkit_imports"], [row["dist"] for row in table["atc_python"]],
                             load=False, timeout=60)
    except (OSError, RuntimeError, ValueError, subprocess.SubprocessError) as exc:
        return [Finding("warning", "python.atc", "could not check {}'s modules: {}".format(python, exc))]
    return atc_python_findings(probe, "error", table=table)


# ---------------------------------------------------------------------------------------------------


@dataclass
class ConvertResult:
    status: str                                # built | planned | no_atc | failed
    om: Path
    sidecar: Optional[Path]
    script: Path
    argv: List[str]
    aipp_file: Optional[Path] = None
    log: Optional[Path] = None
    atc: Optional[AtcInstall] = None
    returncode: Optional[int] = None
    findings: List[Finding] = field(default_factory=list)
    diagnoses: List[Dict[str, Any]] = field(default_factory=list)
    error_lines: List[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status in ("built", "planned")

    def to_dict(self) -> Dict[str, Any]:
        return {
            "status": self.status, "built": self.status == "built", "om": str(self.om),
            "sidecar": str(self.sidecar) if self.sidecar else None, "script": str(self.script),
            "aipp_file": str(self.aipp_file) if self.aipp_file else None, "log": str(self.log) if self.log else None,
            "atc": str(self.atc.atc) if self.atc else None, "cann_version": self.atc.version if self.atc else None,
            "command": format_command(self.argv), "argv": self.argv, "returncode": self.returncode,
            "findings": [f.to_dict() for f in self.findings], "diagnoses": self.diagnoses,
            "error_lines": self.error_lines,
        }


_SCRIPT = """#!/bin/sh
# {model} -> {om}
# written by omdeploy convert; the same argv is in {sidecar}.
set -e
if [ -z "${{ASCEND_OPP_PATH:-}}" ]; then  # set_env.sh not sourced yet
  for f in "${{ASCEND_TOOLKIT_HOME:-/nonexistent}}/../set_env.sh" {set_env_scripts}; do
    if [ -f "$f" ]; then . "$f"; break; fi
  done
fi
# x86 training boxes have no driver: atc.bin finds libascend_hal.so in devlib
devlib="${{ASCEND_TOOLKIT_HOME:-/nonexistent}}/$(uname -m)-linux/devlib"
if [ -d "$devlib" ]; then export LD_LIBRARY_PATH="$devlib:${{LD_LIBRARY_PATH:-}}"; fi
# ATC leaves fusion_result.json and kernel_meta/ in its working directory
cd "$(mktemp -d)"
{command}
"""


def _device_inputs(spec: DeploySpec, sources: Optional[List[Any]] = None) -> List[InputSpec]:
    """What the .om takes (the device contract), per model input in the model's order."""
    from .contract import device_contract, spec_sources

    return [c.as_input_spec() for c in device_contract(spec, sources if sources is not None else spec_sources(spec))]


def _diagnose(log: str) -> Tuple[List[Dict[str, Any]], List[str]]:
    """The error knowledge base's diagnoses, and ATC's own error lines."""
    lines = [line.strip() for line in log.splitlines()
             if re.match(r"\s*(E[A-Z]?\d{4,5}:|\[ERROR\]|ATC run failed)", line)
             or "error while loading shared libraries" in line]
    from . import knowledge

    diagnoses = []
    for d in knowledge.diagnose_log(log):
        diagnoses.append({"title": d.title, "cause": d.cause, "fixes": list(d.fixes), "confidence": d.confidence,
                          "evidence": d.evidence, "code": d.code})
    return diagnoses, lines[:20]


def _plan_paths(spec: DeploySpec, out_dir: Path) -> Tuple[Path, Optional[Path]]:
    """(<out>/<stem>_<soc>.om, the AIPP file --insert_op_conf names); writes the AIPP file a spec implies."""
    stem = output_stem(spec)
    om = out_dir / (stem + ".om")
    if aipp_inputs(spec):
        aipp_file = out_dir / (stem + ".aipp.cfg")
        write_text(aipp_file, aipp_text_for_spec(spec))
        return om, aipp_file
    if spec.atc.insert_op_conf:
        return om, (Path(spec.base_dir) / spec.atc.insert_op_conf).resolve()
    return om, None


def _shell_set_env_scripts() -> str:
    """The toolkit set_env.sh paths under the install roots, in the table's order, for the script's shell loop."""
    roots = [r.replace("~", "$HOME", 1) if r.startswith("~") else r for r in setenv.install_layout()["roots"]]
    return " ".join('"{}/{}"'.format(root, script) for root in roots for script in setenv.install_layout()["toolkit_scripts"])


def _write_script(path: Path, spec: DeploySpec, om: Path, argv: List[str], sidecar: Path) -> None:
    write_text(path, _SCRIPT.format(model=spec.model_path, om=om, sidecar=sidecar.name,
                                    set_env_scripts=_shell_set_env_scripts(),
                                    command=format_command(["atc"] + argv[1:])))
    path.chmod(0o755)


def convert(spec: DeploySpec, out_dir: Optional[Path] = None, plan: bool = False,
            env: Optional[Mapping[str, str]] = None, atc: Optional[AtcInstall] = None) -> ConvertResult:
    """Convert (or with plan=True only plan) the spec's model; see the module docstring."""
    if not spec.model_path.is_file():
        raise UserError("model {} does not exist".format(spec.model_path),
                        hint="the spec's model is relative to the spec file")
    if spec.model_path.suffix.lower() == ".onnx" and importlib.util.find_spec("onnx") is not None:
        from ..onnx.spec_rules import refuse_wrong_spec

        from ..onnx.inspect import load_model
        from .contract import onnx_sources

        refuse_wrong_spec(spec)  # the rule set `omdeploy spec` and `check` apply
        sources = onnx_sources(load_model(spec.model_path, load_external_data=False))
    else:
        sources = None
    out_dir = Path(out_dir or Path.cwd()).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    om, aipp_file = _plan_paths(spec, out_dir)
    install = None if plan else (atc or find_atc(env))
    argv = build_argv(spec, output=str(om.with_suffix("")), aipp_file=str(aipp_file) if aipp_file else None,
                      atc=str(install.atc) if install else "atc", absolute_paths=True)
    script = om.with_suffix(".atc.sh")
    # a plan next to a built .om keeps that .om's sidecar (its provenance): the plan's goes to <stem>.plan.json
    sidecar = om.with_suffix(".plan.json") if install is None and om.is_file() else Sidecar.path_for(om)
    _write_script(script, spec, om, argv, sidecar)
    result = ConvertResult("planned" if plan else "no_atc", om, sidecar, script, argv, aipp_file, atc=install)
    if install is None:
        kept = "; {} is the existing .om's, left as it was".format(Sidecar.path_for(om).name) \
            if sidecar != Sidecar.path_for(om) else ""
        _write_sidecar(result, spec, sources, built=False, version=spec.target.cann,
                       note=("plan only: no .om was produced; run {} where the CANN toolkit is installed".format(
                           script.name) if plan else "no atc found: no .om was produced; install the CANN toolkit "
                                                     "and run {}".format(script.name)) + kept)
        return result
    _run(result, install, env)
    if result.status == "built":
        _write_sidecar(result, spec, sources, built=True, version=install.version or spec.target.cann)
    return result


def _run(result: ConvertResult, install: AtcInstall, env: Optional[Mapping[str, str]]) -> None:
    """atc in a temporary working directory (it leaves fusion_result.json and kernel_meta/ there), log kept."""
    run_env, result.findings = atc_environment(install, env)
    for finding in result.findings:
        logger.log(logging.ERROR if finding.severity == "error" else logging.INFO, "%s%s", finding.message,
                   " (fix: {})".format(finding.fix) if finding.fix else "")
    before = result.om.stat().st_mtime_ns if result.om.exists() else None
    with tempfile.TemporaryDirectory(prefix="omdeploy-atc-") as work:
        proc = subprocess.run(result.argv, cwd=work, env=run_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    log = proc.stdout.decode("utf-8", errors="replace")
    result.log = result.om.with_suffix(".atc.log")
    write_text(result.log, log)
    result.returncode = proc.returncode
    written = result.om.is_file() and result.om.stat().st_mtime_ns != before
    if proc.returncode == 0 and written:
        result.status = "built"
        return
    result.status, result.sidecar = "failed", None
    result.diagnoses, result.error_lines = _diagnose(log)
    if proc.returncode == 0:
        result.error_lines.append("atc exited 0 but did not write {}".format(result.om))


def _portable_spec(spec: DeploySpec) -> Dict[str, Any]:
    """The spec as a document whose file paths are absolute, so the sidecar's copy loads from anywhere."""
    def absolute(path: str) -> str:
        return str((Path(spec.base_dir) / path).resolve())

    document = spec.to_dict()
    document["model"] = absolute(spec.model)
    if spec.weight:
        document["weight"] = absolute(spec.weight)
    if isinstance(spec.labels, str):
        document["labels"] = absolute(spec.labels)
    if spec.atc.insert_op_conf:
        document["atc"]["insert_op_conf"] = absolute(spec.atc.insert_op_conf)
    return document


def _write_sidecar(result: ConvertResult, spec: DeploySpec, sources: Optional[List[Any]], built: bool, version: str,
                   note: str = "") -> None:
    from .. import __version__

    sidecar = Sidecar(
        built=built,
        source=FileRef(str(spec.model_path), file_sha256(spec.model_path)),
        result=FileRef(str(result.om), file_sha256(result.om) if built else None),
        soc_version=spec.target.soc_version,
        cann_version=version,
        atc_argv=list(result.argv),
        inputs=_device_inputs(spec, sources),
        outputs=list(spec.outputs),
        spec=_portable_spec(spec),
        produced_by="omdeploy {} convert (python {})".format(__version__, sys.version.split()[0]),
        created=datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        aipp_file=str(result.aipp_file) if result.aipp_file else None,
        atc_log=str(result.log) if result.log else None,
        note=note,
    )
    sidecar.save(result.sidecar)  # type: ignore[arg-type]


__all__ = ["find_atc", "atc_environment", "python_findings", "convert", "ConvertResult", "AtcInstall", "Finding",
           "toolkit_version"]
