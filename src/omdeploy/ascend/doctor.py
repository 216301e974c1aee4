"""The environment doctor: one report of CANN parts, NPUs, Python and their findings, and snapshot comparison.

    report = run_doctor()                       # this machine
    report.save("env.json")                     # snapshot (e.g. the training box)
    compare_snapshot(report, load_snapshot("env.json"))  # on the other machine: toolkit differences

Every check reads its rules from data/environment.json and data/torch_npu.json; findings carry a severity
(error / warning / info) and a fix. Nothing here needs CANN or an NPU: on a machine without them the report
says so and how to fix it.
"""
from __future__ import annotations

import json
import os
import platform
import re
import socket
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from ..errors import UserError
from ..fileio import write_text
from ..findings import Finding, by_severity
from .cann import VERSIONED_PARTS, CannScan, Component, scan
from .knowledge import DATA, diagnose_log
from .npusmi import NpuSmiInfo, parse_npu_smi, run_npu_smi
from .setenv import checks as set_env_checks
from .setenv import rules

SNAPSHOT_FORMAT = 1
_LEADING_INTS = re.compile(r"^(\d+(?:\.\d+)*)")

# run by the interpreter asked (maybe the Python 3.7 that atc uses): imports each module, or with "load" false
# only finds it, and reads each distribution's version
_PROBE = r"""
import importlib, importlib.util, json, sys
try:
    from importlib import metadata
except ImportError:
    metadata = None
request = json.loads(sys.argv[1])
imports, dists = {}, {}
for name in request["imports"]:
    try:
        if request["load"]:
            importlib.import_module(name)
            imports[name] = None
        else:
            imports[name] = None if importlib.util.find_spec(name) is not None else "not found"
    except BaseException as exc:
        imports[name] = "{}: {}".format(type(exc).__name__, exc)
for name in request["dists"]:
    try:
        dists[name] = metadata.version(name) if metadata else None
    except Exception:
        dists[name] = None
print(json.dumps({"executable": sys.executable, "version": sys.version.split()[0],
                  "imports": imports, "dists": dists}))
"""


@dataclass
class PythonEnv:
    """What the active interpreter can import (None = imports fine, else the error) and which dists it has."""
    executable: str
    version: str
    imports: Dict[str, Optional[str]] = field(default_factory=dict)
    dists: Dict[str, Optional[str]] = field(default_factory=dict)

    def dist(self, *names: str) -> Optional[str]:
        return next((self.dists[n] for n in names if self.dists.get(n)), None)

    def to_dict(self) -> Dict[str, object]:
        return asdict(self)


