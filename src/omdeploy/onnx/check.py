"""The ATC pre-flight: what in an ONNX model would make ATC refuse it (or the box fail on it), before ATC runs.

    report = check("model.onnx", soc="Ascend310B4", cann="8.1.RC1")
    report.ok            # False when an error-severity finding exists
    report.findings      # each with rule, severity, message, fix, node names

The rule catalogue and the facts behind it are in check_rules.py and data/atc_onnx_support.json.
"""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from typing import Any, Callable, Dict, List, Optional, Sequence, Union

from .._optional import require
from ..findings import Finding, by_severity
from ..errors import UserError, did_you_mean
from ..chips import DEFAULT_CANN, DEFAULT_SOC, SOC_NAME_RULE, SOC_VERSIONS
from ..spec import DeploySpec, guess_layout
from . import check_rules as rules
from . import validity
from .graph import iter_nodes, real_inputs
from .inspect import TensorSummary, load_model, tensor_summary
from .memory import MIB, peak_memory
from .spec_rules import STATIC_MODEL_SOURCE, spec_problems

MAX_NODES_LISTED = 10
_INT64, _DOUBLE = 7, 11
HS = "https://www.hiascend.com/document/detail/"
ATC_OPTIONS = HS + "zh/canncommercial/800/devaids/devtools/atc/atlasatcparam_16_0009.html (ATC options)"
ONNX_DOMAIN = HS + "zh/canncommercial/700/inferapplicationdev/atctool/atlasatc_16_0201.html (ai.onnx domain only)"


