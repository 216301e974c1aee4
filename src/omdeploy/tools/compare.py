"""Compare two Sessions output by output: cosine, max/mean absolute error, max relative error, RMSE, the
smallest atol/rtol that would pass, top-k agreement for classifiers; thresholds per output; golden `.npz`.

A side is "PATH[@BACKEND]": `model.onnx` (onnxruntime), `deploy.yaml@sim` (the deployed .om simulated),
`model.om` (pyACL on the box), `model.onnx@openvino`. Inputs are real images (through the spec's
preprocessing), `.npy`/`.npz` arrays, or seeded random data within ranges.

    report = compare(open_side("deploy.yaml"), open_side("deploy.yaml@sim"), samples)
    report.passed, report.outputs[0].metrics["cosine"]
"""
from __future__ import annotations

from contextlib import ExitStack

import json
import re
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..fileio import atomic_open
from ..errors import UserError, check_output_file, did_you_mean, one_of
from ..runtime.base import TensorInfo
from ..runtime.session import BACKENDS, Session
from ..spec import SPEC_SUFFIXES, DeploySpec

Sample = Dict[str, np.ndarray]
Progress = Callable[[int, int], None]

from .metrics import MSIT_METRICS, identical_nonfinite, msit_metrics
from .task_verdicts import TASK_METRICS, VERDICT_TASKS

METRICS = ("cosine", "max_abs", "mean_abs", "max_rel", "rmse", "atol", "rtol", "top1", "top5") + tuple(
    m for m in MSIT_METRICS if m != "StandardDeviation") + TASK_METRICS
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")
GOLDEN_FORMAT = 1


# ---- sides -------------------------------------------------------------------------------------------

def split_side(text: str) -> Tuple[str, str]:
    """'deploy.yaml@sim' -> ('deploy.yaml', 'sim'); a path without '@backend' runs on 'auto'."""
    path, sep, backend = text.rpartition("@")
    if sep and backend in BACKENDS:
        return path, backend
    if sep and "/" not in backend and "." not in backend:
        raise UserError("{}: unknown backend {!r}{}; known: {}".format(
            text, backend, did_you_mean(backend, BACKENDS), one_of(sorted(BACKENDS))))
    return text, "auto"


def open_side(text: str, spec: Optional[DeploySpec] = None) -> Session:
    """A Session for one side. A bare model file gets `spec` (its preprocessing, layouts, deployment);
    `model.onnx@sim` without one simulates what ATC makes from the bare model (force_fp16, its own shapes)."""
    path, backend = split_side(text)
    is_spec = Path(path).suffix.lower() in SPEC_SUFFIXES
    return Session(path, backend=backend, spec=None if is_spec else spec)


# ---- thresholds --------------------------------------------------------------------------------------

_THRESHOLD = re.compile(r"^(?:(?P<output>[^:]+):)?(?P<metric>[A-Za-z0-9_]+)\s*(?P<op>>=|<=)\s*(?P<value>[-+0-9.eE]+)$")


@dataclass(frozen=True)
class Threshold:
    metric: str
    op: str
    value: float
    output: Optional[str] = None  # None: every output

    @classmethod
    def parse(cls, text: str) -> "Threshold":
        match = _THRESHOLD.match(text.strip())
        if not match:
            raise UserError("threshold {!r}: expected [OUTPUT:]METRIC>=VALUE or <=VALUE, e.g. cosine>=0.999 or "
                            "logits:max_abs<=0.05".format(text))
        metric = match.group("metric")
        if metric not in METRICS:
            raise UserError("threshold {!r}: unknown metric {!r}{}; known: {}".format(
                text, metric, did_you_mean(metric, METRICS), one_of(METRICS)))
        try:
            value = float(match.group("value"))
        except ValueError:
            raise UserError("threshold {!r}: {!r} is not a number".format(text, match.group("value"))) from None
        return cls(metric, match.group("op"), value, match.group("output"))

    def check(self, actual: Optional[float]) -> Optional[bool]:
        if actual is None:
            return None  # not applicable: top-1/top-5 of a non-classifier
        if np.isnan(actual):
            return False  # no value (cosine of non-finite outputs) passes nothing
        return bool(actual >= self.value) if self.op == ">=" else bool(actual <= self.value)

    def __str__(self) -> str:
        return "{}{}{:g}".format(self.metric, self.op, self.value)


