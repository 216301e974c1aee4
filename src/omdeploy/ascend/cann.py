"""Find CANN installs and read their version files exactly as the installers lay them out.

Layouts (docs/reference.md [cann-install]), under a root (/usr/local/Ascend for root, $HOME/Ascend per user):
    ascend-toolkit/<ver>/<arch>-linux/ascend_toolkit_install.info    toolkit <= 8.3, `latest` -> <ver>
    ascend-toolkit/<ver>/opp_kernel/version.info                     kernels (version_dir = its release)
    cann-<ver>/<arch>-linux/ascend_toolkit_install.info              toolkit 8.5+, `cann` -> cann-<ver>
    cann-<ver>/<arch>-linux/ascend_ops_install.info                  ops package 8.5+ (replaces kernels)
    nnrt/<ver>/<arch>-linux/ascend_nnrt_install.info                 nnrt, `latest` -> <ver>
    nnae/<ver>/[<arch>-linux/]ascend_nnae_install.info               nnae
    driver/version.info                                              driver (capital `Version=`)

Missing, unreadable or malformed files become findings; nothing here raises on a bad install.
"""
from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Dict, Iterable, List, Mapping, Optional, Tuple

from ..findings import SEVERITIES, Finding  # noqa: F401  (SEVERITIES: re-exported)
from .setenv import install_layout, install_roots, root_of_home

# the parts that must carry the same release as the toolkit that converts and runs models (seed: 507011/500002)
VERSIONED_PARTS = ("kernels", "ops", "nnrt", "nnae")
_MAX_INFO_BYTES = 1024 * 1024
_DRIVER_LINE = re.compile(r"V\d+R\d+C\d+")
_VERSION_CFG = re.compile(r"^(\w+?)_running_version=\[([^:\]]*):([^\]]*)\]", re.M)


@dataclass
class Component:
    """One installed CANN part with its release version, as read from its own files."""
    kind: str  # toolkit | kernels | ops | nnrt | nnae | driver
    version: Optional[str]  # release, e.g. 8.0.0, 8.1.RC1, 24.1.0 (driver)
    path: str  # the install directory
    source: str  # the file the version was read from
    arch: Optional[str] = None
    inner_version: Optional[str] = None
    active: bool = True  # the one the `latest` / `cann` link points to
    details: Dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> Dict[str, object]:
        return asdict(self)


@dataclass
class CannScan:
    roots: List[str]
    components: List[Component]
    findings: List[Finding]
    toolkit_home: Optional[str] = None  # what set_env.sh exports as ASCEND_TOOLKIT_HOME
    set_env_script: Optional[str] = None

    def of_kind(self, kind: str, active_only: bool = False) -> List[Component]:
        return [c for c in self.components if c.kind == kind and (c.active or not active_only)]

    @property
    def toolkit(self) -> Optional[Component]:
        active = self.of_kind("toolkit", active_only=True) or self.of_kind("toolkit")
        return active[0] if active else None

    @property
    def driver(self) -> Optional[Component]:
        drivers = self.of_kind("driver")
        return drivers[0] if drivers else None

    def to_dict(self) -> Dict[str, object]:
        return {"roots": self.roots, "toolkit_home": self.toolkit_home, "set_env_script": self.set_env_script,
                "components": [c.to_dict() for c in self.components],
                "findings": [f.to_dict() for f in self.findings]}


def parse_key_values(text: str) -> Dict[str, str]:
    """`key=value` lines (quotes stripped, keys lower-cased: the driver writes `Version=`, the toolkit `version=`)."""
    values: Dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        values.setdefault(key.strip().lower(), value.strip().strip('"').strip("'"))
    return values


def parse_version_cfg(text: str) -> Dict[str, Tuple[str, str]]:
    """version.cfg `<part>_running_version=[inner:release]` -> {part: (inner, release)}."""
    return {m.group(1): (m.group(2), m.group(3)) for m in _VERSION_CFG.finditer(text)}