@dataclass
class DoctorReport:
    host: Dict[str, str]
    cann: CannScan
    npu: Optional[NpuSmiInfo]
    python: Optional[PythonEnv]
    findings: List[Finding]
    soc_version: Optional[str] = None

    @property
    def errors(self) -> List[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    def to_dict(self) -> Dict[str, object]:
        return {"omdeploy_doctor_snapshot": SNAPSHOT_FORMAT, "host": self.host, "cann": self.cann.to_dict(),
                "npu": self.npu.to_dict() if self.npu else None,
                "python": self.python.to_dict() if self.python else None, "soc_version": self.soc_version,
                "findings": [f.to_dict() for f in self.findings]}

    def save(self, path: Path) -> None:
        try:
            write_text(path, json.dumps(self.to_dict(), indent=2) + "\n")
        except UserError as exc:
            raise UserError("cannot write the snapshot: {}".format(exc.message),
                            hint="pick a writable path for --save") from None


def torch_npu_table() -> dict:
    return json.loads((DATA / "torch_npu.json").read_text(encoding="utf-8"))


def version_tuple(version: str) -> Tuple[int, ...]:
    """Leading numeric part: '2.1.0.post10' -> (2, 1, 0), '2.13.0+cpu' -> (2, 13, 0)."""
    match = _LEADING_INTS.match(version.strip())
    return tuple(int(p) for p in match.group(1).split(".")) if match else ()


def torch_base(version: str) -> str:
    """'2.1.0.post10' / '2.1.0rc1' / '2.1.0+cpu' -> '2.1.0'."""
    return ".".join(str(p) for p in version_tuple(version)[:3])


# ---------------------------------------------------------------------------------------------- probes
def probe_python(python: Optional[str] = None, env: Optional[Mapping[str, str]] = None,
                 imports: Optional[Sequence[str]] = None, dists: Optional[Sequence[str]] = None,
                 load: bool = True, timeout: float = 120.0) -> PythonEnv:
    """Ask an interpreter (default: the active one), in a child process with `env` (default: this one's), what
    it imports (tbe/te/acl load native code; load=False only finds the modules) and which distributions it has;
    by default the modules and distributions the doctor checks."""
    table = rules()
    if imports is None:
        imports = table["toolkit_imports"] + table["runtime_imports"]
    if dists is None:
        wanted = [row["dist"] for row in table["atc_python"]] + ["torch", "torch_npu", "torch-npu", "torchvision"]
        dists = sorted(set(wanted + [d for row in table["unsupported"] for d in row["dists"]]))
    request = json.dumps({"imports": list(imports), "dists": list(dists), "load": load})
    done = subprocess.run([python or sys.executable, "-c", _PROBE, request], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, env=None if env is None else dict(env), timeout=timeout)
    lines = done.stdout.decode("utf-8", errors="replace").strip().splitlines()
    if done.returncode != 0 or not lines:
        raise RuntimeError(done.stderr.decode("utf-8", errors="replace").strip()[-500:] or "no output")
    data = json.loads(lines[-1])
    return PythonEnv(data["executable"], data["version"], data["imports"], data["dists"])


# ---------------------------------------------------------------------------------------------- checks
def _paths(value: Optional[str]) -> List[str]:
    return [os.path.realpath(p) for p in (value or "").split(os.pathsep) if p]


def set_env_findings(cann: CannScan, env: Mapping[str, str]) -> List[Finding]:
    """Which parts of set_env.sh are missing from this environment."""
    if cann.toolkit_home is None:
        return []
    home = cann.toolkit_home
    missing = []
    for rule in set_env_checks():
        expected = os.path.realpath(rule["expect"].format(home=home))
        values = [env.get(v) for v in rule["vars"]]
        if rule["how"] == "equals":
            ok = any(v and os.path.realpath(v) == expected for v in values)
        else:
            ok = any(expected in _paths(v) for v in values)
        if not ok:
            missing.append("{} {} {}".format("/".join(rule["vars"]), "=" if rule["how"] == "equals" else "has",
                                             rule["expect"].format(home=home)))
    if not missing:
        return []
    sourced = any(env.get(v) for v in ("ASCEND_TOOLKIT_HOME", "ASCEND_HOME_PATH"))
    return [Finding("error" if not sourced else "warning", "env.set_env",
                    ("set_env.sh is not sourced: " if not sourced else "set_env.sh is only partly in effect: ")
                    + "; ".join(missing),
                    "source {} (add it to ~/.bashrc to make it stick)".format(cann.set_env_script))]


def hal_findings(cann: CannScan, env: Mapping[str, str], arch: str) -> List[Finding]:
    """atc needs libascend_hal.so: from the driver on the box, from devlib/stub on a machine without one."""
    if cann.toolkit_home is None:
        return []
    table = rules()
    lib = table["hal_library"]
    on_path = [d for d in _paths(env.get("LD_LIBRARY_PATH")) if os.path.isfile(os.path.join(d, lib))]
    stubs = [table_dir.format(home=cann.toolkit_home, arch=arch) for table_dir in table["hal_stub_dirs"]]
    stub_dirs = {os.path.realpath(s) for s in stubs}
    if cann.driver is not None:
        stubs_on_path = [d for d in on_path if d in stub_dirs]
        if stubs_on_path:
            return [Finding("warning", "env.stub", "the stub {} is on LD_LIBRARY_PATH on a machine with a driver: "
                            "models fail to run (100039 COMPILING_STUB_MODE)".format(stubs_on_path[0]),
                            "remove {} from LD_LIBRARY_PATH".format(stubs_on_path[0]))]
        return []
    if on_path:
        return []
    present = next((s for s in stubs if os.path.isfile(os.path.join(s, lib))), stubs[0])
    return [Finding("error", "env.devlib", "no NPU driver here and {} is not on LD_LIBRARY_PATH: atc fails with "
                    "'error while loading shared libraries: {}'".format(lib, lib),
                    "export LD_LIBRARY_PATH={}/:$LD_LIBRARY_PATH (after sourcing set_env.sh)".format(present))]


def _version_problem(row: dict, installed: str) -> Optional[str]:
    have = version_tuple(installed)
    if row.get("min") and have < version_tuple(row["min"]):
        return "{} {} is older than {}".format(row["dist"], installed, row["min"])
    if row.get("below") and have >= version_tuple(row["below"]):
        return "{} {} is too new (needs < {}): {}".format(row["dist"], installed, row["below"], row["why_below"])
    return None


def _requirement(row: dict) -> str:
    bounds = ([">=" + row["min"]] if row.get("min") else []) + (["<" + row["below"]] if row.get("below") else [])
    return '"{}{}"'.format(row["dist"], ",".join(bounds)) if bounds else row["dist"]


def atc_python_findings(py: PythonEnv, severity: str = "error", toolkit_fix: Optional[str] = None,
                        table: Optional[Mapping[str, Any]] = None, toolkit: bool = True) -> List[Finding]:
    """What `py` lacks for ATC's op compiler: the pip modules of the install guide and, with `toolkit` (there
    is one to import them from), tbe/te (data/environment.json atc_python, toolkit_imports). The one walk of
    that table, for doctor and convert."""
    table = rules() if table is None else table
    exe, findings = py.executable, []
    for row in table["atc_python"]:
        installed = py.dists.get(row["dist"])
        problem = (_version_problem(row, installed) if installed else
                   "has no '{}' (ATC fails with EC0010 'No module named ...')".format(row["dist"]))
        if problem:
            findings.append(Finding(severity, "python.atc", "{}: {}".format(exe, problem),
                                    "{} -m pip install {}".format(exe, _requirement(row))))
    for module in table["toolkit_imports"] if toolkit else ():
        error = py.imports.get(module)
        if error:
            known = diagnose_log(error)
            findings.append(Finding("error", "python.tbe", "{} cannot import '{}' (ATC fails with EC0010): {}".format(
                exe, module, error), known[0].fixes[0] if known else toolkit_fix or (
                    "it comes with the toolkit: source set_env.sh (PYTHONPATH), or copy <toolkit>/python/site-packages/"
                    "{} into this Python's site-packages".format(module))))
    return findings


def python_findings(py: PythonEnv, cann: CannScan, has_npu: bool) -> List[Finding]:
    """ATC's pip modules, tbe/te from the toolkit, and pyACL, in the active interpreter."""
    table = rules()
    has_toolkit = cann.toolkit is not None
    findings = atc_python_findings(py, "error" if has_toolkit else "warning",
                                   "source {} in this shell".format(cann.set_env_script), table, toolkit=has_toolkit)
    for module in table["runtime_imports"]:
        error = py.imports.get(module)
        if error:
            findings.append(Finding("error" if has_npu else "info", "python.pyacl",
                                    "pyACL ('import {}') does not import: {}{}".format(
                                        module, error, "" if has_npu else " (needed only on the NPU box)"),
                                    "source {} (or nnrt/set_env.sh) before starting Python".format(
                                        cann.set_env_script or "<root>/ascend-toolkit/set_env.sh")))
    return findings


def torch_findings(py: PythonEnv, toolkit_version: Optional[str]) -> List[Finding]:
    """torch / torch_npu / torchvision pairing and the CANN the installed torch_npu was built for."""
    table = torch_npu_table()
    torch, npu, vision = py.dist("torch"), py.dist("torch_npu", "torch-npu"), py.dist("torchvision")
    findings = []
    if torch and vision:
        wanted = table["torchvision"].get("{}.{}".format(*version_tuple(torch)[:2]))
        have = "{}.{}".format(*version_tuple(vision)[:2]) if len(version_tuple(vision)) >= 2 else vision
        if wanted and have != wanted:
            findings.append(Finding("error", "python.torch", "torchvision {} does not pair with torch {} (wants "
                                    "torchvision {}.x)".format(vision, torch, wanted),
                                    "pip install torchvision=={}.*".format(wanted)))
    if not npu:
        return findings
    if not torch:
        return findings + [Finding("error", "python.torch", "torch_npu {} is installed without torch".format(npu),
                                   "pip install torch=={}".format(torch_base(npu)))]
    if torch_base(npu) != torch_base(torch):
        findings.append(Finding("error", "python.torch", "torch_npu {} is built for torch {}, but torch {} is "
                                "installed".format(npu, torch_base(npu), torch),
                                "pip install torch=={} (or the torch_npu release for torch {})".format(
                                    torch_base(npu), torch_base(torch))))
    releases = table["releases"]
    row = next((r for r in releases if r["torch_npu"] == npu), None)
    if row is None:
        findings.append(Finding("info", "python.torch", "torch_npu {} is not in omdeploy's pairing table "
                                "(data/torch_npu.json)".format(npu)))
    elif toolkit_version and row["cann"] != toolkit_version:
        better = [r["torch_npu"] for r in releases
                  if r["cann"] == toolkit_version and r["torch"] == torch_base(torch)]
        findings.append(Finding("warning", "python.torch", "torch_npu {} pairs with CANN {}, this machine has "
                                "toolkit {}".format(npu, row["cann"], toolkit_version),
                                "pip install torch-npu=={}".format(better[0]) if better else
                                "pick torch and torch_npu from the table for CANN {} (the seed: torch_npu lags "
                                "torch; do not take the newest torch)".format(toolkit_version)))
    return findings


def unsupported_findings(py: PythonEnv, arch: str, socs: List[str]) -> List[Finding]:
    findings = []
    for row in rules()["unsupported"]:
        for dist in row["dists"]:
            version = py.dists.get(dist)
            if not version:
                continue
            soc = next((s for s in socs if s.startswith(row.get("soc_prefix", "\0"))), None)
            if row.get("arch") == arch or soc:
                findings.append(Finding(row["severity"], "unsupported." + row["id"],
                                        row["message"].format(dist=dist, version=version, soc=soc, arch=arch),
                                        row["fix"]))
    return findings


def npu_findings(npu: Optional[NpuSmiInfo]) -> Tuple[List[Finding], Optional[str]]:
    """The soc_version convert should use, and chips that are not healthy."""
    from ..chips import SOC_VERSIONS

    if npu is None or not npu.chips:
        why = "npu-smi is not installed" if npu is None else "npu-smi listed no chips"
        return [Finding("info", "npu.soc", "{}: this is not the NPU box, so the soc_version cannot be read "
                        "here".format(why), "on the box run omdeploy doctor (or npu-smi info: soc_version = "
                                            "'Ascend' + Name) and pass it to convert with --soc")], None
    findings = []
    socs = npu.soc_versions()
    if len(socs) > 1:
        findings.append(Finding("warning", "npu.soc", "chips of several kinds here: {}".format(", ".join(socs)),
                                "convert one .om per soc_version, for the chip that will run it"))
    for soc in socs:
        if soc not in SOC_VERSIONS:
            findings.append(Finding("warning", "npu.soc", "{} is not a soc_version omdeploy knows".format(soc),
                                    "check the Name column of npu-smi info"))
    for chip in npu.chips:
        if chip.health != "OK":
            note = " (310B boards often report Alarm while usable)" if chip.name.startswith("310B") else ""
            findings.append(Finding("warning", "npu.health", "NPU {} chip {} ({}) health is {}{}".format(
                chip.npu_id, chip.chip_id, chip.name, chip.health, note), "npu-smi info -t health -i {}".format(
                chip.npu_id)))
    findings.append(Finding("info", "npu.soc", "convert for this box with --soc {}".format(socs[0])))
    return findings, socs[0]


# ---------------------------------------------------------------------------------------------- report
def _host(arch: str) -> Dict[str, str]:
    return {"hostname": socket.gethostname(), "arch": arch, "system": platform.system(),
            "platform": platform.platform(), "python": sys.version.split()[0]}


def _read_npu(npu_smi_text: Optional[str]) -> Tuple[Optional[NpuSmiInfo], List[Finding]]:
    if npu_smi_text is not None:
        return parse_npu_smi(npu_smi_text), []
    try:
        text = run_npu_smi()
    except (OSError, subprocess.SubprocessError) as exc:
        return None, [Finding("warning", "npu.smi", "npu-smi info failed: {}".format(exc),
                              "run npu-smi info by hand; check the driver is loaded")]
    return (parse_npu_smi(text) if text is not None else None), []


def run_doctor(roots: Optional[List[Path]] = None, env: Optional[Mapping[str, str]] = None,
               arch: Optional[str] = None, npu_smi_text: Optional[str] = None,
               probe: Optional[Callable[[], PythonEnv]] = None) -> DoctorReport:
    """Examine this machine (or the CANN roots, npu-smi text and environment given) and list the findings."""
    env = os.environ if env is None else env
    arch = arch or platform.machine()
    cann = scan(roots, env)
    npu, findings = _read_npu(npu_smi_text)
    findings += cann.findings + set_env_findings(cann, env) + hal_findings(cann, env, arch)
    npu_notes, soc = npu_findings(npu)
    try:
        python = (probe or probe_python)()
    except (OSError, RuntimeError, ValueError, subprocess.SubprocessError) as exc:
        python = None
        findings.append(Finding("warning", "python.probe", "could not examine the Python environment: {}".format(
            exc), "run omdeploy doctor -v with the interpreter you use for atc and pyACL"))
    if python is not None:
        has_npu = bool(npu and npu.chips)
        toolkit = cann.toolkit.version if cann.toolkit else None
        findings += python_findings(python, cann, has_npu) + torch_findings(python, toolkit)
        findings += unsupported_findings(python, arch, npu.soc_versions() if npu else [])
    findings += npu_notes
    return DoctorReport(_host(arch), cann, npu, python, by_severity(findings), soc)


# ---------------------------------------------------------------------------------------------- snapshots
def load_snapshot(path: Path) -> dict:
    """A snapshot written by `doctor --save`; a UserError when it is not one."""
    hint = "write one with: omdeploy doctor --save env.json (on the other machine)"
    try:
        data = json.loads(Path(path).read_bytes().decode("utf-8"))
    except OSError as exc:
        raise UserError("cannot read the snapshot {}: {}".format(path, exc.strerror), hint=hint) from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise UserError("{} is not a doctor snapshot: expected JSON, got {}".format(path, exc), hint=hint) from None
    if not isinstance(data, dict) or data.get("omdeploy_doctor_snapshot") != SNAPSHOT_FORMAT or \
            not isinstance(data.get("cann"), dict) or not isinstance(data["cann"].get("components"), list):
        raise UserError("{} is not a doctor snapshot (format {}): no 'omdeploy_doctor_snapshot' / 'cann' "
                        "keys".format(path, SNAPSHOT_FORMAT), hint=hint)
    return data


def snapshot_toolkit(snapshot: dict) -> Optional[Component]:
    rows = [r for r in snapshot["cann"]["components"] if isinstance(r, dict) and r.get("kind") == "toolkit"]
    rows = [r for r in rows if r.get("active")] or rows
    if not rows:
        return None
    r = rows[0]
    return Component("toolkit", r.get("version"), str(r.get("path")), str(r.get("source")), r.get("arch"))


def compare_snapshot(report: DoctorReport, snapshot: dict, name: str = "the snapshot") -> List[Finding]:
    """Findings for a toolkit on the other machine that differs from this one's toolkit, kernels or nnrt."""
    host = (snapshot.get("host") or {}).get("hostname") or name
    theirs = snapshot_toolkit(snapshot)
    if theirs is None:
        return [Finding("warning", "against.toolkit", "{} ({}) has no CANN toolkit to compare with".format(
            name, host), "run omdeploy doctor --save on the machine that converts the models")]
    ours = [report.cann.toolkit] if report.cann.toolkit else []
    for kind in VERSIONED_PARTS:
        parts = report.cann.of_kind(kind)
        ours += [c for c in parts if c.active] or parts
    if not ours:
        return [Finding("error", "against.toolkit", "{} ({}) has toolkit {}, this machine has no CANN".format(
            name, host, theirs.version), "install CANN {} here".format(theirs.version))]
    differing = ["{} {}".format(c.kind, c.version) for c in ours if c.version != theirs.version]
    if not differing:
        return [Finding("info", "against.toolkit", "toolkit {} on {} matches this machine's CANN parts".format(
            theirs.version, host))]
    return [Finding("error", "against.toolkit",
                    "toolkit {} on {} ({}) differs from this machine's {}: models it converts can fail here with "
                    "500002 at load or 507011 at execute (the seed hit both), though conversion reports no "
                    "error".format(theirs.version, host, name, ", ".join(differing)),
                    "install one CANN version on both machines (toolkit on the training box; toolkit, kernels "
                    "and nnrt on the box), then convert the models again")]
