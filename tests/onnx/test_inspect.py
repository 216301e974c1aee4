from __future__ import annotations

import pytest

from omdeploy.errors import UserError
from omdeploy.onnx.inspect import summarize

pytestmark = [pytest.mark.needs_onnx, pytest.mark.needs_assets]


def test_ppocr_det_has_dynamic_h_w_and_opset_12(assets):
    s = summarize(assets.model("ppocrv4_det.onnx"))
    assert s.opsets["ai.onnx"] == 12
    assert [t.name for t in s.inputs] == ["x"]
    dyn = {(d["input"], d["axis"]) for d in s.dynamic_dims}
    assert {("x", 2), ("x", 3)} <= dyn
    assert s.inputs[0].shape[1] == 3
    assert s.parameter_count > 1_000_000


def test_light_resnet50_opset_9_and_histogram(assets):
    s = summarize(assets.model("light_resnet50.onnx"))
    assert s.opsets == {"ai.onnx": 9}
    assert s.operators["Conv"] == 53
    assert s.operators["Relu"] == 49
    assert s.operators["Sum"] == 16
    counts = list(s.operators.values())
    assert counts == sorted(counts, reverse=True)  # most frequent first
    assert s.node_count == sum(s.operators.values())
    assert s.dynamic_dims == []


def test_metadata_props_are_reported(assets):
    s = summarize(assets.model("ppocrv4_rec.onnx"))
    assert len(s.metadata["character"]) > 6000
    clipped = s.to_dict(metadata_chars=50)["metadata"]["character"]
    assert clipped.endswith("chars)") and len(clipped) < 80


def test_non_onnx_files_get_one_line_errors(tmp_path, assets):
    om = tmp_path / "model.om"
    om.write_bytes(b"IMOD" + b"\0" * 60)
    with pytest.raises(UserError, match="Ascend offline model"):
        summarize(om)
    with pytest.raises(UserError, match="PyTorch checkpoint"):
        summarize(assets.model("efficientnet-lite0.pth"))
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\xff\xfe garbage")
    with pytest.raises(UserError, match="cannot be read as ONNX"):
        summarize(junk)
    with pytest.raises(UserError, match="does not exist"):
        summarize(tmp_path / "none.onnx")


def test_empty_and_graphless_files_are_not_models(tmp_path, cli):
    empty = tmp_path / "empty.onnx"
    empty.write_bytes(b"")
    with pytest.raises(UserError, match="is empty"):
        summarize(empty)
    parses = tmp_path / "text.onnx"
    parses.write_bytes(b"\x08\x07")  # a valid protobuf message (ir_version=7) with no graph
    with pytest.raises(UserError, match="not an ONNX model"):
        summarize(parses)
    for verb in (("inspect",), ("check",), ("spec", "--init")):
        r = cli(*verb, empty)
        assert r.code == 2 and r.err.startswith("error: {} is empty".format(empty)), (verb, r.err)


def test_a_text_file_named_om_is_not_called_an_offline_model(tmp_path, cli):
    fake = tmp_path / "model.om"
    fake.write_text("hello, not a model\n")
    r = cli("inspect", fake)
    assert r.code == 2 and "is named .om, not ONNX, and has no Ascend offline-model header" in r.err
    assert "is an Ascend offline model" not in r.err
