"""The error knowledge base: aclError codes and log patterns as data, and the diagnosis of logs.

The facts live in data/acl_codes.json (the aclError, runtime and GE codes of Huawei's ACL API reference) and data/log_patterns.json
(ATC, GE, RUNTIME and Python lines mapped to causes and ordered fixes). This module only reads them:

    describe_code(507011)        -> AclCode(name, meaning, causes, fixes)
    diagnose_log(text)           -> [Diagnosis, ...] root cause first, [] when nothing is recognised
    read_logs(path_or_dash)      -> the text of a log file, a whole plog directory, or stdin
"""
from __future__ import annotations

import json
import re
import sys
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Callable, Dict, List, Optional, Pattern, Tuple

DATA = Path(__file__).resolve().parent.parent / "data"
CONFIDENCES = ("high", "medium", "low")
ROLES = ("root", "symptom", "noise")
# plog directories can hold gigabytes; the root cause is normally near the start of each file
MAX_BYTES_PER_FILE = 16 * 1024 * 1024
MAX_TOTAL_BYTES = 128 * 1024 * 1024
_EVIDENCE_CHARS = 400
_FIELD = re.compile(r"\{(\w+)\}")


@dataclass
class AclCode:
    """One aclError / runtime / GE code from the ACL API reference."""
    code: int
    name: str
    meaning: str
    causes: List[str]
    fixes: List[str]
    category: str = ""  # the code class: "user, environment or code error", ...

    def to_dict(self) -> Dict[str, object]:
        return asdict(self)


@dataclass
class Diagnosis:
    """One recognised problem in a log."""
    title: str
    cause: str
    fixes: List[str]
    confidence: str  # "high" | "medium" | "low"
    evidence: str  # the log line that matched
    code: Optional[str] = None  # e.g. "EC0010", "E19010", "507011"
    role: str = "root"  # "root" | "symptom" | "noise"
    pattern: str = ""  # id of the row in data/log_patterns.json
    line: Optional[int] = None  # 1-based line of the evidence in its source
    source: Optional[str] = None  # the file the evidence came from, for plog directories

    def to_dict(self) -> Dict[str, object]:
        return asdict(self)


@dataclass
class LogPattern:
    id: str
    regex: Pattern
    role: str
    confidence: str
    title: str
    cause: str
    fixes: List[str]
    example: str
    needle: Optional[str] = None
    code: Optional[str] = None
    from_code: bool = False
    from_inner: bool = False
    from_name: bool = False  # the code is named (ACL_ERROR_...), not numbered
    whole_text: bool = False


@dataclass
class LogText:
    """Text read from one log source; `binary` when the bytes were not text (diagnosed anyway, lossily)."""
    name: str
    text: str
    binary: bool = False
    truncated: bool = False
    notes: List[str] = field(default_factory=list)


def _load(name: str) -> dict:
    return json.loads((DATA / name).read_text(encoding="utf-8"))


@lru_cache(maxsize=None)
def _code_table() -> Tuple[Dict[int, dict], Dict[str, dict]]:
    data = _load("acl_codes.json")
    return {int(row["code"]): row for row in data["codes"]}, data["classes"]


@lru_cache(maxsize=None)
def _inner_classes() -> Dict[int, dict]:
    return {int(k, 16): v for k, v in _load("acl_codes.json")["inner_classes"]["bases"].items()}


def inner_code_class(inner: int) -> Optional[dict]:
    """The runtime's internal error class of a retCode/InnerCode (0x07CCxxxx: module 0x07 = runtime, CC = class)."""
    return _inner_classes().get(inner & 0xFFFF0000)


def code_class(code: int) -> Optional[dict]:
    """The class of a code by its first digit (1 user/env, 2 resource/HW, 3 business, 5 internal)."""
    return _code_table()[1].get(str(code)[0]) if code > 0 else None


@lru_cache(maxsize=None)
def _codes_by_name() -> Dict[str, int]:
    return {row["name"]: code for code, row in _code_table()[0].items()}


def code_named(name: str) -> Optional[int]:
    """The number of an aclError name (ACL_ERROR_RT_MODEL_EXECUTE -> 507011); None when not in the table."""
    return _codes_by_name().get(name)


def describe_code(code: int) -> Optional[AclCode]:
    """The name, meaning, likely causes and fixes of an aclError code; None when the code is not in the table."""
    rows, _ = _code_table()
    row = rows.get(int(code))
    if row is None:
        return None
    klass = code_class(int(code)) or {}
    return AclCode(code=int(code), name=row["name"], meaning=row["meaning"],
                   causes=list(row.get("causes") or klass.get("causes", [])),
                   fixes=list(row.get("fixes") or klass.get("fixes", [])),
                   category=klass.get("label", ""))