# cosine alone is scale-blind (a 1.5x rescale keeps cosine 1.0) and meaningless on one value: the relative
# Euclidean distance ||target - ref|| / ||ref|| judges scale and 1-element outputs; fp16 noise stays near 1e-3
DEFAULT_THRESHOLDS = (Threshold("cosine", ">=", 0.99), Threshold("RelativeEuclideanDistance", "<=", 0.05),
                      Threshold("top1", ">=", 1.0))


# the answers must agree: fp16 noise keeps every detection (within CONF_MARGIN of the threshold) and its box and
# score; a channel swap changes classes and scores. Checked on the decoded answers, beside the tensor checks.
TASK_THRESHOLDS: Dict[str, Tuple[Threshold, ...]] = {
    "classify": (Threshold("top1", ">=", 1.0), Threshold("top1_in_top5", ">=", 1.0)),
    "detect": (Threshold("det_precision", ">=", 0.9), Threshold("det_recall", ">=", 0.9),
               Threshold("box_iou", ">=", 0.9), Threshold("score_diff", "<=", 0.05)),
    "ocr-rec": (Threshold("cer", "<=", 0.01),),
}
TASK_THRESHOLDS["segment"] = TASK_THRESHOLDS["detect"] + (Threshold("mask_iou", ">=", 0.9),)
TASK_ALIASES = {"ocr": "ocr-rec"}


def task_thresholds(task: str, given: Sequence[Threshold]) -> List[Threshold]:
    """The task's defaults, overridden metric by metric by thresholds of task metrics (no output named)."""
    chosen = {t.metric: t for t in TASK_THRESHOLDS[task]}
    chosen.update({t.metric: t for t in given if t.output is None and t.metric in TASK_METRICS + ("top1",)})
    return list(chosen.values())


def thresholds_for(output: str, given: Sequence[Threshold]) -> List[Threshold]:
    """Defaults, overridden metric by metric by global thresholds, then by ones naming this output."""
    chosen = {t.metric: t for t in DEFAULT_THRESHOLDS}
    chosen.update({t.metric: t for t in given if t.output is None})
    chosen.update({t.metric: t for t in given if t.output == output})
    return list(chosen.values())


# ---- metrics -----------------------------------------------------------------------------------------

def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        return float("nan")
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    if na == 0.0 or nb == 0.0:
        return 1.0 if na == nb else 0.0
    return float(np.dot(a, b) / (na * nb))


def _top_agreement(ref: np.ndarray, got: np.ndarray, k: int) -> float:
    """Mean fraction of the reference's top-k classes also in the target's top-k, per row."""
    k = min(k, ref.shape[-1])
    r = np.argsort(-ref.reshape(-1, ref.shape[-1]), axis=-1)[:, :k]
    g = np.argsort(-got.reshape(-1, got.shape[-1]), axis=-1)[:, :k]
    if k == 1:
        return float(np.mean(r[:, 0] == g[:, 0]))
    return float(np.mean([len(set(a) & set(b)) / k for a, b in zip(r, g)]))


