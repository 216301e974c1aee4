"""`omdeploy pack SPEC -o BUNDLE.tar`: the deployment and its evidence in one archive (format: manifest.py).

Packing refuses what `check` (the ATC pre-flight) or the spec rules refuse, writes the plan with
`convert(plan=True)` (or takes a built .om with its sidecar), golden data with `compare_sides(save=)` and the
simulator's outputs for the same inputs, and the doctor snapshot of this machine.
"""
from __future__ import annotations

import datetime
import io
import json
import shutil
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Set

from ..errors import UserError
from ..fileio import atomic_open, write_text
from ..spec import DeploySpec, Sidecar
from ..bundle.manifest import MANIFEST, Manifest, hash_files
from ..fileio import file_sha256

Say = Callable[[str], None]
REFERENCE_LABEL = "deploy.json (fp32, onnxruntime)"


@dataclass
class PackResult:
    path: Path
    manifest: Manifest
    compare: Dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> Dict[str, Any]:
        return {"bundle": str(self.path), "sha256": file_sha256(self.path), "size": self.path.stat().st_size,
                "manifest": self.manifest.to_dict(), "compare": self.compare}


def refuse_unpackable(spec: DeploySpec) -> None:
    """What `omdeploy check` reports as an error, or the spec rules refuse, is not packed."""
    from ..onnx.check import check
    from ..onnx.spec_rules import refuse_wrong_spec

    if spec.model_path.suffix.lower() != ".onnx":
        raise UserError("pack takes a spec whose model is an ONNX file, got {}".format(spec.model_path.name),
                        hint="export the model to ONNX first: omdeploy export")
    refuse_wrong_spec(spec)
    report = check(spec.model_path, spec=spec)
    if report.errors:
        first = report.errors[0]
        raise UserError("refusing to pack: check finds {} error(s) in {} for {} / CANN {}: {}".format(
            len(report.errors), spec.model_path.name, report.soc, report.cann, first.message),
            hint=first.fix or "omdeploy check {} --soc {} lists them".format(spec.model_path, report.soc))


def _stage_spec(spec: DeploySpec, stage: Path) -> Path:
    """Model, labels and a user AIPP file copied in; the spec rewritten with paths relative to the bundle root."""
    document = spec.to_dict()
    (stage / "model").mkdir()
    shutil.copy2(str(spec.model_path), str(stage / "model" / spec.model_path.name))
    for location in _external_data(spec.model_path):  # weights stored beside the ONNX travel with it
        target = stage / "model" / location
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(str(spec.model_path.parent / location), str(target))
    document["model"] = "model/" + spec.model_path.name
    if isinstance(spec.labels, str):
        document["labels"] = "labels.txt"
        write_text(stage / "labels.txt", "\n".join(spec.label_names() or []) + "\n")
    if spec.atc.insert_op_conf:
        source = (Path(spec.base_dir) / spec.atc.insert_op_conf).resolve()
        (stage / "aipp").mkdir()
        shutil.copy2(str(source), str(stage / "aipp" / source.name))
        document["atc"]["insert_op_conf"] = "aipp/" + source.name
    path = stage / "deploy.json"
    write_text(path, json.dumps(document, indent=2) + "\n")
    DeploySpec.load(path)  # the staged copy loads as the original did
    return path


def _external_data(model_path: Path) -> List[str]:
    """The files an ONNX model keeps its external tensors in, relative to the model."""
    from ..onnx.inspect import load_model

    model = load_model(model_path, load_external_data=False)
    locations: Set[str] = set()
    for tensor in model.graph.initializer:
        if tensor.data_location == 1:  # TensorProto.EXTERNAL
            locations.update(e.value for e in tensor.external_data if e.key == "location")
    for location in locations:
        if Path(location).is_absolute() or ".." in Path(location).parts:
            raise UserError("{}: external data at {!r} is outside the model's folder".format(model_path, location),
                            hint="save the model with its external data beside it (onnx.save ..., location=NAME)")
    return sorted(locations)


