"""The bundle format: an uncompressed tar whose first member is `bundle.json`, the manifest.

    bundle.json      schema, omdeploy version, created, the roles below, and every other file with its size and
                     sha256 (the manifest cannot hash itself; a changed manifest shows as files that disagree)
    deploy.json      the spec, its paths relative to the bundle root
    model/<name>     the source ONNX
    labels.txt       the class names, when the spec names a labels file
    om/<stem>.om     the .om and its sidecar, when built ...
    plan/            ... else the plan: the atc script, the AIPP file and the plan's sidecar
    golden/          reference.npz (inputs through the spec's preprocessing + fp32 outputs), sim.npz (the
                     simulator's outputs for the same inputs)
    env/doctor.json  the doctor snapshot of the machine that packed (or built) the bundle
    wheels/<target>/ an offline wheelhouse per --wheels target, with install.sh
"""
from __future__ import annotations

import json
import os
import tarfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Dict, List, Optional

from ..errors import UserError
from ..fileio import file_sha256

SCHEMA = 1
MANIFEST = "bundle.json"
BUNDLE_SUFFIXES = (".tar",)


def is_bundle(path: Any) -> bool:
    """A path named *.tar that is a tar archive with bundle.json as its first member."""
    if not isinstance(path, (str, os.PathLike)):
        return False
    path = Path(path)
    if path.suffix.lower() not in BUNDLE_SUFFIXES or not path.is_file():
        return False
    try:
        with tarfile.open(str(path), "r:") as tar:
            first = tar.next()
    except (OSError, tarfile.TarError):
        return False
    return first is not None and first.name == MANIFEST


@dataclass
class Manifest:
    name: str
    created: str
    omdeploy_version: str
    soc_version: str
    cann_version: str                     # of the toolkit that built the .om, or that the plan targets
    built: bool                           # an .om is inside (else only the plan)
    roles: Dict[str, Optional[str]]       # spec, model, om, sidecar, script, aipp, golden, golden_sim, snapshot
    thresholds: List[str] = field(default_factory=list)
    files: List[Dict[str, Any]] = field(default_factory=list)   # path, size, sha256
    wheels: List[str] = field(default_factory=list)
    packed: Dict[str, Any] = field(default_factory=dict)        # what pack measured: the sim-vs-fp32 compare
    schema: int = SCHEMA

    def to_dict(self) -> Dict[str, Any]:
        return {"schema": self.schema, "name": self.name, "created": self.created,
                "omdeploy_version": self.omdeploy_version, "soc_version": self.soc_version,
                "cann_version": self.cann_version, "built": self.built, "roles": dict(self.roles),
                "thresholds": list(self.thresholds), "wheels": list(self.wheels), "packed": self.packed,
                "files": list(self.files)}

    @classmethod
    def from_dict(cls, data: Any, source: str) -> "Manifest":
        if not isinstance(data, dict) or data.get("schema") != SCHEMA:
            raise UserError("{}: not a bundle manifest of schema {} (got {})".format(
                source, SCHEMA, data.get("schema") if isinstance(data, dict) else type(data).__name__),
                hint="pack the bundle again with this omdeploy version")
        try:
            return cls(name=str(data["name"]), created=str(data["created"]),
                       omdeploy_version=str(data["omdeploy_version"]), soc_version=str(data["soc_version"]),
                       cann_version=str(data["cann_version"]), built=bool(data["built"]), roles=dict(data["roles"]),
                       thresholds=list(data.get("thresholds", [])), files=list(data["files"]),
                       wheels=list(data.get("wheels", [])), packed=dict(data.get("packed", {})))
        except (KeyError, TypeError, ValueError) as exc:
            raise UserError("{}: the bundle manifest is incomplete ({})".format(source, exc),
                            hint="pack the bundle again") from None

    def path(self, role: str, root: Path) -> Optional[Path]:
        value = self.roles.get(role)
        return root / value if value else None


def hash_files(root: Path, names: List[str]) -> List[Dict[str, Any]]:
    return [{"path": n, "size": (root / n).stat().st_size, "sha256": file_sha256(root / n)} for n in sorted(names)]


def read_manifest(root: Path) -> Manifest:
    path = root / MANIFEST
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UserError("{} is not a bundle: no readable {} ({})".format(root, MANIFEST, exc),
                        hint="pack one with: omdeploy pack deploy.yaml -o bundle.tar") from None
    return Manifest.from_dict(data, str(path))


def integrity_problems(root: Path, manifest: Manifest) -> List[str]:
    """Every file whose size or sha256 differs from the manifest, that is missing, or that the manifest lacks."""
    problems = []
    listed = set()
    for row in manifest.files:
        name = row["path"]
        listed.add(name)
        path = root / name
        if not path.is_file():
            problems.append("{}: missing".format(name))
        elif path.stat().st_size != row["size"]:
            problems.append("{}: {} bytes, the manifest says {}".format(name, path.stat().st_size, row["size"]))
        elif file_sha256(path) != row["sha256"]:
            problems.append("{}: sha256 {}..., the manifest says {}...".format(name, file_sha256(path)[:12],
                                                                              row["sha256"][:12]))
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        name = path.relative_to(root).as_posix()
        if name != MANIFEST and name not in listed and not name.startswith(".omdeploy"):
            problems.append("{}: not in the manifest".format(name))
    return problems


def safe_members(tar: tarfile.TarFile, source: str) -> List[tarfile.TarInfo]:
    """Regular files and folders under the root only: no absolute paths, no '..', no links or devices."""
    members = []
    for member in tar.getmembers():
        parts = PurePosixPath(member.name).parts
        if member.name.startswith("/") or ".." in parts or not (member.isfile() or member.isdir()):
            raise UserError("{}: refusing the archive member {!r} (a link, a device, or a path outside the "
                            "bundle)".format(source, member.name), hint="pack the bundle again with omdeploy pack")
        members.append(member)
    return members


def extract(bundle: Path, dest: Path) -> None:
    try:
        with tarfile.open(str(bundle), "r:") as tar:
            members = safe_members(tar, str(bundle))
            for member in members:
                target = dest / member.name
                if member.isdir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                source = tar.extractfile(member)
                with open(target, "wb") as out:
                    while True:
                        block = source.read(1 << 20)  # type: ignore[union-attr]
                        if not block:
                            break
                        out.write(block)
                if member.mode & 0o100:
                    target.chmod(0o755)
    except (tarfile.TarError, EOFError) as exc:
        raise UserError("{} is not a readable bundle: {}".format(bundle, exc),
                        hint="copy it again (a transfer cut short?), or pack it again") from None