def output_metrics(refs: Sequence[np.ndarray], gots: Sequence[np.ndarray], classifier: bool) -> Dict[str, Any]:
    """Metrics of one output over all samples. cosine is the worst sample's; atol is the smallest atol that
    passes with rtol=0, rtol the smallest rtol that passes with atol=0."""
    cosines, diffs, ref_abs, nonfinite = [], [], [], 0
    finite_refs, finite_gots = [], []
    for ref, got in zip(refs, gots):
        if ref.shape != got.shape:
            raise UserError("output shapes differ: reference {} vs target {}".format(ref.shape, got.shape))
        r, g = ref.astype(np.float64).ravel(), got.astype(np.float64).ravel()
        keep = ~identical_nonfinite(r, g)  # the same inf (or NaN) on both sides is equal, not an error
        r, g = r[keep], g[keep]
        nonfinite += int(2 * np.size(g) - np.count_nonzero(np.isfinite(g)) - np.count_nonzero(np.isfinite(r)))
        cosines.append(_cosine(r, g) if ref.size > 1 else None)  # cosine of one value is always 1
        diffs.append(np.abs(r - g))
        ref_abs.append(np.abs(r))
        both = np.isfinite(r) & np.isfinite(g)
        finite_refs.append(r[both])
        finite_gots.append(g[both])
    d, a = np.concatenate(diffs), np.concatenate(ref_abs)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(d == 0, 0.0, d / a)
    valid = [c for c in cosines if c is not None]
    metrics: Dict[str, Any] = {
        "cosine": None if not valid else (float("nan") if any(np.isnan(valid)) else min(valid)),
        "max_abs": float(d.max(initial=0.0)), "mean_abs": float(d.mean()) if d.size else 0.0,
        "max_rel": float(rel.max(initial=0.0)), "rmse": float(np.sqrt(np.mean(d ** 2))) if d.size else 0.0,
        "nonfinite": nonfinite, "top1": None, "top5": None,
    }
    metrics["atol"], metrics["rtol"] = metrics["max_abs"], metrics["max_rel"]  # Polygraphy's minimum tolerances
    msit = msit_metrics(np.concatenate(finite_refs), np.concatenate(finite_gots))
    if nonfinite:  # a value that is inf/NaN on one side only: no metric of the rest stands for the output
        msit.update({k: float("nan") for k in ("RelativeEuclideanDistance", "MaxRelativeError")})
    metrics.update(msit)
    metrics["CosineSimilarity"] = metrics["cosine"]
    if classifier:
        ref_all, got_all = np.concatenate([r.reshape(-1, r.shape[-1]) for r in refs]), \
            np.concatenate([g.reshape(-1, g.shape[-1]) for g in gots])
        metrics["top1"] = _top_agreement(ref_all, got_all, 1)
        metrics["top5"] = _top_agreement(ref_all, got_all, 5)
    # None only for top-k of a non-classifier (not applicable); rtol/max_rel stay inf when the reference has
    # zeros where the target does not, cosine stays nan for non-finite values: both fail their thresholds
    return metrics


def json_safe(value: Any) -> Any:
    """JSON has no inf/nan: a non-finite float becomes the string "inf", "-inf" or "nan" (docs/simulate.md)."""
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, float) and not np.isfinite(value):
        return "nan" if np.isnan(value) else ("inf" if value > 0 else "-inf")
    return value


# ---- report ------------------------------------------------------------------------------------------

@dataclass
class OutputReport:
    name: str
    metrics: Dict[str, Any]
    checks: List[Dict[str, Any]]

    @property
    def passed(self) -> bool:
        return self.metrics.get("nonfinite", 0) == 0 and all(c["passed"] is not False for c in self.checks)

    def to_dict(self) -> Dict[str, Any]:
        return {"name": self.name, "passed": self.passed, "metrics": json_safe(self.metrics),
                "checks": json_safe(self.checks)}


@dataclass
class Report:
    ref: str
    target: str
    samples: List[str]
    outputs: List[OutputReport]
    layers: Optional[Dict[str, Any]] = None
    target_info: Dict[str, Any] = field(default_factory=dict)
    task: Optional[Dict[str, Any]] = None  # {"task", "metrics", "checks", "passed"}: the decoded answers agree

    @property
    def passed(self) -> bool:
        return (all(o.passed for o in self.outputs) and (self.layers is None or self.layers.get("first_jump") is None)
                and (self.task is None or self.task["passed"]))

    def to_dict(self) -> Dict[str, Any]:
        return {"ref": self.ref, "target": self.target, "passed": self.passed, "samples": list(self.samples),
                "target_info": self.target_info, "outputs": [o.to_dict() for o in self.outputs],
                "task": json_safe(self.task), "layers": json_safe(self.layers)}


def is_classifier(info: TensorInfo, sessions: Sequence[Optional[Session]]) -> bool:
    if info.rank != 2 or np.dtype(info.dtype).kind != "f":
        return False
    specs = [s.spec for s in sessions if s is not None and s.spec is not None]
    return any(spec.task == "classify" for spec in specs) if specs else True


def compare_outputs(refs: Sequence[Dict[str, np.ndarray]], gots: Sequence[Dict[str, np.ndarray]],
                    classifiers: Sequence[str], thresholds: Sequence[Threshold]) -> List[OutputReport]:
    names = [n for n in refs[0] if n in gots[0]]
    if not names:
        raise UserError("the two sides share no output name: reference {} vs target {}".format(
            one_of(list(refs[0])), one_of(list(gots[0]))))
    reports = []
    for name in names:
        metrics = output_metrics([r[name] for r in refs], [g[name] for g in gots], name in classifiers)
        checks = [{"metric": t.metric, "op": t.op, "value": t.value, "actual": metrics.get(t.metric),
                   "passed": t.check(metrics.get(t.metric))} for t in thresholds_for(name, thresholds)]
        reports.append(OutputReport(name, metrics, checks))
    return reports


