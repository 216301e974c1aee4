"""NAME:V1,V2,... options (--shape, --range, --dynamic): the name ends at the last colon everywhere, as in ATC's
--input_shape ('in1:1,3,-1,-1', names may contain ':'), and the old spellings keep working."""
from __future__ import annotations

import pytest

from omdeploy.named import parse_named
from omdeploy.errors import UserError
from omdeploy.onnx.sanitize import parse_input_shapes


def test_a_plain_name_as_before():
    assert parse_named(["x:1,3,8,8"], "--shape", "1,3,640,640", int) == {"x": [1, 3, 8, 8]}
    assert parse_named(["x:0,255"], "--range", "LOW,HIGH") == {"x": [0.0, 255.0]}


def test_a_name_with_colons_ends_at_the_last_one():
    """A TensorFlow export names its input 'input:0'; sanitize's parser already read it so."""
    text = "input:0:1,3,8,8"
    assert parse_named([text], "--shape", "1,3,640,640", int) == {"input:0": [1, 3, 8, 8]}
    assert parse_named([text], "--shape", "1,3,640,640", int) == parse_input_shapes([text])


@pytest.mark.parametrize("text", [":1,3", "x", "x:", "x:1,a"])
def test_malformed_values_are_refused(text):
    with pytest.raises(UserError, match="expected NAME:"):
        parse_named([text], "--shape", "1,3,640,640", int)


def test_export_dynamic_axes_take_the_same_split():
    from omdeploy.cli.export import _dynamic_axes

    assert _dynamic_axes(["images:0,2,3"]) == {"images": {0: "images_0", 2: "images_2", 3: "images_3"}}
    assert _dynamic_axes(["input:0:0"]) == {"input:0": {0: "input:0_0"}}
    with pytest.raises(UserError, match="--dynamic: expected NAME:AXIS"):
        _dynamic_axes([":0"])


def test_atc_input_shape_and_sanitize_split_as_the_one_parser():
    """ATC's own --input_shape entries (names hold ':' in TensorFlow exports) and sanitize's --input-shape go
    through omdeploy.named too: the same text, the same name."""
    from omdeploy.ascend.atc import _parse_input_shape

    assert _parse_input_shape("input:0:1,3,-1,-1;mask:") == [("input:0", ["1", "3", "-1", "-1"]), ("mask", [])]
    with pytest.raises(UserError, match="at least 1"):
        parse_input_shapes(["x:1,0,8,8"])


def test_user_text_is_printed_as_typed_never_as_an_emoji(cli):
    """rich turns ':smile:' into an emoji unless told not to; ONNX names hold colons ('in:0', 'a:fire:b')."""
    r = cli("explain", "x:smile:y")
    assert r.code == 2 and "'x:smile:y'" in r.err


def test_a_bare_rule_id_is_the_rule_even_beside_a_file_of_that_name(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "opset-range").write_text("not a log\n")
    r = cli("explain", "opset-range", "--json")
    assert r.code == 0 and '"checker": "check"' in r.out
    r = cli("explain", "./opset-range", "--json")  # the path spelling reads the file
    assert r.code == 0 and '"diagnoses"' in r.out
