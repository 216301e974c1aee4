"""Unpacking a bundle once: into <cache>/bundles/<sha256 of the archive>/, checked against its manifest.

The cache is $OMDEPLOY_CACHE, else $XDG_CACHE_HOME/omdeploy, else ~/.cache/omdeploy. Every open re-hashes the
unpacked files, so an unpacked copy changed after the fact is refused like a changed archive.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import List

from ..errors import UserError
from ..fileio import file_sha256
from .manifest import BUNDLE_SUFFIXES, Manifest, extract, integrity_problems, read_manifest


def cache_root() -> Path:
    if os.environ.get("OMDEPLOY_CACHE"):
        return Path(os.environ["OMDEPLOY_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "omdeploy"


@dataclass
class Unpacked:
    archive: Path
    sha256: str
    root: Path
    manifest: Manifest
    problems: List[str]          # integrity: empty when every file matches the manifest

    @property
    def spec_path(self) -> Path:
        return self.manifest.path("spec", self.root)  # type: ignore[return-value]

    @property
    def om_path(self):
        return self.manifest.path("om", self.root)

    def model_for_session(self, backend: str = "auto") -> Path:
        """What Session and run/bench open: the built .om (with its sidecar's spec) when inside and the backend
        runs .om files, else the spec (its ONNX through onnxruntime, OpenVINO or the simulator)."""
        om = self.om_path
        device = backend in ("auto", "acl", "mindx")
        return om if device and om is not None and om.is_file() else self.spec_path


def unpack(archive: Path) -> Unpacked:
    """The bundle unpacked (once per archive content) and its integrity problems; a UserError when it is no bundle."""
    archive = Path(archive)
    if not archive.is_file():
        raise UserError("bundle {} does not exist".format(archive), hint="check the path")
    digest = file_sha256(archive)
    folder = cache_root() / "bundles" / digest
    if not (folder / ".omdeploy-unpacked").is_file():
        try:
            folder.parent.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(prefix=".unpack-", dir=str(folder.parent)))
        except OSError as exc:
            raise UserError("cannot unpack {} into {}: {}".format(archive, folder.parent, exc.strerror or exc),
                            hint="set OMDEPLOY_CACHE to a writable folder with room for the bundle") from None
        try:
            extract(archive, staging)
            (staging / ".omdeploy-unpacked").write_text(str(archive.resolve()) + "\n")
            if (folder / ".omdeploy-unpacked").is_file():  # another process finished first: keep its copy
                shutil.rmtree(str(staging), ignore_errors=True)
            else:
                if folder.exists():  # a half-made copy left by an interrupted run
                    shutil.rmtree(str(folder), ignore_errors=True)
                try:
                    os.replace(str(staging), str(folder))
                except OSError:  # another process put its complete copy there meanwhile
                    if not (folder / ".omdeploy-unpacked").is_file():
                        raise
                    shutil.rmtree(str(staging), ignore_errors=True)
        except BaseException:
            shutil.rmtree(str(staging), ignore_errors=True)
            raise
    manifest = read_manifest(folder)
    return Unpacked(archive, digest, folder, manifest, integrity_problems(folder, manifest))


def open_verified(archive: Path) -> Unpacked:
    """unpack(), refusing a bundle whose files do not match its manifest (Session, run, bench)."""
    unpacked = unpack(archive)
    if unpacked.problems:
        raise UserError("{}: {} file(s) do not match the bundle's manifest: {}".format(
            archive, len(unpacked.problems), "; ".join(unpacked.problems[:3])),
            hint="copy the bundle again; omdeploy verify {} lists every check".format(archive))
    return unpacked


def resolve_model(path: "os.PathLike[str]", backend: str = "auto") -> Path:
    """A bundle's model (unpacked, verified) for Session, run and bench; any other path as it is."""
    path = Path(path)
    if path.suffix.lower() in BUNDLE_SUFFIXES:
        return open_verified(path).model_for_session(backend)
    return path