# ---- inputs ------------------------------------------------------------------------------------------

def _expand(paths: Sequence[Path]) -> List[Path]:
    """The inputs of compare, found as run finds them (folders searched recursively, others reported)."""
    from ..tasks.image import files_with_suffixes

    return files_with_suffixes(paths, IMAGE_SUFFIXES + (".npy", ".npz"), what="images or arrays")


def _shape_for(info: TensorInfo, shapes: Dict[str, List[int]], spec: Optional[DeploySpec] = None) -> List[int]:
    """The shape to feed: --shape, else the input's own, with gear dims from the spec's smallest gear (batch 1
    of gears 1, 2, 4) when no --shape says otherwise."""
    from ..runtime.gears import Gears

    if info.name in shapes and len(shapes[info.name]) != info.rank:
        raise UserError("--shape {}: expected {} dims like {}, got {}".format(
            info.name, info.rank, info.shape_str(), ",".join(map(str, shapes[info.name]))))
    shape: List[Any] = list(shapes[info.name]) if shapes.get(info.name) else list(info.shape)
    if not all(isinstance(d, int) and d > 0 for d in shape) and spec is not None:
        shape = Gears.from_spec(spec).smallest(shape, info.layout) or shape
    if len(shape) != info.rank or not all(isinstance(d, int) for d in shape):
        raise UserError("input '{}' has dynamic dims {}; say which shape to feed".format(info.name, info.shape_str()),
                        hint="--shape {}:{}".format(info.name, ",".join(str(d) if isinstance(d, int) else "N"
                                                                          for d in info.shape)))
    return [int(d) for d in shape]


def _image_hw(info: TensorInfo, shape: List[int], spec: Optional[DeploySpec]) -> Tuple[int, int]:
    """The photo's size for this input (ascend.contract.image_hw): YUV420SP planes hold a picture of 2/3 their
    rows, and every side then converts the same RGB picture to what it takes (run_all)."""
    from ..ascend.contract import image_hw

    h, w = image_hw(shape, info.layout, pixel_formats(spec, [info])[info.name])
    if h is None or w is None:
        raise UserError("input '{}' {} is not an image input with a known size".format(info.name, info.shape_str()),
                        hint="give .npy/.npz arrays, or --shape {}:DIMS".format(info.name))
    return h, w


def image_sample(path: Path, infos: Sequence[TensorInfo], spec: Optional[DeploySpec],
                 shapes: Dict[str, List[int]]) -> Sample:
    """One image resized as the spec says, as uint8 HWC: each Session normalises it its own way (host or AIPP)."""
    from ..spec import PreprocessSpec
    from ..tasks.image import load_image
    from ..tasks.preprocess import fit

    images = [i for i in infos if i.rank == 4]
    if len(images) != 1 or len(infos) != 1:
        raise UserError("images need a model with one image input, got inputs {}".format(
            one_of([i.name for i in infos])), hint="give .npz files with one array per input name")
    info = images[0]
    height, width = _image_hw(info, _shape_for(info, shapes, spec), spec)
    pre = spec.preprocess if spec is not None and spec.preprocess is not None else PreprocessSpec()
    image, _ = fit(load_image(path), height, width, pre)
    return {info.name: image}


def array_samples(path: Path, infos: Sequence[TensorInfo]) -> List[Tuple[str, Sample]]:
    names = [i.name for i in infos]
    if path.suffix.lower() == ".npy":
        if len(names) != 1:
            raise UserError("{}: a .npy holds one array but the model has inputs {}".format(path, one_of(names)),
                            hint="save an .npz with one array per input name")
        return [(path.name, {names[0]: np.load(path, allow_pickle=False)})]
    with np.load(path, allow_pickle=False) as data:
        missing = [n for n in names if n not in data.files]
        if missing:
            raise UserError("{}: no array named {!r}; it has {}".format(path, missing[0], one_of(data.files)),
                            hint="name the arrays after the model's inputs: {}".format(one_of(names)))
        return [(path.name, {n: data[n] for n in names})]


