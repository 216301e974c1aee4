"""DeploySpec <-> ATC command line (docs/reference.md [atc-options]), with ATC's rules as data.

`build_argv(spec)` gives the argument list (never a shell string); `spec_from_atc("atc --model=... ...")`
reads an existing command back into a DeploySpec so hand-written scripts can migrate. Both go through
`check_options`, which applies the tables below (allowed values, exclusions, requirements, gear limits) and
reports every violation at once, each naming the options involved.
"""
from __future__ import annotations

import re
import shlex
from pathlib import Path, PurePath
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

from ..errors import UserError, did_you_mean, one_of
from ..named import split_named
from ..chips import DEFAULT_SOC, NO_DYNAMIC_SHAPE_SOCS, SOC_NAME_RULE, SOC_VERSIONS  # no ranges / bare -1 without gears on 310, 310B
from ..spec import PRECISION_MODES, DeploySpec

Options = Dict[str, str]
Positions = List[Tuple[str, int, int]]  # (input, axis, rank) of each -1 in --input_shape

# --framework from the model file's suffix
FRAMEWORKS = {".prototxt": "0", ".air": "1", ".pb": "3", ".onnx": "5"}
FRAMEWORK_NAMES = {"0": "Caffe", "1": "MindSpore", "3": "TensorFlow", "5": "ONNX"}
INPUT_FORMATS_BY_FRAMEWORK = {
    "0": ("NCHW", "ND"), "1": ("NCHW",), "3": ("NCHW", "NHWC", "ND", "NCDHW", "NDHWC"), "5": ("NCHW", "NCDHW", "ND"),
}
OUTPUT_TYPES = ("FP32", "FP16", "UINT8", "INT8")
GEAR_OPTIONS = ("dynamic_batch_size", "dynamic_image_size", "dynamic_dims")
MIN_GEARS, MAX_GEARS = 2, 100
MAX_BATCH = 2048

# every option convert knows, in the order build_argv writes them
KNOWN_OPTIONS: Tuple[str, ...] = (
    "mode", "model", "weight", "framework", "output", "soc_version", "input_format", "input_shape",
    "input_shape_range", "dynamic_batch_size", "dynamic_image_size", "dynamic_dims", "input_fp16_nodes",
    "insert_op_conf", "out_nodes", "output_type", "is_output_adjust_hw_layout", "precision_mode",
    "precision_mode_v2", "keep_dtype", "customize_dtypes", "modify_mixlist", "op_select_implmode",
    "optypelist_for_implmode", "op_precision_mode", "fusion_switch_file", "enable_small_channel",
    "compression_optimize_conf", "log",
)
# options that must appear (mode 0 builds an .om)
REQUIRED = ("model", "framework", "output", "soc_version")

# option -> the values ATC accepts
ALLOWED_VALUES: Dict[str, Tuple[str, ...]] = {
    "mode": ("0",),
    "framework": tuple(FRAMEWORK_NAMES),
    "soc_version": SOC_VERSIONS,
    "precision_mode": PRECISION_MODES,
    "precision_mode_v2": ("fp16", "origin", "cube_fp16in_fp32out", "mixed_float16", "mixed_bfloat16",
                          "mixed_hif8", "cube_hif8"),
    "op_select_implmode": ("high_performance", "high_precision", "high_precision_for_all",
                           "high_performance_for_all"),
    "enable_small_channel": ("0", "1"),
    "log": ("debug", "info", "warning", "error", "null"),
}

# --precision_mode_v2 value -> the --precision_mode it equals (docs/reference.md [atc-options]); the spec has one
# precision field, `precision_mode`, which the simulator reads too. The hif8 modes (Atlas 350) have none.
PRECISION_MODE_V2: Dict[str, str] = {"fp16": "force_fp16", "origin": "must_keep_origin_dtype",
                                     "cube_fp16in_fp32out": "cube_fp16in_fp32out",
                                     "mixed_float16": "allow_mix_precision_fp16",
                                     "mixed_bfloat16": "allow_mix_precision_bf16"}

VALUE_DOCS = {"soc_version": SOC_NAME_RULE}