def _read_text(path: Path, findings: List[Finding]) -> Optional[str]:
    try:
        with open(str(path), "rb") as f:
            data = f.read(_MAX_INFO_BYTES)
    except OSError as exc:
        findings.append(Finding("warning", "cann.files", "cannot read {}: {}".format(path, exc.strerror),
                                "check the file's permissions, or reinstall the package it belongs to"))
        return None
    if b"\x00" in data:
        findings.append(Finding("warning", "cann.files", "{} is not a text file".format(path),
                                "reinstall the package it belongs to"))
        return None
    return data.decode("utf-8", errors="replace")


def _read_info(path: Path, version_key: str, findings: List[Finding]) -> Optional[Dict[str, str]]:
    """The key=values of a version file; None (with a finding when it is damaged) when there are none."""
    if not path.is_file():
        return None
    text = _read_text(path, findings)
    if text is None:
        return None
    values = parse_key_values(text)
    if not values.get(version_key):
        findings.append(Finding("warning", "cann.files", "{} has no '{}=' line".format(path, version_key),
                                "the file is empty or truncated: reinstall the package it belongs to"))
        return None
    return values


def _same_dir(a: Path, b: Optional[Path]) -> bool:
    return b is not None and os.path.realpath(str(a)) == os.path.realpath(str(b))


def _link_target(link: Path, findings: List[Finding]) -> Optional[Path]:
    if not os.path.lexists(str(link)):
        return None
    if not link.exists():
        findings.append(Finding("warning", "cann.files", "{} points to {}, which does not exist".format(
            link, os.readlink(str(link)) if link.is_symlink() else "?"),
            "reinstall the toolkit, or point the link at an installed version"))
        return None
    return link


def _subdirs(directory: Path) -> List[Path]:
    try:
        return sorted(p for p in directory.iterdir() if p.is_dir() and not p.is_symlink())
    except OSError:
        return []


def _arch_files(version_dir: Path, name: str) -> List[Path]:
    return sorted(version_dir.glob(name)) + sorted(version_dir.glob("*-linux/" + name))


def _arch_of(values: Mapping[str, str], info: Path) -> Optional[str]:
    if values.get("arch"):
        return values["arch"]
    parent = info.parent.name
    return parent[:-len("-linux")] if parent.endswith("-linux") else None


def _package_components(kind: str, version_dir: Path, info_name: str, active: bool,
                        findings: List[Finding]) -> List[Component]:
    parts = []
    for info in _arch_files(version_dir, info_name):
        values = _read_info(info, "version", findings)
        if values is None:
            continue
        parts.append(Component(kind, values["version"], str(version_dir), str(info), _arch_of(values, info),
                               values.get("innerversion"), active,
                               {k: v for k, v in values.items() if k in ("compatible_version", "path",
                                                                        "package_name")}))
    return parts


def _kernels(version_dir: Path, active: bool, findings: List[Finding]) -> List[Component]:
    info = version_dir / "opp_kernel" / "version.info"
    values = _read_info(info, "version", findings)
    if values is None:
        return []
    # Version= is the internal build number; version_dir= is the release it installs as (8.1.RC3 ...)
    release = values.get("version_dir") or values["version"]
    required = {k: v for k, v in values.items() if k.startswith("required_package_")}
    return [Component("kernels", release, str(info.parent), str(info), None, values["version"], active, required)]


def _version_cfg(version_dir: Path, findings: List[Finding]) -> Optional[Component]:
    cfg = version_dir / "version.cfg"
    if not cfg.is_file():
        return None
    text = _read_text(cfg, findings)
    parts = parse_version_cfg(text or "")
    if "toolkit" not in parts:
        if text is not None:
            findings.append(Finding("warning", "cann.files", "{} has no toolkit_running_version line".format(cfg),
                                    "reinstall the toolkit"))
        return None
    inner, release = parts["toolkit"]
    return Component("toolkit", release, str(version_dir), str(cfg), None, inner, True,
                     {"{}_running".format(k): v[1] for k, v in parts.items()})