def _portable_plan(stage: Path, paths: Sequence[Optional[Path]]) -> None:
    """The plan's absolute staging paths made relative to the bundle: the script finds the bundle root itself."""
    prefix = str(stage) + "/"
    for path in [p for p in paths if p is not None and p.is_file()]:
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".sh":
            text = text.replace(prefix, "$BUNDLE/").replace(
                "set -e\n", 'set -e\nBUNDLE="$(cd "$(dirname "$0")/.." && pwd)"  # the unpacked bundle\n', 1)
        else:
            text = text.replace(prefix, "")
        write_text(path, text)


def _add_om(om: Path, spec: DeploySpec, stage: Path) -> Sidecar:
    sidecar_path = Sidecar.path_for(om)
    if not om.is_file():
        raise UserError("--om {} does not exist".format(om), hint="convert the spec first: omdeploy convert")
    with open(om, "rb") as handle:
        if not handle.read(4).startswith(b"IMOD"):
            raise UserError("--om {} is not an Ascend offline model (no IMOD header)".format(om),
                            hint="give the .om that omdeploy convert built")
    sidecar = Sidecar.load_if_valid(sidecar_path)
    if sidecar is None or not sidecar.built:
        raise UserError("--om {}: no sidecar {} of a built model next to it".format(om, sidecar_path.name),
                        hint="build it with omdeploy convert, which writes the sidecar")
    if sidecar.source.sha256 != file_sha256(spec.model_path):
        raise UserError("--om {} was built from another model than {} (the sidecar's source sha256 differs)".format(
            om, spec.model_path.name), hint="convert this spec again, then pack")
    (stage / "om").mkdir()
    shutil.copy2(str(om), str(stage / "om" / om.name))
    shutil.copy2(str(sidecar_path), str(stage / "om" / sidecar_path.name))
    return sidecar


def _golden(spec_path: Path, stage: Path, images: Sequence[Path], random: int, thresholds: Sequence[str],
            tracker: Optional[Callable[[str], Any]]) -> Dict[str, Any]:
    """fp32 reference vs the simulator on the inputs: golden/reference.npz (inputs + fp32 outputs), and the
    simulator's outputs for the same inputs in golden/sim.npz."""
    from ..runtime.session import Session
    from .compare import Threshold, compare_sides, load_golden, run_all, save_golden

    (stage / "golden").mkdir()
    reference = stage / "golden" / "reference.npz"
    report = compare_sides(str(spec_path), str(spec_path) + "@sim", inputs=list(images), random=random,
                           thresholds=[Threshold.parse(t) for t in thresholds], save=reference, tracker=tracker)
    golden = load_golden(reference)
    save_golden(reference, REFERENCE_LABEL, golden.samples, golden.outputs, golden.classifiers)  # not the temp path
    with Session(spec_path, backend="sim") as sim:
        outputs = run_all(sim, golden.samples)
    save_golden(stage / "golden" / "sim.npz", "deploy.json@sim", golden.samples, outputs, golden.classifiers)
    return {"passed": report.passed, "samples": len(report.samples),
            "outputs": [{"name": o.name, "passed": o.passed,
                         "metrics": {k: o.to_dict()["metrics"].get(k) for k in ("cosine", "max_abs", "top1")}}
                        for o in report.outputs]}


def _snapshot(stage: Path, snapshot: Optional[Path]) -> None:
    from ..ascend.doctor import load_snapshot, run_doctor

    (stage / "env").mkdir()
    if snapshot is not None:
        write_text(stage / "env" / "doctor.json", json.dumps(load_snapshot(snapshot), indent=2) + "\n")
    else:
        run_doctor().save(stage / "env" / "doctor.json")