# (a, b, why): never together
EXCLUSIVE: Tuple[Tuple[str, str, str], ...] = (
    ("dynamic_batch_size", "dynamic_image_size", "a model has one kind of gear"),
    ("dynamic_batch_size", "dynamic_dims", "a model has one kind of gear"),
    ("dynamic_image_size", "dynamic_dims", "a model has one kind of gear"),
    ("dynamic_batch_size", "input_shape_range", "gears and shape ranges exclude each other"),
    ("dynamic_image_size", "input_shape_range", "gears and shape ranges exclude each other"),
    ("dynamic_dims", "input_shape_range", "gears and shape ranges exclude each other"),
    ("dynamic_dims", "insert_op_conf", "ATC does not combine dynamic_dims with AIPP; use dynamic_image_size "
                                       "gears or preprocess on the host"),
    ("precision_mode", "precision_mode_v2", "give one precision option (precision_mode_v2 is the successor)"),
)

# (option, needs, why)
REQUIRES: Tuple[Tuple[str, str, str], ...] = (
    ("dynamic_batch_size", "input_shape", "the -1 to vary must be marked in --input_shape"),
    ("dynamic_image_size", "input_shape", "the -1 H and W to vary must be marked in --input_shape"),
    ("dynamic_dims", "input_shape", "the -1 dims to vary must be marked in --input_shape"),
    ("dynamic_dims", "input_format", "dynamic_dims needs --input_format=ND"),
    ("enable_small_channel", "insert_op_conf", "the small-channel convolution needs static AIPP"),
    ("optypelist_for_implmode", "op_select_implmode", "the op list refines --op_select_implmode"),
)

Check = Callable[[Options], List[str]]


def _parse_input_shape(value: str) -> List[Tuple[str, List[str]]]:
    """'in1:1,3,-1,-1;in2:' -> [('in1', ['1','3','-1','-1']), ('in2', [])]; names may contain ':'."""
    out = []
    for part in filter(None, value.split(";")):
        name, dims = split_named(part)
        if not name:
            raise UserError("--input_shape: expected 'name:d1,d2,...' for each input, got {!r}".format(part))
        out.append((name, [d.strip() for d in dims.split(",")] if dims.strip() else []))
    return out


def _gear_list(option: str, value: str) -> List[List[str]]:
    if option == "dynamic_batch_size":
        return [[g] for g in filter(None, value.split(","))]
    return [[v.strip() for v in g.split(",")] for g in filter(None, value.split(";"))]


def _dynamic_positions(opts: Options) -> Positions:
    return [(name, axis, len(dims)) for name, dims in _parse_input_shape(opts.get("input_shape", ""))
            for axis, d in enumerate(dims) if d == "-1"]


def _batch_gears(opts: Options, gears: List[List[str]], positions: Positions) -> List[str]:
    problems = []
    bad = [int(g[0]) for g in gears if not 1 <= int(g[0]) <= MAX_BATCH]
    if bad:
        problems.append("--dynamic_batch_size: batch sizes are 1 to {}, got {}".format(MAX_BATCH, bad))
    if any(axis != 0 for _, axis, _ in positions):
        problems.append("--dynamic_batch_size: -1 may only be the first (N) dim in --input_shape, got {!r}".format(
            opts.get("input_shape")))
    return problems


def default_input_format(opts: Options) -> str:
    """--input_format, or ATC's default when it is absent: NHWC for TensorFlow (--framework=3), else NCHW."""
    return opts.get("input_format") or ("NHWC" if opts.get("framework") == "3" else "NCHW")


def _image_size_gears(opts: Options, gears: List[List[str]], positions: Positions) -> List[str]:
    problems = []
    if any(len(g) != 2 for g in gears):
        problems.append("--dynamic_image_size: each gear is 'h,w', got {!r}".format(opts["dynamic_image_size"]))
    fmt = default_input_format(opts)
    if fmt not in ("NCHW", "NHWC"):
        problems.append("--dynamic_image_size needs --input_format NCHW or NHWC, got {}".format(fmt))
    from .contract import hw_axes

    hw = hw_axes(fmt) or (2, 3)
    if any(axis not in hw for _, axis, _ in positions):
        problems.append("--dynamic_image_size: -1 may only mark H and W in --input_shape, got {!r}".format(
            opts.get("input_shape")))
    return problems