def random_samples(infos: Sequence[TensorInfo], count: int, seed: int, shapes: Dict[str, List[int]],
                   ranges: Dict[str, Tuple[float, float]], spec: Optional[DeploySpec] = None
                   ) -> List[Tuple[str, Sample]]:
    """Seeded random data: uniform within the input's range ([0, 1) by default, [0, 255] for uint8)."""
    rng = np.random.default_rng(seed)
    samples = []
    for k in range(count):
        sample = {}
        for info in infos:
            shape = _shape_for(info, shapes, spec)
            dtype = np.dtype(info.dtype)
            low, high = ranges.get(info.name, (0, 255) if dtype == np.uint8 else (0.0, 1.0))
            if dtype.kind in "iu":
                sample[info.name] = rng.integers(int(low), int(high), size=shape, endpoint=True).astype(dtype)
            else:
                sample[info.name] = rng.uniform(low, high, size=shape).astype(dtype)
        samples.append(("random#{}".format(k), sample))
    return samples


def feed_infos(ref: Optional[Session], target: Session) -> List[TensorInfo]:
    """The inputs data is made for: the device's uint8 image contract wins (both sides accept an image)."""
    uint8_images = [i for i in target.inputs if np.dtype(i.dtype) == np.uint8 and i.rank == 4]
    if uint8_images or ref is None:
        return list(target.inputs)
    return list(ref.inputs)


def make_samples(inputs: Sequence[Path], infos: Sequence[TensorInfo], spec: Optional[DeploySpec], random: int,
                 seed: int, shapes: Dict[str, List[int]], ranges: Dict[str, Tuple[float, float]]
                 ) -> List[Tuple[str, Sample]]:
    if not inputs:
        return random_samples(infos, random or 1, seed, shapes, ranges, spec)
    samples: List[Tuple[str, Sample]] = []
    for path in _expand(inputs):
        if path.suffix.lower() in (".npy", ".npz"):
            samples.extend(array_samples(path, infos))
        else:
            samples.append((path.name, image_sample(path, infos, spec, shapes)))
    return samples


# ---- golden data -------------------------------------------------------------------------------------

def save_golden(path: Path, ref_label: str, samples: Sequence[Tuple[str, Sample]],
                outputs: Sequence[Dict[str, np.ndarray]], classifiers: Sequence[str]) -> Path:
    meta = {"format": GOLDEN_FORMAT, "ref": ref_label, "samples": [name for name, _ in samples],
            "inputs": list(samples[0][1]), "outputs": list(outputs[0]), "classifiers": list(classifiers)}
    arrays = {"__meta__": np.array(json.dumps(meta))}
    for k, ((_, sample), out) in enumerate(zip(samples, outputs)):
        arrays.update({"input/{}/{}".format(k, n): a for n, a in sample.items()})
        arrays.update({"ref/{}/{}".format(k, n): a for n, a in out.items()})
    with atomic_open(path, "wb") as handle:
        np.savez_compressed(handle, **arrays)
    return path


@dataclass
class Golden:
    ref: str
    samples: List[Tuple[str, Sample]]
    outputs: List[Dict[str, np.ndarray]]
    classifiers: List[str] = field(default_factory=list)


def load_golden(path: Path) -> Golden:
    hint = "a file cut short (an interrupted --save) must be saved again"
    try:
        data = np.load(path, allow_pickle=False)
        meta = json.loads(str(data["__meta__"]))
    except (OSError, ValueError, KeyError, IndexError, TypeError, EOFError, zipfile.BadZipFile) as exc:
        reason = "it holds one array (.npy), not an .npz archive" if isinstance(exc, (IndexError, TypeError)) else (
            "empty or cut short" if isinstance(exc, (EOFError, zipfile.BadZipFile)) else exc)
        raise UserError("{} is not golden data written by `omdeploy compare --save`: {}".format(path, reason),
                        hint=hint) from None
    if meta.get("format") != GOLDEN_FORMAT:
        raise UserError("{}: golden format {} is not {}".format(path, meta.get("format"), GOLDEN_FORMAT),
                        hint="save it again with this omdeploy version")
    try:
        with data:
            samples = [(name, {n: data["input/{}/{}".format(k, n)] for n in meta["inputs"]})
                       for k, name in enumerate(meta["samples"])]
            outputs = [{n: data["ref/{}/{}".format(k, n)] for n in meta["outputs"]} for k in range(len(samples))]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise UserError("{}: golden data is incomplete ({})".format(path, str(exc).splitlines()[0] if str(exc) else
                                                                    type(exc).__name__), hint=hint) from None
    return Golden(meta["ref"], samples, outputs, meta.get("classifiers", []))


