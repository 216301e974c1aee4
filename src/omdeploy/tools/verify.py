"""`omdeploy verify BUNDLE.tar`: is this box about to compute what the training box computed?

Checks, in order, each a line of the report with the fix for a failure (docs/bundle.md ties each to the
failure it prevents):
  integrity          every file's size and sha256 against the manifest (a changed byte names the file)
  environment.packed the packing machine's toolkit (its doctor snapshot) against the .om's CANN version
  environment.cann   this machine's toolkit/kernels/nnrt against the .om's CANN version (500002 / 507011)
  environment.soc    this machine's soc_version (npu-smi) against the .om's
  build              with --build and no .om inside: atc from the plan, on this machine
  golden.reference   the golden inputs through the chosen backend against the fp32 outputs, the bundle's thresholds
  golden.sim         the same outputs against the simulator's outputs saved at pack time
  bench              a short latency run
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Optional

from ..errors import OmdeployError, UserError, one_of
from ..bundle.cache import Unpacked, unpack
from ..bundle.report import Check, CheckReport

VERIFY_BACKENDS = ("auto", "acl", "mindx", "sim", "onnxruntime")
DEVICE_BACKENDS = ("acl", "mindx")
BENCH_ITERATIONS = 20
BENCH_SECONDS = 3.0  # whichever comes first: the simulator is slow on a busy PC


def same_release(a: Optional[str], b: Optional[str]) -> bool:
    """'8.0' names every 8.0.x; '8.0.0' and '8.0.RC3' are different releases."""
    if not a or not b:
        return False
    x, y = str(a).lower().split("."), str(b).lower().split(".")
    n = min(len(x), len(y))
    return x[:n] == y[:n]


def _integrity(unpacked: Unpacked) -> Check:
    files = len(unpacked.manifest.files)
    if not unpacked.problems:
        return Check("integrity", "pass", "{} files match their sha256 in bundle.json".format(files),
                     data={"files": files, "sha256": unpacked.sha256})
    return Check("integrity", "fail", "; ".join(unpacked.problems),
                 "the bundle changed after packing (a transfer cut short or altered, a file edited): copy it again "
                 "from the training box, or pack it again", data={"problems": unpacked.problems})


def _packed_env(unpacked: Unpacked) -> Check:
    from ..ascend.doctor import snapshot_toolkit, load_snapshot

    m = unpacked.manifest
    snapshot = load_snapshot(m.path("snapshot", unpacked.root))  # type: ignore[arg-type]
    host = (snapshot.get("host") or {}).get("hostname") or "the packing machine"
    toolkit = snapshot_toolkit(snapshot)
    what = "the .om was built by CANN {}".format(m.cann_version) if m.built else \
        "the plan targets CANN {}".format(m.cann_version)
    if toolkit is None:
        return Check("environment.packed", "pass" if not m.built else "skip",
                     "{}; {} has no CANN toolkit{}".format(what, host, "" if m.built else
                                                           ": the box's toolkit builds the .om (verify --build)"))
    matches = toolkit.version == m.cann_version if m.built else same_release(m.cann_version, toolkit.version)
    if matches:
        return Check("environment.packed", "pass", "{}; {} has toolkit {}".format(what, host, toolkit.version))
    return Check("environment.packed", "fail",
                 "{} but {}'s doctor snapshot shows toolkit {}: the .om and the machine that packed it disagree, "
                 "and an .om converted by one CANN and run on another fails with 500002 at load or 507011 at "
                 "execute".format(what, host, toolkit.version),
                 "convert on a machine whose toolkit is CANN {} (or set the spec's target.cann to {}), then pack "
                 "again".format(m.cann_version, toolkit.version),
                 data={"om_cann": m.cann_version, "snapshot_toolkit": toolkit.version})


def _box_cann(unpacked: Unpacked, report: Any, device: bool) -> Check:
    from ..ascend.cann import VERSIONED_PARTS

    m = unpacked.manifest
    parts = [report.cann.toolkit] if report.cann.toolkit else []
    for kind in VERSIONED_PARTS:
        found = report.cann.of_kind(kind)
        parts += [c for c in found if c.active] or found
    if not parts:
        if not device:
            return Check("environment.cann", "skip", "no CANN on this machine; the chosen backend needs none")
        return Check("environment.cann", "fail", "no CANN on this machine: the .om needs CANN {} (toolkit or nnrt, "
                     "kernels, driver)".format(m.cann_version),
                     "install CANN {} (toolkit, kernels and nnrt) and the driver, then omdeploy doctor".format(
                         m.cann_version))
    match = (lambda v: v == m.cann_version) if m.built else (lambda v: same_release(m.cann_version, v))
    differing = ["{} {}".format(c.kind, c.version) for c in parts if not match(c.version)]
    seen = ", ".join("{} {}".format(c.kind, c.version) for c in parts)
    if not differing:
        return Check("environment.cann", "pass", "CANN {} here ({}) matches the .om's".format(m.cann_version, seen))
    return Check("environment.cann", "fail" if device else "skip",
                 "the .om is for CANN {}, this machine has {}: it fails with 500002 at load or 507011 at execute "
                 "here".format(m.cann_version, ", ".join(differing)),
                 "install CANN {} here (toolkit, kernels and nnrt alike), or convert on the training box with this "
                 "machine's version and pack again".format(m.cann_version),
                 data={"om_cann": m.cann_version, "differing": differing})


def _box_soc(unpacked: Unpacked, report: Any, device: bool) -> Check:
    m = unpacked.manifest
    soc = report.soc_version
    if not soc:
        return Check("environment.soc", "fail" if device else "skip",
                     "no NPU found by npu-smi; the .om is for {}".format(m.soc_version),
                     "check the driver (npu-smi info) on the box" if device else "")
    if soc == m.soc_version:
        return Check("environment.soc", "pass", "the NPU here is {}, as the .om's".format(soc))
    return Check("environment.soc", "fail", "the .om is for {}, the NPU here is {}: an .om runs only on the "
                 "soc_version it was converted for".format(m.soc_version, soc),
                 "set target.soc_version: {} in the spec, convert and pack again".format(soc),
                 data={"om_soc": m.soc_version, "box_soc": soc})


def _build(unpacked: Unpacked) -> "tuple[Check, Optional[Path]]":
    from ..ascend.convert import convert
    from ..spec import DeploySpec

    result = convert(DeploySpec.load(unpacked.spec_path), out_dir=unpacked.root / ".omdeploy-build")
    if result.status == "built":
        return Check("build", "pass", "atc built {} (CANN {})".format(result.om.name, result.atc.version
                                                                      if result.atc else "?")), result.om
    if result.status == "no_atc":
        return Check("build", "fail", "no atc on this machine: the bundle holds only the plan",
                     "install the CANN toolkit (it has atc) and source its set_env.sh, or run the plan's script "
                     "{}".format(unpacked.manifest.roles.get("script"))), None
    lines = "; ".join(result.error_lines[:3]) or "atc exited {}".format(result.returncode)
    fix = "; ".join(result.diagnoses[0]["fixes"]) if result.diagnoses else "omdeploy explain {}".format(result.log)
    return Check("build", "fail", "atc failed: {}".format(lines), fix), None


def _target(unpacked: Unpacked, backend: str, om: Optional[Path]) -> "tuple[Optional[str], str]":
    """The compare side (PATH@BACKEND) for the backend, and the backend actually used."""
    from ..runtime.session import AUTO_BACKENDS, BACKENDS
    from .._optional import available

    spec = str(unpacked.spec_path)
    if backend == "auto":
        if om is None:
            return spec + "@sim", "sim"
        for name in AUTO_BACKENDS[".om"]:
            if available(BACKENDS[name][2]):
                return "{}@{}".format(om, name), name
        return "{}@{}".format(om, AUTO_BACKENDS[".om"][0]), AUTO_BACKENDS[".om"][0]
    if backend in DEVICE_BACKENDS:
        return ("{}@{}".format(om, backend) if om is not None else None), backend
    return "{}@{}".format(spec, backend), backend


def _golden(unpacked: Unpacked, target: str, role: str, name: str, fix: str) -> Check:
    from ..spec import DeploySpec
    from .compare import Threshold, compare_sides

    thresholds = [Threshold.parse(t) for t in unpacked.manifest.thresholds]
    golden = unpacked.manifest.path(role, unpacked.root)
    report = compare_sides(None, target, golden=golden, spec=DeploySpec.load(unpacked.spec_path),
                           thresholds=thresholds)
    parts = []
    for o in report.outputs:
        failed = ["{} {:.6g} (needs {}{:g})".format(c["metric"], c["actual"], c["op"], c["value"])
                  for c in o.checks if c["passed"] is False]
        shown = ", ".join("{} {:.6g}".format(k, o.metrics[k]) for k in ("cosine", "max_abs", "top1")
                          if isinstance(o.metrics.get(k), float))
        parts.append("{}: {}{}".format(o.name, shown, "; failed " + ", ".join(failed) if failed else ""))
    detail = "{} sample(s) vs {}: {}".format(len(report.samples), report.ref, "; ".join(parts))
    return Check(name, "pass" if report.passed else "fail", detail, "" if report.passed else fix,
                 data=report.to_dict())


def _bench(unpacked: Unpacked, target: str) -> Check:
    from ..spec import DeploySpec
    from .bench import bench
    from .compare import split_side

    path, backend = split_side(target)
    result = bench(path, backend=backend, iterations=BENCH_ITERATIONS, duration=BENCH_SECONDS, warmup=2,
                   spec=None if path == str(unpacked.spec_path) else DeploySpec.load(unpacked.spec_path))
    if not result.ok:
        return Check("bench", "fail", "{}: {}".format(backend, result.error),
                     "omdeploy bench {} --backend {} -v shows the error".format(unpacked.archive, backend))
    return Check("bench", "pass", "{}: median {:.2f} ms, p90 {:.2f} ms, {:.1f} items/s over {} runs".format(
        result.backend, result.latency_ms["median"], result.latency_ms["p90"], result.throughput or 0.0, result.iterations),
        data=result.to_dict())


def verify(bundle: Path, backend: str = "auto", build: bool = False,
           doctor: Optional[Callable[[], Any]] = None, say: Callable[[str], None] = lambda text: None) -> CheckReport:
    """Every check of the module docstring on `bundle`; `doctor` (for tests) replaces run_doctor()."""
    from ..ascend.doctor import run_doctor

    if backend not in VERIFY_BACKENDS:
        raise UserError("--backend {}: expected one of {}".format(backend, one_of(VERIFY_BACKENDS)))
    unpacked = unpack(Path(bundle))
    m = unpacked.manifest
    report = CheckReport("omdeploy verify {}".format(Path(bundle).name), {
        "bundle": str(bundle), "sha256": unpacked.sha256, "name": m.name, "soc_version": m.soc_version,
        "cann_version": m.cann_version, "built": m.built, "backend": backend, "unpacked": str(unpacked.root)})
    say("integrity: {} files".format(len(m.files)))
    if report.add(_integrity(unpacked)).status == "fail":
        for name in ("environment", "golden", "bench"):
            report.add(Check(name, "skip", "not run: the bundle's files are not the ones packed"))
        return report
    say("environment: doctor on this machine")
    om = m.path("om", unpacked.root)
    device = backend in DEVICE_BACKENDS or (backend == "auto" and (om is not None or build))
    box = (doctor or run_doctor)()
    for step in (lambda: _packed_env(unpacked), lambda: _box_cann(unpacked, box, device),
                 lambda: _box_soc(unpacked, box, device)):
        report.add(step())
    if build and om is None:
        say("build: atc from the plan")
        check, om = _build(unpacked)
        report.add(check)
    target, used = _target(unpacked, backend, om)
    report.facts["backend"] = used
    if target is None:
        report.add(Check("golden.reference", "fail", "the {} backend runs an .om and the bundle holds only the "
                         "plan".format(used), "verify --build (atc from the plan, on this machine), or "
                         "--backend sim"))
        return report
    say("golden: {}".format(target))
    compare_fix = ("the deployment computes differently here than on the training box: omdeploy compare "
                   "deploy.yaml deploy.yaml@sim --layers on the training box finds the first layer that breaks")
    for role, name in (("golden", "golden.reference"), ("golden_sim", "golden.sim")):
        report.add(_guarded(name, lambda: _golden(unpacked, target, role, name, compare_fix)))
    say("bench: up to {} runs or {:g} s".format(BENCH_ITERATIONS, BENCH_SECONDS))
    report.add(_guarded("bench", lambda: _bench(unpacked, target)))
    return report


def _guarded(name: str, run: Callable[[], Check]) -> Check:
    """A check whose backend fails (a missing runtime, a model it refuses) is a failed line, not a crash."""
    try:
        return run()
    except OmdeployError as exc:
        return Check(name, "fail", exc.message, exc.hint or "")


__all__ = ["verify", "same_release", "VERIFY_BACKENDS"]
