"""One Finding type for every check that reports: the ATC pre-flight (`check`), `doctor`, `convert`'s
environment, the `jpeg` checker and the rules behind them. One shape for `--json` and one renderer
(cli/_output.render_findings)."""
from __future__ import annotations

import warnings
import importlib
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, Iterable, List, NamedTuple, Optional, Tuple

SEVERITIES = ("error", "warning", "info")  # most severe first: the order findings are listed in


class Rule(NamedTuple):
    """One rule of one checker: what a Finding's `rule` id means."""
    id: str
    severity: str  # the worst severity it reports
    what: str  # what it checks, in a line
    checker: str  # check | doctor | convert | jpeg


_RULES: Dict[str, Rule] = {}
# the modules that register rules, imported on the first lookup (each registers at import)
_RULE_MODULES = ("omdeploy.onnx.check_rules", "omdeploy.ascend.doctor_rules", "omdeploy.ascend.jpeg_rules")


def register(checker: str, rows: Iterable[Tuple[str, str, str]]) -> Tuple[Rule, ...]:
    """Add a checker's rules (id, worst severity, what it checks) to the one registry; an id is registered
    once (a second checker reusing an id must mean the same rule)."""
    added = []
    for rule_id, severity, what in rows:
        if severity not in SEVERITIES:
            raise ValueError("rule {}: severity {!r} is not one of {}".format(rule_id, severity, SEVERITIES))
        known = _RULES.get(rule_id)
        if known is not None and known.checker != checker:
            raise ValueError("rule {} is already {}'s".format(rule_id, known.checker))
        _RULES[rule_id] = Rule(rule_id, severity, what, checker)
        added.append(_RULES[rule_id])
    return tuple(added)


def rules() -> Dict[str, Rule]:
    """Every registered rule by id (check's, doctor's and convert's environment rules, jpeg's)."""
    for name in _RULE_MODULES:
        importlib.import_module(name)
    return dict(_RULES)


def rule(rule_id: str) -> Optional[Rule]:
    return rules().get(rule_id)


@dataclass
class Finding:
    """What is wrong (or worth knowing), the rule that found it and what to do about it."""
    severity: str  # error | warning | info
    rule: str  # short id: "opset-range", "cann.versions", "progressive"...
    message: str
    fix: str = ""
    source: str = ""  # where the rule comes from (a Huawei doc page, a public issue, the field report)
    nodes: List[str] = field(default_factory=list)  # ONNX nodes it is about, when any
    details: Dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError("severity {!r} is not one of {}".format(self.severity, ", ".join(SEVERITIES)))
        self.fix = self.fix or ""

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)

    # the names the four finding types had before they were one (kept for one release)
    @property
    def level(self) -> str:
        return _deprecated("level", "severity", self.severity)

    @property
    def check(self) -> str:
        return _deprecated("check", "rule", self.rule)

    @property
    def code(self) -> str:
        return _deprecated("code", "rule", self.rule)


def _deprecated(old: str, new: str, value: str) -> str:
    warnings.warn("Finding.{} is deprecated: use Finding.{}".format(old, new), DeprecationWarning, stacklevel=3)
    return value


def by_severity(findings: Iterable[Finding]) -> List[Finding]:
    """Errors first, then warnings, then notes; stable within a severity."""
    return sorted(findings, key=lambda f: SEVERITIES.index(f.severity))