# ---- running -----------------------------------------------------------------------------------------

def pixel_formats(spec: Optional[DeploySpec], infos: Sequence[TensorInfo]) -> Dict[str, str]:
    """input name -> the pixels a side takes from a photo: the device contract's format for an AIPP input of
    the .om (uint8: from preprocess or the user's insert_op_conf), else RGB (or gray) for the host's adapter."""
    from ..ascend.contract import aipp_formats
    from ..tasks.preprocess import feed_format

    aipp = aipp_formats(spec) if spec is not None else {}
    pre = spec.preprocess if spec is not None else None
    return {i.name: aipp[i.name] if i.name in aipp and np.dtype(i.dtype) == np.uint8 else feed_format(i, pre)
            for i in infos}


def device_pixels(session: Session) -> Callable[[str, np.ndarray], np.ndarray]:
    """How a decoded RGB image for input `name` becomes the pixels this side takes, as `omdeploy run` feeds
    them (tasks.preprocess.feed_format): the spec's AIPP device_format for the device's AIPP input (the app's
    contract with the .om); RGB everywhere else, or gray for a gray model."""
    from ..tasks.preprocess import device_pixels as convert

    pre = session.spec.preprocess if session.spec is not None else None
    formats = pixel_formats(session.spec, session.inputs)
    matrix = pre.yuv_matrix if pre is not None else "bt601_narrow"

    def to_device(name: str, image: np.ndarray) -> np.ndarray:
        if image.ndim < 3 or image.shape[-1] != 3:
            return image
        try:
            return convert(image, formats.get(name, "rgb"), matrix)
        except UserError as exc:
            raise UserError("{}: {}".format(session.path, exc), hint="give .npy/.npz inputs already in {}".format(
                formats.get(name))) from None

    return to_device


def run_all(session: Session, samples: Sequence[Tuple[str, Sample]], progress: Optional[Progress] = None
            ) -> List[Dict[str, np.ndarray]]:
    outputs = []
    to_device = device_pixels(session)
    for k, (name, sample) in enumerate(samples):
        if Path(name).suffix.lower() in IMAGE_SUFFIXES:
            sample = {n: to_device(n, a) for n, a in sample.items()}
        outputs.append(session.run(sample))
        if progress is not None:
            progress(k + 1, len(samples))
    return outputs


def side_info(session: Session) -> Dict[str, Any]:
    """What a report says about a side: its backend and, for the simulator, the deployment it emulates."""
    facts = session.describe()
    keep = ("backend", "soc_version", "precision_mode", "kept_fp32", "gears", "aipp_inputs")
    info = {k: facts[k] for k in keep if k in facts}
    if "memory" in facts:
        info["device_memory_bytes"] = facts["memory"]["total"]
    return info


def compare(ref_label: str, refs: Sequence[Dict[str, np.ndarray]], target_label: str,
            gots: Sequence[Dict[str, np.ndarray]], samples: Sequence[str], classifiers: Sequence[str],
            thresholds: Sequence[Threshold] = (), target_info: Optional[Dict[str, Any]] = None) -> Report:
    return Report(ref_label, target_label, list(samples), compare_outputs(refs, gots, classifiers, thresholds),
                  target_info=target_info or {})


def resolve_task(task: Optional[str], sessions: Sequence[Optional[Session]]) -> Optional[str]:
    """The task whose answers compare judges: --task, else the spec's task when it has a verdict (else None)."""
    if task is not None:
        task = TASK_ALIASES.get(task, task)
        if task not in VERDICT_TASKS:
            raise UserError("--task {!r}: expected one of {}".format(task, one_of(VERDICT_TASKS + ("ocr",))))
        return task
    specs = [s.spec for s in sessions if s is not None and s.spec is not None]
    return next((spec.task for spec in specs if spec.task in VERDICT_TASKS), None)