def _dims_gears(opts: Options, gears: List[List[str]], positions: Positions) -> List[str]:
    problems = []
    widths = {len(g) for g in gears}
    if positions and widths != {len(positions)}:
        problems.append("--dynamic_dims: each gear needs one value per -1 in --input_shape ({}), got gears of {} "
                        "values".format(len(positions), sorted(widths)))
    if opts.get("input_format", "ND") != "ND":
        problems.append("--dynamic_dims needs --input_format=ND, got --input_format={}".format(opts["input_format"]))
    if any(rank > 4 for _, _, rank in positions):
        problems.append("--dynamic_dims: ND inputs have rank <= 4")
    return problems


GEAR_CHECKS = {"dynamic_batch_size": _batch_gears, "dynamic_image_size": _image_size_gears,
               "dynamic_dims": _dims_gears}


def _check_gears(opts: Options) -> List[str]:
    problems = []
    for option, check in GEAR_CHECKS.items():
        if option not in opts:
            continue
        gears = _gear_list(option, opts[option])
        if not MIN_GEARS <= len(gears) <= MAX_GEARS:
            problems.append("--{}: ATC takes {} to {} gears, got {}".format(option, MIN_GEARS, MAX_GEARS, len(gears)))
        if any(not v.lstrip("-").isdigit() for g in gears for v in g):
            problems.append("--{}: gears are integers, got {!r}".format(option, opts[option]))
            continue
        positions = _dynamic_positions(opts)
        problems.extend(check(opts, gears, positions))
        if "input_shape" in opts and not positions:
            problems.append("--{}: --input_shape has no -1 dim for the gears to fill".format(option))
    return problems


def _check_true_dynamic(opts: Options) -> List[str]:
    if any(o in opts for o in GEAR_OPTIONS):
        return []
    shapes = _parse_input_shape(opts.get("input_shape", ""))
    dynamic = [name for name, dims in shapes if any(d == "-1" or "~" in d for d in dims)]
    if dynamic and NO_DYNAMIC_SHAPE_SOCS.match(opts.get("soc_version", "")):
        return ["--input_shape: {} has -1 or range dims without gears, and {} takes no true dynamic shape; add "
                "--dynamic_batch_size/--dynamic_image_size/--dynamic_dims or fix the dims".format(
                    one_of(dynamic), opts["soc_version"])]
    if "input_shape_range" in opts and NO_DYNAMIC_SHAPE_SOCS.match(opts.get("soc_version", "")):
        return ["--input_shape_range: {} takes no shape ranges".format(opts["soc_version"])]
    return []


def _check_input_format(opts: Options) -> List[str]:
    fmt, framework = opts.get("input_format"), opts.get("framework")
    problems = []
    allowed = INPUT_FORMATS_BY_FRAMEWORK.get(framework or "")
    if fmt and allowed and fmt not in allowed:
        problems.append("--input_format: {} models take {}, got {}{}".format(
            FRAMEWORK_NAMES[framework], one_of(allowed), fmt,  # type: ignore[index]
            " (an NHWC ONNX input converts with --input_format=ND, its dims as they are)"
            if framework == ONNX_FRAMEWORK and fmt == "NHWC" else ""))
    if fmt and "insert_op_conf" in opts and fmt not in ("NCHW", "NHWC"):
        problems.append("--input_format={} with --insert_op_conf: AIPP inputs must be NCHW or NHWC".format(fmt))
    return problems


def _check_model(opts: Options) -> List[str]:
    problems = []
    model, framework = opts.get("model", ""), opts.get("framework")
    expected = FRAMEWORKS.get(PurePath(model).suffix.lower())
    if model and expected is None:
        problems.append("--model: expected a .onnx, .pb, .prototxt or .air file, got {}".format(model))
    elif framework and expected and framework != expected:
        problems.append("--framework={} ({}) does not match --model {} ({} is --framework={})".format(
            framework, FRAMEWORK_NAMES.get(framework, "?"), model, FRAMEWORK_NAMES[expected], expected))
    if framework == "0" and "weight" not in opts:
        problems.append("--weight: a Caffe model (--framework=0) needs its .caffemodel")
    if "weight" in opts and framework not in (None, "0"):
        problems.append("--weight is for Caffe models only (--framework=0), got --framework={}".format(framework))
    return problems