@lru_cache(maxsize=None)
def log_patterns() -> Tuple[LogPattern, ...]:
    rows = _load("log_patterns.json")["patterns"]
    return tuple(LogPattern(id=r["id"], regex=re.compile(r["regex"]), role=r["role"], confidence=r["confidence"],
                            title=r["title"], cause=r["cause"], fixes=list(r["fixes"]), example=r["example"],
                            needle=r.get("needle"), code=r.get("code"), from_code=bool(r.get("from_code")),
                            from_inner=bool(r.get("from_inner")), from_name=bool(r.get("from_name")),
                            whole_text=r.get("scope") == "text")
                 for r in rows)


def patterns_for_code(code: str) -> List[LogPattern]:
    """Log patterns that name `code` (e.g. "EC0010", "E19010"), for `explain EC0010`."""
    code = code.upper()
    return [p for p in log_patterns() if p.code == code or "(?P<code>{}".format(code) in p.regex.pattern]


def _fill(template: str, values: Dict[str, str]) -> str:
    return _FIELD.sub(lambda m: values.get(m.group(1)) or "?", template)


def _clip(line: str, end: int) -> str:
    """The line, or for a long one its start and the text up to the end of the match (joined by ' ... ')."""
    line = line.rstrip()
    if len(line) <= _EVIDENCE_CHARS:
        return line.strip()
    head = _EVIDENCE_CHARS // 3
    tail_start = max(head, end - (_EVIDENCE_CHARS - head))
    tail = line[tail_start:max(end, tail_start)]
    return (line[:head].strip() + " ... " + tail.strip() + (" ..." if end < len(line) else "")).strip()


def _soc_note(values: Dict[str, str]) -> str:
    """Whether the chips a message names are soc_versions ATC (and doctor's chip table) know."""
    from ..spec import SOC_VERSIONS

    notes = []
    for soc in (values.get(k, "") for k in ("pkg", "soc")):
        if soc.startswith("Ascend"):
            notes.append("{} is a soc_version ATC accepts".format(soc) if soc in SOC_VERSIONS else
                         "{} is not a soc_version omdeploy knows; compare it with the Name column of npu-smi info"
                         .format(soc))
    return " ({})".format("; ".join(notes)) if notes else ""


def _diagnosis(pattern: LogPattern, match, evidence: str, line_no: int, end: int) -> Diagnosis:
    values = {k: v for k, v in match.groupdict().items() if v}
    if pattern.from_name:
        named = code_named(values["name"])
        if named is not None:
            values["code"] = str(named)
    code = pattern.code or values.get("code")
    fixes = [_fill(f, values) for f in pattern.fixes]
    cause = pattern.cause
    if pattern.from_code:
        number = int(values.get("code", 0))
        known = describe_code(number) if number else None
        klass = code_class(number) or {}
        values.update(name=known.name if known else values.get("name", "unknown code"), code=values.get("code", "?"),
                      meaning=known.meaning if known else "not in the aclError table" + ("; " + klass["label"] if klass else ""))
        likely = known.causes if known else klass.get("causes", [])
        cause = "{meaning}. Likely: " + "; ".join(likely) if likely else "{meaning}"
        # a from_code row's own fixes (framework-specific advice) come before the code's
        fixes = fixes + list(known.fixes if known else klass.get("fixes", ["read the plog for the first error"]))
    if pattern.from_inner:
        inner = inner_code_class(int(values["inner"], 16)) or {}
        values.update(klass=inner.get("name", "an unlisted class"), meaning=inner.get("meaning", "not in the runtime's table"))
        code = code or values["inner"]
        fixes = list(inner.get("fixes") or fixes)
    return Diagnosis(title=_fill(pattern.title, values), cause=_fill(cause, values) + _soc_note(values), fixes=fixes,
                     confidence=pattern.confidence, evidence=_clip(evidence, end), code=code, role=pattern.role,
                     pattern=pattern.id, line=line_no)


def _line_diagnoses(text: str) -> List[Diagnosis]:
    found = []
    line_patterns = [p for p in log_patterns() if not p.whole_text]
    for number, line in enumerate(text.splitlines(), 1):
        for pattern in line_patterns:
            if pattern.needle is not None and pattern.needle not in line:
                continue
            match = pattern.regex.search(line)
            if match:
                found.append(_diagnosis(pattern, match, line, number, match.end()))
                break  # first matching row wins: specific rows come before general ones
    return found


def _text_diagnoses(text: str) -> List[Diagnosis]:
    found = []
    for pattern in log_patterns():
        if not pattern.whole_text or (pattern.needle is not None and pattern.needle not in text):
            continue
        match = pattern.regex.search(text)
        if match:
            line_no = text.count("\n", 0, match.end()) + 1
            start = text.rfind("\n", 0, match.end()) + 1
            found.append(_diagnosis(pattern, match, text[start:match.end()], line_no, match.end() - start))
    return found


# catch-alls: EZ9999/EE9999/EH9999 "Inner Error", EE8888, EE1001 "The argument is invalid"
_GENERIC_CODE = re.compile(r"^(E[A-Z]9999|EE8888|EE1001)$")
# rows that name a code but know nothing beyond it: ranked after the specific rows, before the symptoms
_UNSPECIFIC_ROWS = ("acl-error-code", "acl-error-name", "atc-error-code")


