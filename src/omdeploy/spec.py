"""DeploySpec: the one description of a deployment, and the sidecar written next to every produced model.

Everything downstream (ATC argv, AIPP config, simulator, runtime input adaptation, sidecar) is derived from
a DeploySpec and from nothing else. Load one with `DeploySpec.load("deploy.yaml")`; `omdeploy spec --schema`
prints every key.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Union

from ._optional import require
from .chips import DEFAULT_CANN, DEFAULT_SOC, LEGACY_SOC_VERSIONS, SOC_NAME_RULE, SOC_VERSIONS  # noqa: F401 (re-exported)
from ._schema import SchemaError, describe, from_dict, to_dict
from .errors import UserError
from .fileio import write_text

# soc_version names (valid, then legacy such as Ascend910): the chip table, data/chips.json
LAYOUTS = ("NCHW", "NHWC", "ND", "NCDHW", "NDHWC")
DTYPES = ("float32", "float16", "uint8", "int8", "int16", "uint16", "int32", "uint32", "int64", "uint64",
          "bool", "float64")
COLOR_ORDERS = ("rgb", "bgr", "gray")
RESIZE_MODES = ("letterbox", "stretch", "crop", "none")
# whose resizing algorithm preprocess.resize follows (omdeploy/resize.py); None: omdeploy's original
RESIZE_POLICIES = ("torchvision", "ultralytics", "yolox", "paddleocr", "opencv")
PREPROCESS_WHERE = ("host", "aipp", "dvpp")  # dvpp: JPEG decode + resize on the device, into an nv12 AIPP
PRECISION_MODES = ("force_fp16", "allow_fp32_to_fp16", "must_keep_origin_dtype", "allow_mix_precision",
                   "allow_mix_precision_fp16", "allow_mix_precision_bf16", "force_fp32",
                   "cube_fp16in_fp32out", "allow_fp32_to_bf16")
DYNAMIC_MODES = ("batch", "image_size", "dims")
SPEC_SUFFIXES = (".yaml", ".yml", ".json")  # a path with one of these is a DeploySpec, else a model
TASKS = ("none", "classify", "detect", "segment", "ocr-det", "ocr-rec", "ocr-cls")
OUTPUT_TYPES = ("FP32", "FP16", "UINT8", "INT8")
# with preprocess.where = aipp: the pixel format the application feeds the .om (docs/reference.md [aipp])
DEVICE_FORMATS = ("rgb", "bgr", "xrgb", "xbgr", "nv12", "nv21", "gray")
YUV_MATRICES = ("bt601_narrow", "bt601_wide", "bt709_narrow", "bt709_wide")
_CANN_VERSION = re.compile(r"^\d+\.\d+(\.\d+)?([.]?(RC|rc|T|alpha|beta)\w*)*(\.\w+)*$")


def guess_layout(shape: Sequence[Union[int, str]]) -> str:
    """NCHW / NHWC for image-like rank-4 tensors, ND otherwise (a spec's layout always wins)."""
    if len(shape) != 4:
        return "ND"
    c_first, c_last = shape[1], shape[3]
    if isinstance(c_first, int) and c_first in (1, 3, 4) and not (isinstance(c_last, int) and c_last in (1, 3, 4)):
        return "NCHW"
    if isinstance(c_last, int) and c_last in (1, 3, 4) and not (isinstance(c_first, int) and c_first in (1, 3, 4)):
        return "NHWC"
    return "ND"


def _choices(values, doc):
    return {"choices": values, "doc": doc}


@dataclass
class TargetSpec:
    soc_version: str = field(default=DEFAULT_SOC, metadata=_choices(
        SOC_VERSIONS, SOC_NAME_RULE))
    cann: str = field(default=DEFAULT_CANN, metadata={"doc": "CANN toolkit version on the box, e.g. 8.0.0 or 8.0.RC3"})

    def validate(self) -> List[str]:
        if not _CANN_VERSION.match(self.cann):
            return ["cann: expected a CANN version such as 8.0, 8.0.0 or 8.0.RC3, got {!r}".format(self.cann)]
        return []


@dataclass
class InputSpec:
    name: str = field(metadata={"doc": "input name as in the ONNX model"})
    shape: List[Union[int, str]] = field(default_factory=list, metadata={
        "doc": "dims; -1 or a name (e.g. 'H') marks a dynamic dim, to be covered by `dynamic` gears"})
    dtype: str = field(default="float32", metadata=_choices(
        DTYPES, "dtype the deployed model takes; float16 means ATC --input_fp16_nodes"))
    layout: str = field(default="NCHW", metadata=_choices(LAYOUTS, "tensor layout of this input"))

    def validate(self) -> List[str]:
        problems = []
        for i, d in enumerate(self.shape):
            if isinstance(d, int) and d < -1 or d == 0:
                problems.append("shape[{}]: expected a positive size, -1 or a name, got {}".format(i, d))
        return problems

    @property
    def dynamic_axes(self) -> List[int]:
        return [i for i, d in enumerate(self.shape) if not isinstance(d, int) or d < 0]


@dataclass
class OutputSpec:
    name: str = field(metadata={"doc": "output name as in the ONNX model"})
    dtype: Optional[str] = field(default=None, metadata=_choices(
        OUTPUT_TYPES, "ATC --output_type for this output (default: the last layer's dtype)"))


@dataclass
class DynamicSpec:
    mode: str = field(metadata=_choices(DYNAMIC_MODES, "batch -> --dynamic_batch_size, image_size -> "
                                        "--dynamic_image_size, dims -> --dynamic_dims"))
    gears: List[Union[int, List[int]]] = field(default_factory=list, metadata={
        "doc": "batch: [1, 2, 4]; image_size: [[h, w], ...]; dims: one value per dynamic dim per gear"})

    def validate(self) -> List[str]:
        problems = []
        if not 2 <= len(self.gears) <= 100:
            problems.append("gears: ATC takes 2 to 100 gears, got {}".format(len(self.gears)))
        widths = {1 if isinstance(g, int) else len(g) for g in self.gears}
        if self.mode == "batch" and widths - {1}:
            problems.append("gears: batch gears are single integers, e.g. [1, 2, 4, 8]")
        if self.mode == "image_size" and widths - {2}:
            problems.append("gears: image_size gears are [h, w] pairs")
        if len(widths) > 1:
            problems.append("gears: every gear must have the same number of values, got {}".format(sorted(widths)))
        return problems

    def gear_tuples(self) -> List[tuple]:
        return [(g,) if isinstance(g, int) else tuple(g) for g in self.gears]


@dataclass
class PreprocessSpec:
    color: str = field(default="rgb", metadata=_choices(COLOR_ORDERS, "channel order the model expects"))
    resize: str = field(default="stretch", metadata=_choices(
        RESIZE_MODES, "letterbox keeps aspect and pads; crop resizes the short side then centre-crops"))
    policy: Optional[str] = field(default=None, metadata=_choices(
        RESIZE_POLICIES, "the training framework's resizing to match exactly: torchvision (PIL, antialiased), "
                         "ultralytics (cv2, LetterBox rounding), yolox (cv2, top-left), paddleocr, opencv "
                         "(default: PIL bilinear, padding split with floor)"))
    short_side: Optional[int] = field(default=None, metadata={
        "range": (1, 16384), "doc": "crop mode: short side before the centre crop (default: the input size)"})
    pad_value: float = field(default=114.0, metadata={"range": (0, 255), "doc": "letterbox fill value"})
    mean: List[float] = field(default_factory=lambda: [0.0, 0.0, 0.0], metadata={
        "doc": "per channel, in pixel units (0-255), in the model's channel order"})
    std: List[float] = field(default_factory=lambda: [1.0, 1.0, 1.0], metadata={
        "doc": "per channel, pixel units: model_input = (pixel - mean) / std"})
    where: str = field(default="host", metadata=_choices(
        PREPROCESS_WHERE, "host: numpy before the model; aipp: inside the .om (the device takes uint8 NHWC); "
                          "dvpp: the box decodes and resizes JPEGs on the device (DVPP) into the .om's AIPP, "
                          "which takes nv12 (full-range YUV, as JPEG stores it)"))
    device_format: Optional[str] = field(default=None, metadata=_choices(
        DEVICE_FORMATS, "where=aipp: pixel format the application feeds the .om (default: color); nv12/nv21 "
                        "are YUV420SP, xrgb 4 bytes per pixel"))
    yuv_matrix: str = field(default="bt601_narrow", metadata=_choices(
        YUV_MATRICES, "where=aipp with nv12/nv21: the YUV->RGB standard (narrow = TV range, wide = full/JPEG)"))
    device_size: Optional[List[int]] = field(default=None, metadata={
        "doc": "where=aipp: [h, w] of the images fed when not the model's size: AIPP pads a smaller image "
               "right/bottom (<= 32 px) or centre-crops a larger one"})

    def validate(self) -> List[str]:
        problems = []
        channels = 1 if self.color == "gray" else 3
        for key in ("mean", "std"):
            values = getattr(self, key)
            if len(values) not in (1, channels):
                problems.append("{}: expected {} for color {}, got {}".format(
                    key, "1 value" if channels == 1 else "1 or {} values".format(channels), self.color, len(values)))
        if any(s == 0 for s in self.std):
            problems.append("std: a zero std divides by zero; use 1 for 'no scaling'")
        if self.where == "dvpp" and self.device_format not in (None, "nv12"):
            problems.append("device_format: where=dvpp feeds the AIPP DVPP's nv12 output, not {}".format(
                self.device_format))
        if self.device_size is not None and (len(self.device_size) != 2 or min(self.device_size) < 1):
            problems.append("device_size: expected [h, w] with positive sizes, got {}".format(self.device_size))
        return problems

    def __post_init__(self) -> None:
        if self.where == "dvpp":  # DVPP hands the AIPP JPEG's own YCbCr: NV12, full range (JFIF)
            self.device_format = self.device_format or "nv12"
            if self.yuv_matrix == "bt601_narrow":  # the default, meant for video: JPEG YCbCr is full range
                self.yuv_matrix = "bt601_wide"

    def normalisation(self, channels: int = 3):
        """(mean, std) as float32 arrays of `channels` values."""
        import numpy as np

        mean = np.asarray(self.mean if len(self.mean) == channels else self.mean * channels, np.float32)
        std = np.asarray(self.std if len(self.std) == channels else self.std * channels, np.float32)
        return mean[:channels], std[:channels]


@dataclass
class AtcSpec:
    """ATC options that are not deployment facts found elsewhere in the spec (docs/reference.md [atc-options])."""
    output: Optional[str] = field(default=None, metadata={
        "doc": "--output prefix; convert names the result <prefix stem>_<soc>.om (default stem: name or model)"})
    input_format: Optional[str] = field(default=None, metadata=_choices(
        LAYOUTS, "--input_format (default: the inputs' layout; ND with dynamic dims)"))
    out_nodes: List[str] = field(default_factory=list, metadata={
        "doc": "--out_nodes: ONNX output names, or 'node:k' for the k-th output of a node"})
    output_type: Optional[str] = field(default=None, metadata={
        "doc": "--output_type for every output (FP32, FP16, UINT8, INT8) or per node 'n1:0:FP16;n2:0:FP32' "
               "(default: from outputs[].dtype)"})
    insert_op_conf: Optional[str] = field(default=None, metadata={
        "doc": "an existing AIPP config file used as is (instead of preprocess.where: aipp)"})
    options: Dict[str, str] = field(default_factory=dict, metadata={
        "doc": "any other ATC option without its dashes, e.g. {log: error, op_select_implmode: high_precision}"})


@dataclass
class DeploySpec:
    model: str = field(metadata={"doc": "source model (.onnx), relative to the spec file"})
    target: TargetSpec = field(default_factory=TargetSpec)
    inputs: List[InputSpec] = field(default_factory=list)
    outputs: List[OutputSpec] = field(default_factory=list)
    dynamic: Optional[DynamicSpec] = None
    preprocess: Optional[PreprocessSpec] = None
    precision_mode: str = field(default="force_fp16", metadata=_choices(
        PRECISION_MODES, "ATC --precision_mode (force_fp16 is ATC's default on every chip)"))
    task: str = field(default="none", metadata=_choices(TASKS, "what `omdeploy run` does with the outputs"))
    labels: Union[List[str], str, None] = field(default=None, metadata={
        "doc": "class names, or a text file with one per line (relative to the spec file)"})
    name: Optional[str] = field(default=None, metadata={"doc": "deployment name (default: model stem)"})
    weight: Optional[str] = field(default=None, metadata={
        "doc": "Caffe only: the .caffemodel next to a .prototxt model (ATC --weight)"})
    atc: AtcSpec = field(default_factory=AtcSpec, metadata={"doc": "ATC options not derived from the rest"})

    # where relative paths resolve; set by load(), not part of the document
    base_dir: str = field(default=".", repr=False, compare=False, metadata={"internal": True})

    def validate(self) -> List[str]:
        problems = []
        names = [i.name for i in self.inputs]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            problems.append("inputs: duplicate names {}".format(dupes))
        if self.dynamic is not None and self.inputs and not any(i.dynamic_axes for i in self.inputs):
            problems.append("dynamic: gears are declared but no input shape has a dynamic (-1) dim")
        return problems

    # ---- paths and lookups -------------------------------------------------------------------------
    @property
    def model_path(self) -> Path:
        return (Path(self.base_dir) / self.model).resolve()

    def input(self, name: str) -> Optional[InputSpec]:
        return next((i for i in self.inputs if i.name == name), None)

    def label_names(self) -> Optional[List[str]]:
        if self.labels is None or isinstance(self.labels, list):
            return self.labels
        path = Path(self.base_dir) / self.labels
        try:
            return [line.rstrip("\n") for line in path.read_text(encoding="utf-8").splitlines()]
        except OSError as exc:
            raise UserError("labels file {} cannot be read: {}".format(path, exc.strerror),
                            hint="labels: give a list of names or a text file with one name per line") from None
        except UnicodeDecodeError:
            raise UserError("labels file {} is not UTF-8 text (binary data?)".format(path),
                            hint="labels: give a list of names or a text file with one name per line") from None

    # ---- (de)serialisation -------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: Any, source: str = "spec", base_dir: str = ".") -> "DeploySpec":
        if isinstance(data, dict) and "base_dir" in data:
            data = {k: v for k, v in data.items() if k != "base_dir"}
        spec = from_dict(cls, data, source)
        spec.base_dir = str(base_dir)
        return spec

    def to_dict(self) -> Dict[str, Any]:
        data = to_dict(self, drop_defaults=True)
        data.pop("base_dir", None)
        data["model"] = self.model
        return data

    @classmethod
    def load(cls, path: Union[str, os.PathLike]) -> "DeploySpec":
        path = Path(path)
        data = load_document(path)
        return cls.from_dict(data, source=str(path), base_dir=str(path.parent))

    def save(self, path: Union[str, os.PathLike]) -> Path:
        path = Path(path)
        save_document(path, self.to_dict())
        return path

    @staticmethod
    def schema_lines() -> List[str]:
        return [line for line in describe(DeploySpec) if not line.lstrip().startswith("base_dir")]


# ---------------------------------------------------------------------------------------------------
# The sidecar: <model>.om.json, written by convert next to the produced (or planned) model.

@dataclass
class FileRef:
    path: str
    sha256: Optional[str] = None


@dataclass
class Sidecar:
    built: bool = field(metadata={"doc": "false when only the plan was written (no atc ran)"})
    source: FileRef
    result: FileRef
    soc_version: str
    cann_version: str
    atc_argv: List[str] = field(default_factory=list)
    inputs: List[InputSpec] = field(default_factory=list, metadata={"doc": "the device-side input contract"})
    outputs: List[OutputSpec] = field(default_factory=list)
    spec: Dict[str, Any] = field(default_factory=dict, metadata={"doc": "the DeploySpec it was made from"})
    validation: Dict[str, Any] = field(default_factory=dict)
    aipp_file: Optional[str] = field(default=None, metadata={"doc": "the AIPP config passed to --insert_op_conf"})
    atc_log: Optional[str] = field(default=None, metadata={"doc": "ATC's captured output"})
    note: str = ""
    produced_by: str = ""
    created: str = ""
    format: int = 1

    @staticmethod
    def path_for(model_path: Union[str, os.PathLike]) -> Path:
        return Path(str(model_path) + ".json")

    @classmethod
    def load(cls, path: Union[str, os.PathLike]) -> "Sidecar":
        return from_dict(cls, load_document(Path(path)), source=str(path))

    @classmethod
    def load_if_valid(cls, path: Union[str, os.PathLike]) -> Optional["Sidecar"]:
        """The sidecar at `path`, or None when absent or unreadable (warned once: the model still runs)."""
        path = Path(path)
        if not path.is_file():
            return None
        try:
            return cls.load(path)
        except UserError as exc:
            from .log import warning_once

            warning_once(("sidecar", str(path)), "ignoring %s: %s", path, exc)
            return None

    def save(self, path: Union[str, os.PathLike]) -> Path:
        path = Path(path)
        write_text(path, json.dumps(to_dict(self), indent=2) + "\n")
        return path

    def deploy_spec(self) -> DeploySpec:
        return DeploySpec.from_dict(self.spec, source="sidecar spec")


def load_document(path: Path) -> Any:
    """Read a YAML or JSON document; errors name the file and the line."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError("{} does not exist".format(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError("{} cannot be read as text: {}".format(path, exc)) from None
    if path.suffix.lower() == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise UserError("{}: invalid JSON at line {} column {}: {}".format(
                path, exc.lineno, exc.colno, exc.msg)) from None
    yaml = require("yaml", "reading YAML specs")
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = " at line {}".format(mark.line + 1) if mark is not None else ""
        raise UserError("{}: invalid YAML{}: {}".format(path, where, getattr(exc, "problem", exc))) from None


def save_document(path: Path, data: Any) -> None:
    if path.suffix.lower() == ".json":
        write_text(path, json.dumps(data, indent=2) + "\n")
        return
    yaml = require("yaml", "writing YAML specs")
    write_text(path, yaml.safe_dump(data, sort_keys=False, default_flow_style=None))


__all__ = ["DeploySpec", "AtcSpec", "TargetSpec", "InputSpec", "OutputSpec", "DynamicSpec", "PreprocessSpec",
           "Sidecar", "FileRef", "SchemaError", "load_document", "save_document"]
