"""A verify/selftest report: one line per check with its status, what was measured, and the fix for a failure."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

from .._json import json_default
from ..fileio import write_text

STATUSES = ("pass", "fail", "skip")


@dataclass
class Check:
    name: str
    status: str                      # pass | fail | skip
    detail: str
    fix: str = ""
    data: Dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> Dict[str, Any]:
        return {"name": self.name, "status": self.status, "detail": self.detail, "fix": self.fix or None,
                "data": self.data}


@dataclass
class CheckReport:
    title: str
    facts: Dict[str, Any]
    checks: List[Check] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(c.status != "fail" for c in self.checks)

    def add(self, check: Check) -> Check:
        self.checks.append(check)
        return check

    def to_dict(self) -> Dict[str, Any]:
        return {"title": self.title, "passed": self.passed, **self.facts,
                "checks": [c.to_dict() for c in self.checks]}

    def markdown(self) -> str:
        lines = ["# {}".format(self.title), ""]
        lines += ["- {}: {}".format(k, v) for k, v in self.facts.items() if not isinstance(v, (dict, list))]
        lines += ["", "| check | result | detail | fix |", "|---|---|---|---|"]
        for c in self.checks:
            lines.append("| {} | {} | {} | {} |".format(c.name, c.status.upper() if c.status == "fail" else c.status,
                                                       _cell(c.detail), _cell(c.fix)))
        questions = self.facts.get("questions") or []
        if questions:
            lines += ["", "## Questions for hardware", ""]
            lines += ["- `{}`: {}  \n  {}".format(q["id"], q["question"], _cell(json.dumps(
                q["answer"], default=json_default))) for q in questions]
        lines += ["", "**{}**".format("PASS" if self.passed else "FAIL"), ""]
        return "\n".join(lines)

    def write(self, path: Path) -> List[Path]:
        """PATH.json and PATH.md side by side (whichever suffix PATH has)."""
        path = Path(path)
        stem = path.with_suffix("") if path.suffix.lower() in (".json", ".md") else path
        json_path, md_path = Path(str(stem) + ".json"), Path(str(stem) + ".md")
        write_text(json_path, json.dumps(self.to_dict(), indent=2, default=json_default, ensure_ascii=False) + "\n")
        write_text(md_path, self.markdown())
        return [json_path, md_path]


def _cell(text: Optional[str]) -> str:
    return (text or "").replace("|", "\\|").replace("\n", " ")