def _role_rank(d: Diagnosis) -> float:
    """A catch-all code ranks as a symptom and a bare code after the specific causes: the most specific cause first."""
    generic = bool(d.code and _GENERIC_CODE.match(d.code)) or "inner error" in d.title.lower()
    if generic:
        return max(ROLES.index(d.role), ROLES.index("symptom"))
    if d.pattern in _UNSPECIFIC_ROWS and d.role == "root":
        return 0.5
    return ROLES.index(d.role)


def rank(diagnoses: List[Diagnosis], source_order: Optional[Dict[str, int]] = None) -> List[Diagnosis]:
    """Root causes first (confident ones, then the earliest), then symptoms, then noise; one entry per title."""
    order = source_order or {}
    ordered = sorted(diagnoses, key=lambda d: (_role_rank(d), CONFIDENCES.index(d.confidence),
                                               order.get(d.source or "", 0), d.line or 0))
    seen = set()
    unique = []
    for d in ordered:
        if d.title not in seen:
            seen.add(d.title)
            unique.append(d)
    return unique


_ESCAPED_NEWLINES = re.compile(r"^.*\\n.*\\n.*$", re.M)


def _unescape_lines(text: str) -> str:
    """Split lines that carry a whole log with escaped newlines (a JSON error body such as {"detail": "...\\n..."})."""
    return _ESCAPED_NEWLINES.sub(lambda m: m.group(0).replace("\\n", "\n"), text)


def _find(text: str) -> List[Diagnosis]:
    text = _unescape_lines(text.replace("\x00", ""))
    return _line_diagnoses(text) + _text_diagnoses(text)


def diagnose_log(text: str) -> List[Diagnosis]:
    """Recognised problems in a log, root cause first; [] when nothing is recognised."""
    return rank(_find(text))


def diagnose_logs(logs: List[LogText], on_each: Optional[Callable[[LogText], None]] = None) -> List[Diagnosis]:
    """diagnose_log over several sources (a plog directory, oldest first), each diagnosis naming its file."""
    found = []
    for log in logs:
        for d in _find(log.text):
            d.source = log.name
            found.append(d)
        if on_each is not None:
            on_each(log)
    return rank(found, {log.name: i for i, log in enumerate(logs)})


def decode_log(name: str, data: bytes, truncated: bool = False) -> LogText:
    """Bytes to text without failing: mostly-binary data is flagged, invalid UTF-8 is replaced."""
    sample = data[:65536]
    binary = bool(sample) and (sample.count(b"\x00") > len(sample) // 100 or
                               sum(b < 9 or 13 < b < 32 for b in sample) > len(sample) // 10)
    text = data.decode("utf-8", errors="replace").replace("\x00", "")
    notes = []
    if binary:
        notes.append("{} looks binary, not a text log; read what text it has".format(name))
    if truncated:
        notes.append("{} is larger than {} MiB; read its first {} MiB".format(
            name, MAX_BYTES_PER_FILE // 2 ** 20, MAX_BYTES_PER_FILE // 2 ** 20))
    return LogText(name=name, text=text, binary=binary, truncated=truncated, notes=notes)


def _read_file(path: Path) -> LogText:
    with open(str(path), "rb") as f:
        data = f.read(MAX_BYTES_PER_FILE + 1)
    truncated = len(data) > MAX_BYTES_PER_FILE
    return decode_log(str(path), data[:MAX_BYTES_PER_FILE], truncated)


def plog_files(directory: Path) -> List[Path]:
    """Log files under a plog directory (plog-<pid>_<time>.log, device-<id>/...), oldest first."""
    files = [p for p in directory.rglob("*") if p.is_file() and not p.name.startswith(".")]

    def when(p: Path) -> Tuple[float, str]:
        try:
            return p.stat().st_mtime, str(p)
        except OSError:
            return 0.0, str(p)

    return sorted(files, key=when)


def read_logs(target: str) -> List[LogText]:
    """The logs behind `target`: '-' for stdin, a file, or a directory read whole (oldest file first).

    Raises OSError for paths that cannot be read; callers turn that into a UserError.
    """
    if target == "-":
        return [decode_log("<stdin>", sys.stdin.buffer.read(MAX_TOTAL_BYTES))]
    path = Path(target).expanduser()
    if path.is_dir():
        logs: List[LogText] = []
        total = 0
        for file in plog_files(path):
            if total >= MAX_TOTAL_BYTES:
                logs[-1].notes.append("stopped reading at {} MiB; later files were skipped".format(
                    MAX_TOTAL_BYTES // 2 ** 20))
                break
            try:
                log = _read_file(file)
            except OSError as exc:
                log = LogText(name=str(file), text="", notes=["cannot read {}: {}".format(file, exc.strerror)])
            total += len(log.text)
            logs.append(log)
        return logs
    return [_read_file(path)]