def _write_tar(out: Path, stage: Path, manifest: Manifest) -> None:
    created = datetime.datetime.strptime(manifest.created, "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()

    def info(name: str, size: int, mode: int = 0o644) -> tarfile.TarInfo:
        member = tarfile.TarInfo(name)
        member.size, member.mode, member.mtime = size, mode, int(created)
        return member

    with atomic_open(out, "wb") as handle:
        with tarfile.open(fileobj=handle, mode="w", format=tarfile.PAX_FORMAT) as tar:
            data = (json.dumps(manifest.to_dict(), indent=2) + "\n").encode("utf-8")
            tar.addfile(info(MANIFEST, len(data)), io.BytesIO(data))  # first: is_bundle() looks for it
            for row in manifest.files:
                path = stage / row["path"]
                mode = 0o755 if path.stat().st_mode & 0o100 else 0o644
                with open(path, "rb") as source:
                    tar.addfile(info(row["path"], row["size"], mode), source)


def pack(spec_path: Path, out: Path, images: Sequence[Path] = (), random: int = 0,
         thresholds: Sequence[str] = (), om: Optional[Path] = None, snapshot: Optional[Path] = None,
         wheels: Sequence[str] = (), say: Say = lambda text: None,
         tracker: Optional[Callable[[str], Any]] = None) -> PackResult:
    from .. import __version__
    from ..ascend.convert import convert
    from .compare import Threshold

    spec = DeploySpec.load(spec_path)
    for text in thresholds:
        Threshold.parse(text)  # a bad threshold is refused before any work
    if not images and not random:
        raise UserError("pack needs golden inputs: -i IMAGES (photos or .npy/.npz) or --random N",
                        hint="omdeploy pack {} -o bundle.tar -i photos/".format(spec_path))
    if wheels:
        from ..bundle.wheels import parse_target

        for target in wheels:
            parse_target(target)
    say("check: the ATC pre-flight and the spec rules for {} / CANN {}".format(spec.target.soc_version,
                                                                                spec.target.cann))
    refuse_unpackable(spec)
    out = Path(out)
    with tempfile.TemporaryDirectory(prefix="omdeploy-pack-") as tmp:
        stage = Path(tmp).resolve()
        staged_spec = _stage_spec(spec, stage)
        staged = DeploySpec.load(staged_spec)
        roles: Dict[str, Optional[str]] = {"spec": "deploy.json", "model": staged.model,
                                           "labels": "labels.txt" if (stage / "labels.txt").is_file() else None}
        om_path = Path(om) if om is not None else None
        sidecar = _add_om(om_path, spec, stage) if om_path is not None else None
        if sidecar is not None and om_path is not None:
            roles.update({"om": "om/" + om_path.name, "sidecar": "om/" + Sidecar.path_for(om_path).name})
            cann_version = sidecar.cann_version
        else:
            cann_version = spec.target.cann
        say("plan: the atc script, AIPP file and sidecar (convert --plan)")
        planned = convert(staged, out_dir=stage / "plan", plan=True)
        _portable_plan(stage, [planned.script, planned.sidecar])
        roles.update({"script": _rel(planned.script, stage), "plan_sidecar": _rel(planned.sidecar, stage),
                      "aipp": _rel(planned.aipp_file, stage)})
        say("golden: fp32 reference and the simulator on {}".format(
            "{} random input(s)".format(random) if not images else ", ".join(str(p) for p in images)))
        compared = _golden(staged_spec, stage, images, random, thresholds, tracker)
        roles.update({"golden": "golden/reference.npz", "golden_sim": "golden/sim.npz"})
        say("doctor: {}".format("the snapshot {}".format(snapshot) if snapshot else "this machine's snapshot"))
        _snapshot(stage, snapshot)
        roles["snapshot"] = "env/doctor.json"
        for target in wheels:
            from ..bundle.wheels import build_wheelhouse

            say("wheels: {} (pip download; cached)".format(target))
            build_wheelhouse(target, stage / "wheels" / target)
        names = [p.relative_to(stage).as_posix() for p in stage.rglob("*") if p.is_file()]
        manifest = Manifest(name=spec.name or spec.model_path.stem,
                            created=datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                            omdeploy_version=__version__, soc_version=spec.target.soc_version,
                            cann_version=str(cann_version), built=sidecar is not None, roles=roles,
                            thresholds=list(thresholds), files=hash_files(stage, names), wheels=list(wheels),
                            packed={"compare": compared})
        _write_tar(out, stage, manifest)
    return PackResult(out, manifest, compared)


def _rel(path: Optional[Path], stage: Path) -> Optional[str]:
    if path is None:
        return None
    try:
        return Path(path).resolve().relative_to(stage).as_posix()
    except ValueError:
        return None