def _check_outputs(opts: Options) -> List[str]:
    problems = []
    value = opts.get("output_type")
    if value is not None:
        if ":" in value:
            for item in filter(None, value.split(";")):
                parts = item.rsplit(":", 2)
                if len(parts) != 3 or not parts[1].isdigit() or parts[2] not in OUTPUT_TYPES:
                    problems.append("--output_type: per node entries are 'node:index:TYPE' with TYPE in {}, got "
                                    "{!r}".format(one_of(OUTPUT_TYPES), item))
        elif value not in OUTPUT_TYPES:
            problems.append("--output_type: expected one of {}, got {!r}{}".format(
                one_of(OUTPUT_TYPES), value, did_you_mean(value, OUTPUT_TYPES)))
    if value is not None and ":" in value and not opts.get("out_nodes"):
        problems.append("--output_type per node ('node:index:TYPE') needs --out_nodes (atc.out_nodes in a spec): "
                        "ATC types the nodes --out_nodes names; or give one type for every output")
    nodes = [n for n in opts.get("out_nodes", "").split(";") if n]
    styles = {bool(re.search(r":\d+$", n)) for n in nodes}
    if len(styles) > 1:
        problems.append("--out_nodes: use one style, all 'node:k' or all output names, got {!r}".format(
            opts["out_nodes"]))
    return problems


def _check_fp16_with_aipp(opts: Options) -> List[str]:
    """--input_fp16_nodes and --insert_op_conf on the same input (AIPP makes that input uint8)."""
    conf, fp16 = opts.get("insert_op_conf"), opts.get("input_fp16_nodes")
    if not conf or not fp16:
        return []
    from .aipp import AippConfig, configs_by_input, read_aipp_file

    names = [name for name, _ in _parse_input_shape(opts.get("input_shape", ""))]
    try:
        configs = read_aipp_file(conf, "--insert_op_conf")
    except UserError:
        configs = [AippConfig(aipp_mode="static")]  # not readable here: AIPP's default input is the first
    try:
        aipp_names = set(configs_by_input(configs, names, conf)) if names else set()
    except UserError as exc:
        return [str(exc)]
    clash = [n for n in fp16.split(";") if n in aipp_names]
    if clash:
        return ["--input_fp16_nodes and --insert_op_conf on the same input {}: AIPP feeds it uint8 and writes "
                "float16 itself; drop it from --input_fp16_nodes".format(one_of(clash))]
    return []


CHECKS: Tuple[Check, ...] = (_check_model, _check_input_format, _check_gears, _check_true_dynamic,
                             _check_outputs, _check_fp16_with_aipp)


def option_problems(opts: Options) -> List[str]:
    """Every rule broken by these options (each message names the options)."""
    problems = []
    for name in opts:
        if name not in KNOWN_OPTIONS:
            problems.append("--{}: not an ATC option convert knows{}".format(name, did_you_mean(name, KNOWN_OPTIONS)))
    problems.extend("--{}: required".format(name) for name in REQUIRED if not opts.get(name))
    for name, allowed in ALLOWED_VALUES.items():
        if name in opts and opts[name] not in allowed:
            expected = VALUE_DOCS.get(name) or "one of " + one_of(allowed)
            problems.append("--{}: expected {}, got {!r}{}".format(
                name, expected, opts[name], did_you_mean(opts[name], allowed)))
    problems.extend("--{} and --{} cannot be combined: {}".format(a, b, why)
                    for a, b, why in EXCLUSIVE if a in opts and b in opts)
    problems.extend("--{} needs --{}: {}".format(a, b, why)
                    for a, b, why in REQUIRES if a in opts and b not in opts)
    for check in CHECKS:
        problems.extend(check(opts))
    return problems


def check_options(opts: Options, source: str = "ATC options") -> None:
    problems = option_problems(opts)
    if problems:
        raise UserError("{}: {}".format(source, "; ".join(problems)),
                        hint="see `omdeploy spec --schema` and docs/convert.md for what each option takes")


# ---------------------------------------------------------------------------------------------------
# spec -> options


def output_stem(spec: DeploySpec) -> str:
    """<stem>_<soc>: the name convert gives the .om (stem: atc.output's name, spec name or model stem)."""
    stem = PurePath(spec.atc.output).name if spec.atc.output else (spec.name or PurePath(spec.model).stem)
    return "{}_{}".format(stem, spec.target.soc_version)


