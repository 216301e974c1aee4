"""The ATC pre-flight knowledge: the rule catalogue and the support facts from data/atc_onnx_support.json.

Facts (opset ranges per CANN version, operators known to break ATC) live in the JSON file with their sources;
this module only reads them. Device memory per soc is in the chip table (omdeploy.chips). Imports with the standard library alone.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from .. import chips
from ..errors import UserError, one_of
from ..findings import Rule, register

SUPPORT_FILE = Path(__file__).resolve().parent.parent / "data" / "atc_onnx_support.json"
# socs that take no true dynamic shape (ranges / bare -1 without gears): a chip fact, in the chip table
NO_DYNAMIC_SHAPE_SOCS = chips.NO_DYNAMIC_SHAPE_SOCS


# Every rule check() runs, in the order findings are reported. tests/onnx/test_check.py has a test per id.
RULES: Tuple[Rule, ...] = register("check", (
    ("external-data", "error", "external weight files present and complete"),
    ("onnx-checker", "error", "onnx.checker with shape inference accepts the model"),
    ("onnxruntime-load", "error", "onnxruntime loads the model"),
    ("spec-model", "error", "the spec agrees with the model (the rules spec and convert apply)"),
    ("opset-range", "error", "ai.onnx opset inside the range the target CANN's ATC parses"),
    ("foreign-domain", "error", "operators only from the ai.onnx domain"),
    ("extra-opset-import", "warning", "one opset domain declared (ATC allows one domain_version field)"),
    ("op-newer-than-parser", "error", "every operator exists at the highest opset the target CANN parses"),
    ("known-op", "error", "operators known to break ATC (table in data/atc_onnx_support.json)"),
    ("dynamic-dims", "error", "dynamic input dims are covered by gears or frozen"),
    ("wide-dtype", "warning", "float64 / int64 inputs, outputs and casts that ATC casts or refuses"),
    ("input-memory", "error", "the peak device memory (weights, inputs, outputs, live activations) fits"),
    ("input-layout", "warning", "image inputs are NCHW (ATC's ONNX parser takes NCHW, NCDHW or ND)"),
    ("preprocess-policy", "warning", "the spec resizes as the framework the exporter's metadata names"),
))
RULE_IDS = tuple(r.id for r in RULES)


@dataclass(frozen=True)
class OpsetRange:
    cann: str
    accepted: Tuple[int, int]
    documented: Tuple[int, int]
    recommended: int
    source: str

    def accepts(self, opset: int) -> bool:
        return self.accepted[0] <= opset <= self.accepted[1]

    def documents(self, opset: int) -> bool:
        return self.documented[0] <= opset <= self.documented[1]


@dataclass(frozen=True)
class OperatorFact:
    op: str
    severity: str
    why: str
    fix: str
    source: str


@lru_cache(maxsize=1)
def support() -> Dict[str, Any]:
    return json.loads(SUPPORT_FILE.read_text(encoding="utf-8"))


_VERSION = re.compile(r"^(\d+)\.(\d+)")


def cann_version(text: str) -> Tuple[int, int]:
    """(major, minor) of '8.0', '8.0.0', '8.0.RC3', '7.0.RC1.alpha003'."""
    match = _VERSION.match(str(text).strip())
    if not match:
        raise UserError("CANN version: expected a version such as 8.0, 8.0.0 or 8.0.RC3, got {!r}".format(text),
                        hint="`cat <toolkit>/latest/version.cfg` or `omdeploy doctor` on the box shows it")
    return int(match.group(1)), int(match.group(2))


def opset_range(cann: str) -> OpsetRange:
    major = str(cann_version(cann)[0])
    rows = support()["cann_opsets"]
    for row in rows:
        if row["cann"] == major:
            return OpsetRange(str(cann), tuple(row["accepted"]), tuple(row["documented"]), row["recommended"],
                              row["source"])
    known = [r["cann"] + ".x" for r in rows]
    raise UserError("CANN {}: no ATC opset facts for this version; known: {}".format(cann, one_of(known)),
                    hint="pass --cann with the toolkit version installed on the box")


def device_memory_mb(soc: str) -> Optional[int]:
    row = chips.memory_mb(soc)
    return None if row is None else row[0]


def operator_facts() -> Dict[str, OperatorFact]:
    return {row["op"]: OperatorFact(row["op"], row["severity"], row["why"], row["fix"], row["source"])
            for row in support()["operators"]}


def float64_output_supported(cann: str) -> bool:
    return cann_version(cann) >= cann_version(support()["float64_output_from_cann"])


def input_warn_fraction() -> float:
    return float(support()["input_memory"]["warn_fraction"])


def gear_facts() -> Dict[str, List[int]]:
    data = support()
    return {"image": list(data["image_gears"]), "batch": list(data["batch_gears"]), "align": [data["gear_align"]]}


def rule(rule_id: str) -> Rule:
    return next(r for r in RULES if r.id == rule_id)