def _scan_toolkit_dir(version_dir: Path, active: bool, findings: List[Finding]) -> List[Component]:
    found = _package_components("toolkit", version_dir, "ascend_toolkit_install.info", active, findings)
    if not found and (version_dir / "version.cfg").is_file():
        from_cfg = _version_cfg(version_dir, findings)
        if from_cfg is not None:
            from_cfg.active = active
            findings.append(Finding("warning", "cann.files", "{} has no <arch>-linux/ascend_toolkit_install.info; "
                                    "version taken from version.cfg".format(version_dir),
                                    "the toolkit install looks incomplete: reinstall it"))
            found.append(from_cfg)
    found += _package_components("ops", version_dir, "ascend_ops_install.info", active, findings)
    found += _kernels(version_dir, active, findings)
    return found


def _scan_versions(parent: Path, kind: str, info_name: str, findings: List[Finding]) -> List[Component]:
    latest = _link_target(parent / "latest", findings)
    found = []
    for version_dir in _subdirs(parent):
        parts = _package_components(kind, version_dir, info_name, _same_dir(version_dir, latest), findings)
        found += parts
    if len(found) == 1:
        found[0].active = True
    return found


def _driver(root: Path, findings: List[Finding]) -> List[Component]:
    info = root / "driver" / "version.info"
    values = _read_info(info, "version", findings)
    if values is None:
        return []
    keep = ("compatible_version", "compatible_version_fw", "ascendhal_version", "package_version")
    return [Component("driver", values["version"], str(info.parent), str(info), None, values.get("innerversion"),
                      True, {k: v for k, v in values.items() if k in keep})]


def scan_root(root: Path) -> Tuple[List[Component], List[Finding], Optional[Path], Optional[Path]]:
    """Components under one root, its findings, the toolkit home and the set_env.sh to source."""
    findings: List[Finding] = []
    components: List[Component] = []
    toolkits = root / "ascend-toolkit"
    latest = _link_target(toolkits / "latest", findings)
    cann_link = _link_target(root / "cann", findings)
    active_dir = cann_link or latest
    toolkit_dirs = _subdirs(toolkits) + [d for d in _subdirs(root) if d.name.startswith("cann-")]
    for version_dir in toolkit_dirs:
        components += _scan_toolkit_dir(version_dir, _same_dir(version_dir, active_dir), findings)
    toolkit_parts = [c for c in components if c.kind == "toolkit"]
    if active_dir is None and len({c.path for c in toolkit_parts}) == 1:
        for c in components:
            c.active = True
    elif active_dir is None and toolkit_parts:
        findings.append(Finding("warning", "cann.files", "several toolkits under {} and no latest/cann link".format(
            root), "source the set_env.sh of the version you mean to use"))
    components += _scan_versions(root / "nnrt", "nnrt", "ascend_nnrt_install.info", findings)
    components += _scan_versions(root / "nnae", "nnae", "ascend_nnae_install.info", findings)
    components += _driver(root, findings)
    home, script = None, None
    if toolkit_parts:
        home = cann_link or latest or Path(toolkit_parts[0].path)
        # the toolkit scripts in the install table's order (cann/, then ascend-toolkit/), then one inside the home
        candidates = [root / s for s in install_layout()["toolkit_scripts"]] + [home / "set_env.sh"]
        fallback = root / ("cann" if cann_link else "ascend-toolkit") / "set_env.sh"
        script = next((c for c in candidates if c.is_file()), fallback)
    return components, findings, home, script