def _dim(d: Union[int, str]) -> str:
    if isinstance(d, int):
        return str(d)
    return d if re.match(r"^\d+~\d+$", d) else "-1"


# ATC's --input_format page (https://www.hiascend.com/document/detail/en/canncommercial/850/devaids/atctool/
# atlasatcparam_16_0015.html): ONNX models take NCHW, NCDHW and ND ("any format, N <= 4"), not NHWC; with
# --insert_op_conf only NCHW or NHWC. So an NHWC ONNX input converts as ND (ATC keeps its dims and data as they
# are, the graph's own ops say what the axes mean), and AIPP cannot feed it (ATC would read dim 1, H, as C).
ONNX_FRAMEWORK = "5"


def _input_format(spec: DeploySpec, framework: Optional[str] = None) -> Optional[str]:
    if spec.atc.input_format:
        return spec.atc.input_format
    if spec.dynamic is not None and spec.dynamic.mode == "dims":
        return "ND"
    layouts = {i.layout for i in spec.inputs if i.shape}
    if framework == ONNX_FRAMEWORK and "NHWC" in layouts:
        _refuse_aipp_on_nhwc_onnx(spec)
        layouts = {"ND" if layout == "NHWC" else layout for layout in layouts}
    if len(layouts) > 1:
        raise UserError("inputs have layouts {}; ATC takes one --input_format for all inputs".format(
            one_of(sorted(layouts))), hint="set atc.input_format in the spec")
    return layouts.pop() if layouts else None


def _refuse_aipp_on_nhwc_onnx(spec: DeploySpec) -> None:
    nhwc = [i.name for i in spec.inputs if i.layout == "NHWC"]
    aipp = spec.atc.insert_op_conf or (spec.preprocess is not None and spec.preprocess.where == "aipp")
    if aipp:
        raise UserError("input '{}' is NHWC: ATC converts an NHWC ONNX input only as --input_format=ND, and AIPP "
                        "(--insert_op_conf) needs NCHW or NHWC, which ATC does not take for ONNX".format(nhwc[0]),
                        hint="preprocess on the host (preprocess.where: host), or export the model with an NCHW "
                             "input (AIPP feeds NCHW ONNX inputs)")


def _gear_value(spec: DeploySpec) -> Tuple[str, str]:
    dynamic = spec.dynamic
    assert dynamic is not None  # callers pass a spec with gears
    option = {"batch": "dynamic_batch_size", "image_size": "dynamic_image_size", "dims": "dynamic_dims"}[dynamic.mode]
    if dynamic.mode == "batch":
        return option, ",".join(str(g[0]) for g in dynamic.gear_tuples())
    return option, ";".join(",".join(str(v) for v in g) for g in dynamic.gear_tuples())


def output_type_entries(value: Optional[str]) -> Dict[str, str]:
    """An --output_type value: {"": TYPE} for every output, or {node: TYPE} per 'node:index:TYPE' entry (the
    node name ends at the second colon from the right: names may hold colons)."""
    if not value:
        return {}
    if ":" not in value:
        return {"": value}
    return {parts[0]: parts[2] for parts in (item.rsplit(":", 2) for item in value.split(";") if item)
            if len(parts) == 3}


def output_types(spec: DeploySpec) -> Dict[str, str]:
    """The dtype ATC gives each output for this spec (from the same value build_argv writes)."""
    return output_type_entries(_output_type(spec))


def _output_type(spec: DeploySpec) -> Optional[str]:
    if spec.atc.output_type:
        return spec.atc.output_type
    typed = [o for o in spec.outputs if o.dtype]
    if not typed:
        return None
    if len(typed) == len(spec.outputs) and len({o.dtype for o in typed}) == 1:
        return typed[0].dtype
    return ";".join("{}:0:{}".format(o.name, o.dtype) for o in typed)