@dataclass
class CheckReport:
    model: str
    soc: str
    cann: str
    opset: Optional[int]
    accepted_opsets: List[int]
    findings: List[Finding]
    facts: Dict[str, Any] = field(default_factory=dict)

    @property
    def errors(self) -> List[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> List[Finding]:
        return [f for f in self.findings if f.severity == "warning"]

    @property
    def ok(self) -> bool:
        return not self.errors

    def to_dict(self) -> Dict[str, Any]:
        data = asdict(self)
        data.update(ok=self.ok, errors=len(self.errors), warnings=len(self.warnings))
        return data


@dataclass
class _Context:
    model: Any
    soc: str
    cann: str
    opset: Optional[int]
    opsets: rules.OpsetRange
    inputs: List[TensorSummary]
    outputs: List[TensorSummary]
    spec: Optional[DeploySpec]
    facts: Dict[str, Any]
    path: Optional[str] = None
    broken: bool = False  # the file is not a valid model: later validity rules would only repeat it

    def declared_shape(self, name: str) -> Optional[List[int]]:
        """The static shape a spec freezes this input to, if any."""
        entry = self.spec.input(name) if self.spec is not None else None
        if entry is None or not entry.shape or entry.dynamic_axes:
            return None
        return [int(d) for d in entry.shape]

    def model_input_dtype(self, name: str) -> Optional[str]:
        return next((t.dtype for t in self.inputs if t.name == name), None)

    def static_shape(self, tensor: TensorSummary) -> Optional[List[int]]:
        if all(isinstance(d, int) for d in tensor.shape):
            return [int(d) for d in tensor.shape]
        return self.declared_shape(tensor.name)


def node_label(node: Any, index: int) -> str:
    return node.name or "{}#{}".format(node.op_type, index)


def _listed(names: Sequence[str]) -> List[str]:
    names = list(names)
    if len(names) <= MAX_NODES_LISTED:
        return names
    return names[:MAX_NODES_LISTED] + ["... {} more".format(len(names) - MAX_NODES_LISTED)]


def _nodes_by(ctx: _Context, key: Callable[[Any], Optional[str]]) -> Dict[str, List[str]]:
    groups: Dict[str, List[str]] = {}
    for i, node in enumerate(iter_nodes(ctx.model.graph)):
        k = key(node)
        if k is not None:
            groups.setdefault(k, []).append(node_label(node, i))
    return groups


def _is_default_domain(domain: str) -> bool:
    return domain in ("", "ai.onnx")


def _export_fix(opset: int, cann: str) -> str:
    return ("re-export with the TorchScript exporter at opset {0}: `omdeploy export ... --opset {0} --cann {1}` "
            "(torch.onnx.export(..., dynamo=False, opset_version={0}))".format(opset, cann))


def _fit_opset(ctx: _Context) -> int:
    """The opset to advise: the recommended one, raised to the first opset where every op of the model exists
    (an attention model with Trilu needs 14: "re-export at 11" could not be followed), capped by the parser."""
    first = _first_opsets()
    needed = max([first.get(n.op_type, 1) for n in iter_nodes(ctx.model.graph) if _is_default_domain(n.domain)
                  and n.op_type in first] or [1])
    return min(max(ctx.opsets.recommended, needed), ctx.opsets.accepted[1])


# ---- rules ------------------------------------------------------------------------------------------

def rule_opset_range(ctx: _Context) -> List[Finding]:
    rng, opset = ctx.opsets, ctx.opset
    if opset is None:
        return [Finding("error", "opset-range", "the model declares no ai.onnx opset", _export_fix(rng.recommended,
                                                                                                     ctx.cann))]
    low, high = rng.accepted
    if not rng.accepts(opset):
        fix = _export_fix(_fit_opset(ctx), ctx.cann)
        if opset < low:
            fix += "; or raise it with `omdeploy sanitize MODEL --opset {}`".format(low)
        else:
            fix += ("; or lower it with `omdeploy sanitize MODEL --opset {}` (onnx.version_converter, which has "
                    "no down-adapter for some ops)".format(_fit_opset(ctx)))
        return [Finding("error", "opset-range", "ai.onnx opset {} is outside the opsets CANN {}'s ATC parses "
                        "(v{}-v{})".format(opset, ctx.cann, low, high), fix,
                        details={"opset": opset, "accepted": list(rng.accepted), "source": rng.source},
                        source=rng.source)]
    if not rng.documents(opset):
        return [Finding("warning", "opset-range", "ai.onnx opset {} converts in practice, but CANN {}'s documentation "
                        "lists v{}-v{}".format(opset, ctx.cann, rng.documented[0], rng.documented[1]),
                        "if ATC reports E19010 for an operator, " + _export_fix(_fit_opset(ctx), ctx.cann),
                        details={"opset": opset, "documented": list(rng.documented), "source": rng.source},
                        source=rng.source)]
    return []


def rule_foreign_domain(ctx: _Context) -> List[Finding]:
    groups = _nodes_by(ctx, lambda n: None if _is_default_domain(n.domain) else n.domain)
    findings = []
    for domain, nodes in sorted(groups.items()):
        op_types = sorted({n.op_type for n in iter_nodes(ctx.model.graph) if n.domain == domain})
        findings.append(Finding(
            "error", "foreign-domain",
            "{} node(s) from domain '{}' ({}): ATC parses only the ai.onnx domain".format(
                len(nodes), domain, ", ".join(op_types)),
            "export from the framework without runtime-specific optimisation (com.microsoft ops come from "
            "onnxruntime's optimizer, transformer fusions or quantizer; custom domains from mmcv-style custom ops), "
            "or register an ATC ONNX adapter plugin for each op (REGISTER_CUSTOM_OP(...).OriginOpType(...))",
            nodes=_listed(nodes), details={"domain": domain, "operators": op_types}, source=ONNX_DOMAIN))
    return findings


def rule_extra_opset_import(ctx: _Context) -> List[Finding]:
    used = {n.domain for n in iter_nodes(ctx.model.graph)}
    unused = sorted(o.domain for o in ctx.model.opset_import if not _is_default_domain(o.domain) and o.domain not in used)
    if not unused:
        return []
    return [Finding("warning", "extra-opset-import",
                    "the model declares opset domains no node uses: {}; ATC accepts one domain_version field".format(
                        ", ".join(unused)),
                    "drop them: `omdeploy sanitize MODEL` rewrites opset_import to the domains in use",
                    details={"domains": unused}, source=ONNX_DOMAIN)]


@lru_cache(maxsize=1)
def _first_opsets() -> Dict[str, int]:
    """ai.onnx operator -> the opset that introduced it, from the installed onnx package's schemas."""
    onnx = require("onnx", "checking operators against the ONNX schemas")
    first: Dict[str, int] = {}
    for schema in onnx.defs.get_all_schemas_with_history():
        if schema.domain in ("", "ai.onnx"):
            first[schema.name] = min(first.get(schema.name, schema.since_version), schema.since_version)
    return first


def rule_op_newer_than_parser(ctx: _Context) -> List[Finding]:
    high = ctx.opsets.accepted[1]
    first = _first_opsets()
    groups = _nodes_by(ctx, lambda n: n.op_type if _is_default_domain(n.domain) else None)
    findings = []
    for op_type, nodes in sorted(groups.items()):
        if op_type not in first:
            findings.append(Finding("error", "op-newer-than-parser",
                                    "'{}' is not a standard ONNX operator, so no ATC parser exists for it".format(op_type),
                                    "re-export with standard operators, or move the op into a custom domain with an "
                                    "ATC adapter plugin", nodes=_listed(nodes)))
        elif first[op_type] > high:
            findings.append(Finding(
                "error", "op-newer-than-parser",
                "{} exists only from opset {}; CANN {}'s ATC parses up to opset {}".format(
                    op_type, first[op_type], ctx.cann, high),
                "rewrite the op in the model's source with operators that exist at opset {0} (or replace it with "
                "a custom op and an ATC adapter plugin): re-exporting at opset {0} helps only where the exporter "
                "has an older decomposition for it".format(high),
                nodes=_listed(nodes), details={"op": op_type, "since_opset": first[op_type]},
                source="the ONNX operator schemas (onnx.defs, https://onnx.ai/onnx/operators/); " +
                ctx.opsets.source))
    return findings


def _constant_tensors(graph: Any) -> set:
    """Tensors computed from initializers and Constant nodes alone: constant folding removes their nodes."""
    inputs = {v.name for v in real_inputs(graph)}
    constant = {t.name for t in graph.initializer}
    for node in graph.node:
        if all(not name or (name in constant and name not in inputs) for name in node.input) and \
                not any(a.type in (a.GRAPH, a.GRAPHS) for a in node.attribute):
            constant.update(o for o in node.output if o)
    return constant


def rule_known_op(ctx: _Context) -> List[Finding]:
    facts = rules.operator_facts()
    constant = _constant_tensors(ctx.model.graph)
    folded = {node_label(n, i) for i, n in enumerate(iter_nodes(ctx.model.graph))
              if n.op_type == "NonZero" and all(name in constant for name in n.input)}
    groups = _nodes_by(ctx, lambda n: n.op_type if n.op_type in facts else None)
    findings = []
    for op, nodes in sorted(groups.items()):
        fact = facts[op]
        live = [n for n in nodes if n not in folded]
        if len(live) < len(nodes):
            findings.append(Finding(
                "warning", "known-op", "{} {} node(s) compute on constants only (opset-9 YOLO exports have them): "
                "constant folding removes them".format(len(nodes) - len(live), op),
                "run `omdeploy sanitize MODEL` (it folds constants) and check the result",
                nodes=_listed(sorted(set(nodes) - set(live))), details={"op": op, "constant": True},
                source="onnx constant folding of initializer-only subgraphs; " + fact.source))
        if live:
            findings.append(Finding(fact.severity, "known-op", "{}: {}".format(op, fact.why), fact.fix,
                                    nodes=_listed(live), details={"op": op, "source": fact.source},
                                    source=fact.source))
    return findings


def suggest_gears(tensor: TensorSummary) -> Dict[str, Any]:
    """ATC options that cover a dynamic input (batch gears, or H/W gears in multiples of 32), and a freeze."""
    gears = rules.gear_facts()
    shape = list(tensor.shape)
    fixed = [isinstance(d, int) and d > 0 for d in shape]  # -1 / 0 (an exporter's "any") is dynamic too
    dynamic = [i for i, f in enumerate(fixed) if not f]
    image = len(shape) == 4 and fixed[1] and shape[1] in (1, 3, 4)
    typical = gears["image"][len(gears["image"]) // 2]
    freeze = [d if f else typical if image and i in (2, 3) else 1 for i, (d, f) in enumerate(zip(shape, fixed))]
    suggestion: Dict[str, Any] = {"mode": "freeze", "gears": [], "freeze": freeze,
                                  "atc": '--input_shape="{}:{}"'.format(tensor.name, _dims(freeze))}
    if image and dynamic == [0]:
        dims = [-1] + shape[1:]
        suggestion.update(mode="batch", gears=gears["batch"], atc='--input_shape="{}:{}" --dynamic_batch_size="{}"'
                          .format(tensor.name, _dims(dims), _dims(gears["batch"])))
    elif len(shape) == 4 and set(dynamic) - {0} == {2, 3}:
        # batch frozen to 1: ATC's gear options exclude each other. H/W gears of an image are
        # --dynamic_image_size (NCHW), which keeps AIPP possible (--dynamic_dims excludes --insert_op_conf);
        # another 4-D input (a feature map, no AIPP) gets --dynamic_dims with ND, as the seed's decoder had
        dims = [1, shape[1], -1, -1]
        pairs = [[s, s] for s in gears["image"]]
        mode, options = ("image_size", "--input_format=NCHW --dynamic_image_size") if image else \
            ("dims", "--input_format=ND --dynamic_dims")
        suggestion.update(mode=mode, gears=pairs, align=gears["align"][0],
                          atc='--input_shape="{}:{}" {}="{}"'.format(
                              tensor.name, _dims(dims), options, ";".join(_dims(p) for p in pairs)))
    return suggestion


def _dims(values: Sequence[Any]) -> str:
    return ",".join(str(v) for v in values)


def rule_dynamic_dims(ctx: _Context) -> List[Finding]:
    if ctx.spec is not None and ctx.spec.dynamic is not None:
        return []
    findings = []
    for tensor in ctx.inputs:
        axes = tensor.dynamic_axes
        if not axes or ctx.declared_shape(tensor.name) is not None:
            continue
        suggestion = suggest_gears(tensor)
        refused = bool(rules.NO_DYNAMIC_SHAPE_SOCS.match(ctx.soc))  # only 310 / 310B take no true dynamic shape
        findings.append(Finding(
            "error" if refused else "warning", "dynamic-dims",
            "input '{}' [{}] is dynamic on axes {} and no gears are declared; {}".format(
                tensor.name, _dims(tensor.shape), ", ".join(str(a) for a, _ in axes),
                "ATC for {} takes no true dynamic shape: it needs a static --input_shape or gears".format(ctx.soc)
                if refused else "ATC for {} builds a true dynamic shape (-1 or ranges in --input_shape), which gears "
                                "or a static shape usually beat in speed and memory".format(ctx.soc)),
            "freeze it: `omdeploy sanitize MODEL --shape {}:{}`, or declare gears in the spec (dynamic: ...) "
            "and convert with {}".format(tensor.name, _dims(suggestion["freeze"]), suggestion["atc"]),
            details={"input": tensor.name, "axes": [a for a, _ in axes], "suggested": suggestion},
            source=ATC_OPTIONS + ": --input_shape, --dynamic_batch_size, --dynamic_image_size, --dynamic_dims"))
    return findings


def rule_wide_dtype(ctx: _Context) -> List[Finding]:
    findings = []
    wide = {"int64", "float64"}
    for kind, tensors in (("input", ctx.inputs), ("output", ctx.outputs)):
        for t in tensors:
            if t.dtype not in wide:
                continue
            if kind == "output":
                fix = "cast to float32/int32 at the end of the model before export"
                why = ("ATC's --output_type offers FP32, FP16, UINT8, INT8 before CANN 8.5, so it is cast"
                       if not rules.float64_output_supported(ctx.cann) else "AI Core kernels lack 64-bit types")
            else:
                why = "AI Core kernels lack 64-bit types; ATC inserts casts (AI CPU) or refuses the graph"
                fix = "take float32 (or int32 for indices) in forward() and export again"
            findings.append(Finding("warning", "wide-dtype", "{} '{}' is {}: {}".format(kind, t.name, t.dtype, why),
                                    fix, details={"tensor": t.name, "dtype": t.dtype, "kind": kind},
                                    source=rules.support()["float64_output_source"]))
    casts = _nodes_by(ctx, lambda n: "cast" if n.op_type == "Cast" and any(
        a.name == "to" and a.i == _DOUBLE for a in n.attribute) else None).get("cast", [])
    doubles = [t.name for t in ctx.model.graph.initializer if t.data_type == _DOUBLE]
    if casts or doubles:
        findings.append(Finding("warning", "wide-dtype",
                                "float64 inside the graph ({} Cast-to-double node(s), {} float64 initializer(s)): ATC "
                                "computes it in float16/float32 or on AI CPU".format(len(casts), len(doubles)),
                                "keep the model in float32: remove .double() / torch.float64 from forward()",
                                nodes=_listed(casts + doubles), source=rules.support()["float64_output_source"]))
    return findings


def _validity(ctx: _Context, problems: List[validity.Problem]) -> List[Finding]:
    if problems:
        ctx.broken = True
    return [Finding("error", rule, message, fix, source=source) for rule, message, fix, source in problems]


def rule_external_data(ctx: _Context) -> List[Finding]:
    return _validity(ctx, validity.external_data_problems(ctx.model, ctx.path))


def rule_onnx_checker(ctx: _Context) -> List[Finding]:
    return [] if ctx.broken else _validity(ctx, validity.checker_problems(ctx.model, ctx.path, ctx.opset))


def rule_onnxruntime_load(ctx: _Context) -> List[Finding]:
    return [] if ctx.broken else _validity(ctx, validity.onnxruntime_problems(ctx.model, ctx.path))


def rule_spec_model(ctx: _Context) -> List[Finding]:
    if ctx.spec is None:
        return []
    return [Finding("error", "spec-model", problem, "make the spec match the model (omdeploy spec FILE lists every "
                    "problem; omdeploy inspect MODEL shows the model)",
                    source=STATIC_MODEL_SOURCE if "static there" in problem else "the rules convert applies "
                    "(omdeploy.onnx.spec_rules): ATC stops on a spec that contradicts the model (E10001)")
            for problem in spec_problems(ctx.spec, ctx.model)]


def rule_input_memory(ctx: _Context) -> List[Finding]:
    memory_mb = rules.device_memory_mb(ctx.soc)  # the one place check reads the chip's memory
    ctx.facts["device_memory_mb"] = memory_mb
    if ctx.broken:
        return []
    est = peak_memory(ctx.model, ctx.spec)
    ctx.facts.update(memory=est.to_dict(), input_bytes=est.input_bytes, peak_bytes=est.total)
    if memory_mb is None or any(b is None for b in est.inputs.values()):
        return []
    memory = memory_mb * MIB
    fp32 = [n for n, b in est.inputs.items() if b and (ctx.spec is None
                                                         or getattr(ctx.spec.input(n), "dtype", "float32") == "float32")
            and ctx.model_input_dtype(n) == "float32"]
    saving = sum(est.inputs[n] or 0 for n in fp32) // 2
    fix = ("convert with --input_fp16_nodes=\"{}\" (spec inputs[].dtype: float16): saves {}".format(
        ";".join(fp32), est.mib(saving)) if fp32 else "use a smaller shape, batch or gear")
    source = ("the field report: a 1x3x4064x3040 float32 input failed with 207001 at the host-to-device copy "
              "until it became float16; device memory from npu-smi info ({})".format(ctx.soc))
    if est.total > memory:
        return [Finding("error", "input-memory", "{} exceeds the {} of device memory on {}: expect 207001 (device "
                        "memory allocation failed)".format(est.summary(), est.mib(memory), ctx.soc),
                        fix + ("; or use a smaller shape, batch or gear" if fp32 else ""),
                        details=dict(ctx.facts), source=source)]
    if est.total > rules.input_warn_fraction() * memory:
        return [Finding("warning", "input-memory", "{} is {:.0%} of {}'s {}: little room for the application and "
                        "other models".format(est.summary(), est.total / memory, ctx.soc, est.mib(memory)),
                        fix, details=dict(ctx.facts), source=source)]
    return []


def rule_input_layout(ctx: _Context) -> List[Finding]:
    findings = []
    for t in ctx.inputs:
        declared = ctx.spec.input(t.name) if ctx.spec is not None else None
        layout = declared.layout if declared is not None else guess_layout(t.shape)
        if layout not in ("NHWC", "NDHWC"):
            continue
        findings.append(Finding(
            "warning", "input-layout",
            "input '{}' {} looks {}: ATC's ONNX parser takes NCHW, NCDHW or ND, and AIPP feeds NCHW models".format(
                t.name, "[" + ", ".join(str(d) for d in t.shape) + "]", layout),
            "export with a channels-first input (drop the permute/transpose at the start of forward() and transpose "
            "on the host), or convert with --input_format=ND and no AIPP",
            details={"input": t.name, "layout": layout}, source=ATC_OPTIONS + ": --input_format"))
    return findings


def rule_preprocess_policy(ctx: _Context) -> List[Finding]:
    """A spec whose resize policy is not the one the model's exporter metadata implies (presets.py)."""
    pre = ctx.spec.preprocess if ctx.spec is not None else None
    if pre is None or pre.resize == "none" or ctx.broken:
        return []
    from ..presets import PRESETS, preset_from_metadata

    metadata = {p.key: p.value for p in ctx.model.metadata_props}
    name = preset_from_metadata(metadata)
    want = PRESETS[name]["policy"] if name else None
    if want is None or pre.policy == want:
        return []
    return [Finding(
        "warning", "preprocess-policy",
        "preprocess.policy is {} but the model's metadata says an Ultralytics {} export, trained and predicted "
        "with {} resizing: the input differs from what it saw (up to tens of grey levels at the padding)".format(
            pre.policy or "unset (PIL bilinear, floor padding split)", metadata.get("task"), want),
        "set preprocess.policy: {} (omdeploy spec --init MODEL writes it; docs/run.md, resize policies)".format(want),
        details={"policy": pre.policy, "expected": want, "preset": name},
        source="ultralytics/engine/exporter.py (metadata task/imgsz/stride), ultralytics/data/augment.py "
               "LetterBox (https://github.com/ultralytics/ultralytics)")]


CHECKS: Dict[str, Callable[[_Context], List[Finding]]] = {
    "opset-range": rule_opset_range,
    "foreign-domain": rule_foreign_domain,
    "extra-opset-import": rule_extra_opset_import,
    "op-newer-than-parser": rule_op_newer_than_parser,
    "known-op": rule_known_op,
    "dynamic-dims": rule_dynamic_dims,
    "wide-dtype": rule_wide_dtype,
    "input-memory": rule_input_memory,
    "external-data": rule_external_data,
    "onnx-checker": rule_onnx_checker,
    "onnxruntime-load": rule_onnxruntime_load,
    "spec-model": rule_spec_model,
    "input-layout": rule_input_layout,
    "preprocess-policy": rule_preprocess_policy,
}


def _validate_soc(soc: str) -> str:
    if soc not in SOC_VERSIONS:
        raise UserError("soc {!r} is not an Ascend soc_version{}".format(soc, did_you_mean(soc, SOC_VERSIONS)),
                        hint=SOC_NAME_RULE)
    return soc


def check(model: Union[str, os.PathLike, Any], soc: Optional[str] = None, cann: Optional[str] = None,
          spec: Optional[DeploySpec] = None) -> CheckReport:
    """Run every rule; `spec` supplies soc/cann defaults, frozen input shapes, layouts and declared gears."""
    soc = _validate_soc(soc or (spec.target.soc_version if spec is not None else DEFAULT_SOC))
    cann = str(cann or (spec.target.cann if spec is not None else DEFAULT_CANN))
    path = ""
    if isinstance(model, (str, os.PathLike)):
        path = str(model)
        model = load_model(model, load_external_data=False)
    facts: Dict[str, Any] = {"exporter": validity.exporter(model)}
    graph = model.graph
    opset = next((int(o.version) for o in model.opset_import if _is_default_domain(o.domain)), None)
    opsets = rules.opset_range(cann)
    ctx = _Context(model, soc, cann, opset, opsets, [tensor_summary(v) for v in real_inputs(graph)],
                   [tensor_summary(v) for v in graph.output], spec, facts, path or None)
    findings: List[Finding] = []
    for rule_id in rules.RULE_IDS:
        findings.extend(CHECKS[rule_id](ctx))
    return CheckReport(path, soc, cann, opset, list(opsets.accepted), by_severity(findings), ctx.facts)
