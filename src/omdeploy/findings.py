"""One Finding type for every check that reports: the ATC pre-flight (`check`), `doctor`, `convert`'s
environment, the `jpeg` checker and the rules behind them. One shape for `--json` and one renderer
(cli/_output.render_findings)."""
from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, Iterable, List

SEVERITIES = ("error", "warning", "info")  # most severe first: the order findings are listed in


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