def spec_to_options(spec: DeploySpec, output: Optional[str] = None, aipp_file: Optional[str] = None,
                    absolute_paths: bool = False) -> Options:
    """The ATC options a spec means. `output` is the --output prefix (default: atc.output or <stem>_<soc>);
    `aipp_file` the AIPP config written for preprocess.where = aipp."""
    def path(p: str) -> str:
        return str((Path(spec.base_dir) / p).resolve()) if absolute_paths else p

    opts: Options = {"model": path(spec.model)}
    if spec.weight:
        opts["weight"] = path(spec.weight)
    framework = FRAMEWORKS.get(PurePath(spec.model).suffix.lower())
    if framework is None:
        raise UserError("model {}: expected a .onnx, .pb, .prototxt or .air file".format(spec.model))
    opts["framework"] = framework
    opts["output"] = output or spec.atc.output or output_stem(spec)
    opts["soc_version"] = spec.target.soc_version
    fmt = _input_format(spec, framework)
    if fmt:
        opts["input_format"] = fmt
    if spec.inputs and all(i.shape for i in spec.inputs):
        opts["input_shape"] = ";".join("{}:{}".format(i.name, ",".join(_dim(d) for d in i.shape))
                                       for i in spec.inputs)
    if spec.dynamic is not None:
        option, value = _gear_value(spec)
        opts[option] = value
    fp16 = [i.name for i in spec.inputs if i.dtype == "float16"]
    if fp16:
        opts["input_fp16_nodes"] = ";".join(fp16)
    if spec.atc.insert_op_conf and spec.preprocess is not None and spec.preprocess.where in ("aipp", "dvpp"):
        raise UserError("the spec sets both atc.insert_op_conf and preprocess.where: aipp",
                        hint="keep one: your own AIPP file, or the one omdeploy writes from preprocess")
    conf = aipp_file or (path(spec.atc.insert_op_conf) if spec.atc.insert_op_conf else None)
    if conf is None and spec.preprocess is not None and spec.preprocess.where in ("aipp", "dvpp"):
        conf = opts["output"] + ".aipp.cfg"
    if conf:
        opts["insert_op_conf"] = conf
    if spec.atc.out_nodes:
        opts["out_nodes"] = ";".join(spec.atc.out_nodes)
    output_type = _output_type(spec)
    if output_type:
        opts["output_type"] = output_type
    if spec.precision_mode != "force_fp16":
        opts["precision_mode"] = spec.precision_mode
    for key, value in spec.atc.options.items():
        if key == "precision_mode_v2":
            mode = PRECISION_MODE_V2.get(str(value))
            raise UserError("atc.options sets --precision_mode_v2={}: the spec's precision is `precision_mode`, "
                            "which the simulator and the sidecar read too".format(value),
                            hint="precision_mode: {}".format(mode) if mode else
                            "set precision_mode (one of {})".format(one_of(PRECISION_MODES)))
        if key in opts:
            raise UserError("atc.options sets --{} which the spec already derives".format(key),
                            hint="set it through the spec's own field (see `omdeploy spec --schema`)")
        opts[key] = value
    return {k: opts[k] for k in sorted(opts, key=lambda k: KNOWN_OPTIONS.index(k) if k in KNOWN_OPTIONS else 99)}


def _check_spec_aipp(spec: DeploySpec) -> List[str]:
    from .aipp import aipp_inputs

    clash = [n for n in aipp_inputs(spec) if spec.input(n).dtype == "float16"]  # type: ignore[union-attr]
    problems = ["input {!r}: --input_fp16_nodes and --insert_op_conf (preprocess.where: aipp) on the same input: "
                "AIPP takes uint8 and writes float16 itself; set its dtype to float32".format(n) for n in clash]
    if spec.preprocess is not None and spec.preprocess.where == "dvpp":
        problems += _vpc_size_problems(spec, aipp_inputs(spec))
    return problems


def _vpc_size_problems(spec: DeploySpec, names: Sequence[str]) -> List[str]:
    """where: dvpp feeds VPC's output straight into the model: its W a multiple of 16, its H even."""
    from .contract import hw_axes
    from .jpeg_rules import VPC_HEIGHT_ALIGN, VPC_WIDTH_ALIGN

    problems = []
    for name in names:
        item = spec.input(name)
        axes = hw_axes(item.layout) if item is not None else None
        if item is None or axes is None:
            continue
        h, w = item.shape[axes[0]], item.shape[axes[1]]
        if isinstance(h, int) and isinstance(w, int) and h > 0 and w > 0 and (w % VPC_WIDTH_ALIGN or
                                                                                h % VPC_HEIGHT_ALIGN):
            problems.append("input {!r}: preprocess.where: dvpp feeds VPC's output (width a multiple of {}, height "
                            "of {}) straight into the model, which takes {}x{} (w x h); use where: aipp (host "
                            "decoding) for this size".format(name, VPC_WIDTH_ALIGN, VPC_HEIGHT_ALIGN, w, h))
    return problems