def default_roots(env: Optional[Mapping[str, str]] = None) -> List[Path]:
    """/usr/local/Ascend, $HOME/Ascend, and the root of the toolkit set_env.sh points to (if any)."""
    env = os.environ if env is None else env
    roots = install_roots(env)
    for var in ("ASCEND_TOOLKIT_HOME", "ASCEND_HOME_PATH"):
        home = env.get(var)
        if home:
            roots.append(root_of_home(Path(home)))
    return roots


def _unique(paths: Iterable[Path]) -> List[Path]:
    seen, unique = set(), []
    for p in paths:
        key = os.path.realpath(str(p))
        if key not in seen and p.is_dir():
            seen.add(key)
            unique.append(p)
    return unique


def scan(roots: Optional[List[Path]] = None, env: Optional[Mapping[str, str]] = None) -> CannScan:
    """Every CANN part under `roots` (default: the standard install roots), with findings."""
    searched = _unique(default_roots(env) if roots is None else [Path(r).expanduser() for r in roots])
    components: List[Component] = []
    findings: List[Finding] = []
    home, script = None, None
    for root in searched:
        parts, notes, root_home, root_script = scan_root(root)
        components += parts
        findings += notes
        if home is None and root_home is not None:
            home, script = root_home, root_script
    result = CannScan([str(r) for r in searched], components, findings,
                      str(home) if home else None, str(script) if script else None)
    result.findings += version_findings(result)
    return result


def version_findings(result: CannScan) -> List[Finding]:
    """CANN not found, parts whose release differs from the toolkit's, a driver the toolkit does not list."""
    toolkit = result.toolkit
    if toolkit is None:
        return [Finding("error", "cann.found", "no CANN toolkit found under {}".format(
            ", ".join(result.roots) or "/usr/local/Ascend or $HOME/Ascend (neither exists)"),
            "install Ascend-cann-toolkit_<version>_linux-<arch>.run (as root to /usr/local/Ascend, or as a user "
            "to $HOME/Ascend), then source <root>/ascend-toolkit/set_env.sh (<root>/cann/set_env.sh for 8.5+); "
            "or pass --root DIR if it is installed elsewhere")]
    findings = []
    differing = []
    for kind in VERSIONED_PARTS:
        parts = [c for c in result.of_kind(kind) if c.arch in (None, toolkit.arch)]
        in_use = [c for c in parts if c.active] or parts
        differing += ["{} {} ({})".format(kind, c.version, c.path) for c in in_use if c.version != toolkit.version]
    if differing:
        findings.append(Finding(
            "error", "cann.versions",
            "toolkit {} but {}: CANN parts of different versions convert models without complaint and then fail "
            "on the box with 500002 at load or 507011 at execute".format(toolkit.version, ", ".join(differing)),
            "install the kernels (8.5+: ops) and nnrt packages of exactly version {} (or move everything, "
            "including the training box's toolkit, to one version), then convert the models again".format(
                toolkit.version)))
    if not result.of_kind("kernels") and not result.of_kind("ops"):
        findings.append(Finding("warning", "cann.kernels", "no kernels/ops package next to toolkit {}".format(
            toolkit.version), "install Ascend-cann-kernels-<chip>_{}_linux.run (8.5+: Ascend-cann-<chip>-ops); "
                              "without it ATC fails with 'No supported Ops kernel and engine'".format(
                                  toolkit.version)))
    findings += _driver_findings(toolkit, result.driver)
    return findings


def _driver_findings(toolkit: Component, driver: Optional[Component]) -> List[Finding]:
    if driver is None:
        return []
    listed = _DRIVER_LINE.findall(toolkit.details.get("compatible_version", ""))
    line = _DRIVER_LINE.match(driver.inner_version or "")
    if listed and line and line.group(0) not in listed:
        return [Finding("warning", "cann.driver", "driver {} ({}) is not in toolkit {}'s compatible_version list "
                        "{}".format(driver.version, driver.inner_version, toolkit.version, ", ".join(listed)),
                        "install the driver and firmware release that the toolkit's documentation pairs with "
                        "{}".format(toolkit.version))]
    return []