def _input_hw(sessions: Sequence[Optional[Session]], shapes: Dict[str, List[int]]) -> Optional[Tuple[int, int]]:
    """The model input's height and width (boxes are decoded in its pixels): the reference's float input first."""
    for session in sessions:
        for info in session.inputs if session is not None else ():
            if info.rank == 4:
                try:
                    spec = session.spec if session is not None else None
                    return _image_hw(info, _shape_for(info, shapes, spec), spec)
                except UserError:
                    continue
    return None


def task_verdict(task: str, refs: Sequence[Dict[str, np.ndarray]], gots: Sequence[Dict[str, np.ndarray]],
                 outputs: Sequence[Tuple[str, Sequence[Any]]], input_hw: Optional[Tuple[int, int]],
                 thresholds: Sequence[Threshold] = (), head: str = "yolov8") -> Dict[str, Any]:
    from .task_verdicts import task_metrics

    metrics = task_metrics(task, refs, gots, outputs, input_hw, head)
    checks = [{"metric": t.metric, "op": t.op, "value": t.value, "actual": metrics.get(t.metric),
               "passed": t.check(metrics.get(t.metric))} for t in task_thresholds(task, thresholds)]
    return {"task": task, "metrics": metrics, "checks": checks,
            "passed": all(c["passed"] is not False for c in checks)}


def _check_names(option: str, given: Dict[Any, Any], infos: Sequence[TensorInfo], kind: str) -> None:
    """An option naming an input or output the model does not have is a mistake, not something to ignore."""
    names = [i.name for i in infos]
    for name in given:
        if name not in names:
            raise UserError("{} {}: the model has no {} named {!r}{}; its {}s are: {}".format(
                option, name, kind, name, did_you_mean(name, names), kind, one_of(names)))


def compare_sides(ref: Optional[str], target: str, inputs: Sequence[Path] = (), spec: Optional[DeploySpec] = None,
                  random: int = 0, seed: int = 0, shapes: Optional[Dict[str, List[int]]] = None,
                  ranges: Optional[Dict[str, Tuple[float, float]]] = None, thresholds: Sequence[Threshold] = (),
                  golden: Optional[Path] = None, save: Optional[Path] = None, layers: bool = False,
                  layer_cosine: float = 0.999, tracker: Optional[Callable[[str], Any]] = None,
                  task: Optional[str] = None, head: str = "yolov8") -> Report:
    """The whole comparison: open both sides (PATH[@BACKEND]), build the samples (or take them and the reference
    outputs from a `golden` .npz), run both, score every output; optionally save golden data and compare layers.

        report = compare_sides("deploy.yaml", "deploy.yaml@sim", inputs=[Path("photos/")])
    """
    from ..tasks.detect import HEADS

    track = tracker or (lambda label: None)
    if head not in HEADS:
        raise UserError("--head {!r}: unknown detection head{}; known: {}".format(head, did_you_mean(head, HEADS),
                                                                                 one_of(HEADS)))
    if (ref is None) == (golden is None):
        raise UserError("expected a reference side or golden data (--load), got {}".format(
            "both" if ref is not None else "neither"))
    if save is not None:
        for source in [split_side(s)[0] for s in (ref, target) if s is not None] + list(inputs) + [None]:
            check_output_file(save, "--save", Path(source) if source is not None else None)
    with ExitStack() as stack:
        target_session = stack.enter_context(open_side(target, spec))
        _check_names("--threshold", {t.output: t for t in thresholds if t.output is not None},
                     target_session.outputs, "output")
        outputs = [(o.name, tuple(o.shape)) for o in target_session.outputs]
        early_task = resolve_task(task, [target_session])
        if early_task in ("detect", "segment"):
            from ..tasks.fit import fit_task

            fit_task(early_task, outputs, head)  # a task that does not fit the model: refused before any input runs
        ref_session: Optional[Session] = None
        if golden is not None:
            loaded = load_golden(golden)
            ref_label, samples, refs, classifiers = loaded.ref, loaded.samples, loaded.outputs, loaded.classifiers
            names = [i.name for i in target_session.inputs]
            foreign = [n for n in (samples[0][1] if samples else {}) if n not in names]
            if foreign:
                raise UserError("{} holds inputs for {}, not for {}: {!r} is not one of its inputs ({})".format(
                    golden, loaded.ref, target, foreign[0], one_of(names)),
                    hint="compare the golden data with the model it was saved for")
        else:
            ref_session = stack.enter_context(open_side(ref, spec))  # type: ignore[arg-type]
            ref_label = ref  # type: ignore[assignment]
            _check_names("--shape", shapes or {}, feed_infos(ref_session, target_session), "input")
            _check_names("--range", ranges or {}, feed_infos(ref_session, target_session), "input")
            samples = make_samples(inputs, feed_infos(ref_session, target_session),
                                   target_session.spec or ref_session.spec, random, seed, shapes or {}, ranges or {})
            refs = run_all(ref_session, samples, track("reference"))
            classifiers = [o.name for o in ref_session.outputs
                           if is_classifier(o, [ref_session, target_session])]
        verdict_task = resolve_task(task, [target_session, ref_session])
        gots = run_all(target_session, samples, track("target"))
        report = compare(ref_label, refs, target, gots, [n for n, _ in samples], classifiers, thresholds,
                         side_info(target_session))
        if verdict_task is not None:
            report.task = task_verdict(verdict_task, refs, gots, outputs,
                                       _input_hw([ref_session, target_session], shapes or {}), thresholds, head)
        if layers:
            if target_session.backend_name != "sim" or target_session.spec is None:
                raise UserError("--layers compares fp32 with the simulator: expected TARGET as deploy.yaml@sim, "
                                "got {}".format(target))
            report.layers = compare_layers(target_session.path,
                                           ref_session.spec if ref_session is not None else target_session.spec,
                                           target_session.spec, samples[0][1], layer_cosine)
    if save is not None:
        save_golden(save, ref_label, samples, refs, classifiers)
    return report