def build_argv(spec: DeploySpec, output: Optional[str] = None, aipp_file: Optional[str] = None,
               atc: str = "atc", absolute_paths: bool = False) -> List[str]:
    """[atc, --option=value, ...] for the spec, after checking every ATC rule."""
    opts = spec_to_options(spec, output, aipp_file, absolute_paths)
    problems = option_problems(opts) + _check_spec_aipp(spec)
    if problems:
        raise UserError("spec {} breaks ATC's rules: {}".format(spec.model, "; ".join(problems)),
                        hint="see docs/convert.md for what each option takes")
    return [atc] + ["--{}={}".format(k, v) for k, v in opts.items()]


# ---------------------------------------------------------------------------------------------------
# command line -> options -> spec


def parse_atc(command: Union[str, Sequence[str]]) -> Options:
    """Options of an `atc ...` command line (a string as a shell would split it, or an argv list)."""
    try:
        words = shlex.split(command.replace("\\\n", " ")) if isinstance(command, str) else list(command)
    except ValueError as exc:  # "No closing quotation", "No escaped character"
        raise UserError("the atc command line cannot be split as a shell would: {}".format(exc),
                        hint="close every quote; copy the command as it runs in the shell") from None
    if words and not words[0].startswith("-"):
        if PurePath(words[0]).name not in ("atc", "atc.bin"):
            raise UserError("expected an atc command line, got {!r}".format(words[0]),
                            hint='omdeploy convert --from-atc "atc --model=m.onnx --framework=5 ..."')
        words = words[1:]
    opts: Options = {}
    i = 0
    while i < len(words):
        word = words[i]
        if not word.startswith("-") or word in ("-", "--"):
            raise UserError("atc command: expected --option=value, got {!r}".format(word))
        name, eq, value = word.lstrip("-").partition("=")
        # ATC parses its options with gflags, which takes -name as --name and, when a name is not defined,
        # retries it with dashes replaced by underscores (FlagRegistry::FindFlagLocked in gflags.cc)
        name = name.replace("-", "_")
        if not eq:
            if i + 1 >= len(words) or words[i + 1].startswith("--"):
                raise UserError("atc command: --{} has no value".format(name))
            value, i = words[i + 1], i + 1
        if name in opts:
            raise UserError("atc command: --{} is given twice".format(name))
        opts[name] = value
        i += 1
    return opts


_SPEC_MAPPED = ("model", "weight", "framework", "output", "soc_version", "input_format", "input_shape",
                "dynamic_batch_size", "dynamic_image_size", "dynamic_dims", "input_fp16_nodes", "out_nodes",
                "output_type", "insert_op_conf", "precision_mode", "precision_mode_v2")


def _int_or_name(d: str) -> Union[int, str]:
    return int(d) if re.match(r"^-?\d+$", d) else d