# ---- layers ------------------------------------------------------------------------------------------

def overflow_count(values: np.ndarray) -> int:
    """Values of a simulated tensor that overflowed fp16: saturated to +-65504 (saturation mode) or inf/NaN."""
    v = np.asarray(values, dtype=np.float32)
    return int(np.count_nonzero(~np.isfinite(v) | (np.abs(v) >= np.float32(65504.0))))


def compare_layers(model_path: Path, ref_spec: Optional[DeploySpec], target_spec: DeploySpec, sample: Sample,
                   cosine_min: float = 0.999) -> Dict[str, Any]:
    """Every float intermediate tensor of the ONNX, fp32 onnxruntime vs the simulator, in graph order; the
    first whose cosine drops below `cosine_min` or that holds inf/NaN is where the error jumps."""
    import tempfile

    from ..onnx.graph import expose_intermediates, fuse_graph, intermediate_names

    fused = fuse_graph(str(model_path))
    producers = {out: node for node in fused.graph.node for out in node.output}
    expose_intermediates(fused, intermediate_names(fused))
    with tempfile.TemporaryDirectory(prefix="omdeploy-layers-") as tmp:
        exposed = Path(tmp) / "layers.onnx"
        exposed.write_bytes(fused.SerializeToString())
        with Session(exposed, backend="onnxruntime", spec=ref_spec) as ref:
            ref_out = ref.run(sample)
    with Session(model_path, backend="sim", spec=target_spec, layers=True) as sim:
        sim_out = sim.run(sample)
    rows = []
    for node in fused.graph.node:
        for name in node.output:
            if name not in ref_out or name not in sim_out or ref_out[name].shape != sim_out[name].shape:
                continue
            metrics = output_metrics([ref_out[name]], [sim_out[name]], classifier=False)
            cosine = metrics["cosine"]  # None: one value, or non-finite values
            cosine = None if cosine is None or np.isnan(cosine) else cosine
            rows.append({"tensor": name, "op_type": producers[name].op_type, "node": producers[name].name,
                         "cosine": cosine, "max_abs": metrics["max_abs"],
                         "max_rel": metrics["max_rel"], "nonfinite": metrics["nonfinite"],
                         "RelativeEuclideanDistance": metrics["RelativeEuclideanDistance"],
                         "overflow": overflow_count(sim_out[name])})
    jump = next((r for r in rows if r["nonfinite"] or (r["cosine"] or 0.0) < cosine_min
                 and not (r["cosine"] is None and r["max_rel"] <= 1e-3)), None)
    return {"cosine_min": cosine_min, "tensors": len(rows), "first_jump": jump, "rows": rows}