def spec_from_options(opts: Options, base_dir: str = ".", source: str = "atc command") -> DeploySpec:
    check_options(opts, source)
    fmt = opts.get("input_format") or (default_input_format(opts) if opts.get("framework") == "3" else None)
    layout = fmt if fmt in ("NCHW", "NHWC", "NCDHW", "NDHWC") else ("ND" if fmt == "ND" else "NCHW")
    inputs = [{"name": name, "shape": [_int_or_name(d) for d in dims], "layout": layout}
              for name, dims in _parse_input_shape(opts.get("input_shape", ""))]
    for node in filter(None, opts.get("input_fp16_nodes", "").split(";")):
        entry = next((i for i in inputs if i["name"] == node), None)
        if entry is None:
            entry = {"name": node, "layout": layout}
            inputs.append(entry)
        entry["dtype"] = "float16"
    data: Dict[str, object] = {"model": opts["model"], "target": {"soc_version": opts["soc_version"]}}
    if inputs:
        data["inputs"] = inputs
    if "weight" in opts:
        data["weight"] = opts["weight"]
    for option, mode in zip(GEAR_OPTIONS, ("batch", "image_size", "dims")):
        if option in opts:
            gears = _gear_list(option, opts[option])
            data["dynamic"] = {"mode": mode, "gears": [int(g[0]) if mode == "batch" else [int(v) for v in g]
                                                       for g in gears]}
    if "precision_mode" in opts:
        data["precision_mode"] = opts["precision_mode"]
    elif "precision_mode_v2" in opts:
        if opts["precision_mode_v2"] not in PRECISION_MODE_V2:
            raise UserError("{}: --precision_mode_v2={} has no --precision_mode equivalent for a spec".format(
                source, opts["precision_mode_v2"]), hint="use one of {}".format(one_of(sorted(PRECISION_MODE_V2))))
        data["precision_mode"] = PRECISION_MODE_V2[opts["precision_mode_v2"]]
    atc: Dict[str, object] = {"output": opts["output"]}
    if fmt:
        atc["input_format"] = fmt
    if "out_nodes" in opts:
        atc["out_nodes"] = [n for n in opts["out_nodes"].split(";") if n]
    for key in ("output_type", "insert_op_conf"):
        if key in opts:
            atc[key] = opts[key]
    extra = {k: v for k, v in opts.items() if k not in _SPEC_MAPPED}
    if extra:
        atc["options"] = extra
    data["atc"] = atc
    return DeploySpec.from_dict(data, source=source, base_dir=base_dir)


# shell placeholders Huawei's ModelZoo/samples READMEs leave in commands: Ascend${chip_name}, $1, Ascendxxx,
# ${soc_version}; and the batch in --input_shape/--output: ${batch_size}, ${batchsize}, ${bs}
_SOC_PLACEHOLDER = re.compile(r"\$|^Ascend[xX]+$")
_BATCH_PLACEHOLDER = re.compile(r"\$\{?(?:batch_size|batchsize|batch|bs)\}?(?![\w}])")
_SHELL_VARIABLE = re.compile(r"\$(?:\{[^}]*\}|\w+)")


def fill_placeholders(opts: Options, soc: Optional[str] = None, batch: Optional[int] = None) -> Options:
    """`opts` with a placeholder --soc_version replaced by `soc` and ${batch_size}-style variables by `batch`."""
    filled = dict(opts)
    if soc and _SOC_PLACEHOLDER.search(filled.get("soc_version", "")):
        filled["soc_version"] = soc
    if batch is not None:
        filled = {k: _BATCH_PLACEHOLDER.sub(str(batch), v) for k, v in filled.items()}
    return filled


def check_placeholders(opts: Options, source: str = "atc command") -> None:
    """Refuse shell variables left in the options: ATC would get them literally (an empty or wrong value)."""
    left = ["--{}={}".format(k, v) for k, v in opts.items() if _SHELL_VARIABLE.search(v)]
    if left:
        hints = []
        if _SHELL_VARIABLE.search(opts.get("soc_version", "")):
            hints.append("--soc {} fills the chip ({})".format(DEFAULT_SOC, SOC_NAME_RULE))
        if any(_BATCH_PLACEHOLDER.search(v) for v in opts.values()):
            hints.append("--batch N fills ${batch_size} / ${bs}")
        hints.append("replace any other $variable with its value as the script would")
        raise UserError("{}: shell placeholders left in {}".format(source, ", ".join(left)), hint="; ".join(hints))


def spec_from_atc(command: Union[str, Sequence[str]], base_dir: str = ".", soc: Optional[str] = None,
                  batch: Optional[int] = None) -> DeploySpec:
    """A DeploySpec meaning the same as an existing `atc ...` command (for migrating scripts)."""
    opts = fill_placeholders(parse_atc(command), soc, batch)
    check_placeholders(opts)
    return spec_from_options(opts, base_dir)


def format_command(argv: Sequence[str]) -> str:
    """The argv as one shell-safe line (for scripts and display)."""
    return " ".join(shlex.quote(a) for a in argv)


__all__ = ["build_argv", "spec_to_options", "parse_atc", "spec_from_atc", "spec_from_options", "check_options",
           "fill_placeholders", "check_placeholders",
           "option_problems", "output_stem", "format_command", "EXCLUSIVE", "REQUIRES", "ALLOWED_VALUES"]
