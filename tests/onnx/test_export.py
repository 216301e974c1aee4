"""export: PyTorch -> ONNX at ATC-friendly settings, verified against torch on random and real inputs."""
from __future__ import annotations

import json
import re
import warnings

import numpy as np
import pytest

from omdeploy.errors import ToolchainError, UserError

pytestmark = [pytest.mark.needs_torch, pytest.mark.needs_onnx]

FACTORY = "omdeploy.zoo.efficientnet_lite:EfficientNetLite0"
ESPRESSO = 967  # ImageNet class index
LITE0_PRE = {"resize": "crop", "short_side": 256, "mean": [127.0], "std": [128.0]}


@pytest.fixture(scope="module")
def lite0(assets):
    from omdeploy.zoo.efficientnet_lite import load_efficientnet_lite0

    return load_efficientnet_lite0(str(assets.model("efficientnet-lite0.pth")))


def _pre():
    from omdeploy.spec import PreprocessSpec

    return PreprocessSpec(**LITE0_PRE)


@pytest.mark.parametrize("opset", [11, 17])
def test_efficientnet_lite0_exports_verifies_and_passes_check(lite0, assets, tmp_path, opset):
    import torch

    from omdeploy.onnx.check import check
    from omdeploy.onnx.export import export
    from omdeploy.onnx.verify import image_feed, run_onnx

    coffee = assets.image("coffee.png")
    result = export(lite0, torch.zeros(1, 3, 224, 224), tmp_path / "lite0.onnx", opset=opset,
                    output_names=["logits"], images=[coffee], preprocess=_pre())
    assert result.opset == opset and result.exporter == "torchscript"
    assert [c.case for c in result.verification.cases] == ["example", "random[0]", "random[1]", "image coffee.png"]
    assert 0 < result.max_abs_error < 1e-4 and result.verification.passed
    assert result.inputs == [{"name": "input", "dtype": "float32", "shape": [1, 3, 224, 224]}]
    assert result.outputs == [{"name": "logits", "dtype": "float32", "shape": [1, 1000]}]  # static, not 'Gemm..._0'
    _, (logits,) = run_onnx(result.path, {"input": image_feed(coffee, (1, 3, 224, 224), _pre())})
    assert int(np.argmax(logits)) == ESPRESSO
    report = check(result.path, soc="Ascend310P3")
    assert report.ok, [f.message for f in report.errors]


def test_cli_export_from_factory_and_weights_then_check(assets, cli, tmp_path):
    out = tmp_path / "lite0.onnx"
    r = cli("export", FACTORY, "--weights", assets.model("efficientnet-lite0.pth"), "-o", out,
            "--output-name", "logits", "--image", assets.image("coffee.png"), "--mean", "127", "--std", "128",
            "--resize", "crop", "--opset", "17")
    assert r.code == 0, r.err
    printed = re.search(r"max abs error ([0-9.e+-]+)", r.out)
    assert "(opset 17, torchscript exporter" in r.out and printed and 0 < float(printed.group(1)) < 1e-4
    assert "image coffee.png" in r.out
    r = cli("check", out, "--soc", "Ascend310P3", "--json")
    assert r.code == 0
    report = json.loads(r.out)
    assert report["ok"] and report["errors"] == 0 and report["opset"] == 17


def small_net():
    import torch

    nn = torch.nn
    return nn.Sequential(nn.Conv2d(3, 8, 3, stride=2), nn.BatchNorm2d(8), nn.ReLU6(), nn.AdaptiveAvgPool2d(1),
                         nn.Flatten(), nn.Linear(8, 4)).eval()


def test_dynamo_export_fails_check_on_cann_6_and_passes_on_7(cli, tmp_path):
    import torch

    from omdeploy.onnx.export import export

    result = export(small_net(), torch.zeros(1, 3, 32, 32), tmp_path / "dynamo.onnx", dynamo=True, cann="7.0",
                    random_cases=1)
    assert result.opset == 18 and result.exporter == "dynamo" and result.max_abs_error < 1e-4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dynamo.onnx"]  # weights inline, no dynamo.onnx.data
    r = cli("check", result.path, "--cann", "6.0", "--json")
    assert r.code == 1
    (finding,) = [f for f in json.loads(r.out)["findings"] if f["rule"] == "opset-range"]
    assert finding["severity"] == "error" and "opset 18" in finding["message"] and "v9-v13" in finding["message"]
    assert "--opset 11" in finding["fix"] and "dynamo=False" in finding["fix"]
    r = cli("check", result.path, "--cann", "7.0")
    assert r.code == 0, r.out


def test_torchscript_file_exports(tmp_path, cli):
    import torch

    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(4 * 6 * 6, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torch >= 2.9 deprecates TorchScript
        scripted = torch.jit.trace(net.eval(), torch.zeros(1, 3, 8, 8))
    path = tmp_path / "net.pt"
    scripted.save(str(path))
    r = cli("export", path, "-o", tmp_path / "net.onnx", "--input-shape", "1,3,8,8")
    assert r.code == 0, r.err
    assert "output │ output │ float32 │ [1, 2]" in r.out and "max abs error" in r.out and "random[1]" in r.out


def test_a_model_onnx_cannot_reproduce_fails_verification(tmp_path):
    import torch

    from omdeploy.onnx.export import export

    class Noisy(torch.nn.Module):
        def forward(self, x):
            return x + torch.randn_like(x)  # a fresh draw per run: torch and onnxruntime cannot agree

    with pytest.raises(ToolchainError, match="differs from torch") as info:
        export(Noisy(), torch.zeros(1, 3, 8, 8), tmp_path / "noisy.onnx")
    assert info.value.diagnosis["passed"] is False


def test_tolerance_is_enforced(lite0, tmp_path):
    import torch

    from omdeploy.onnx.export import export

    with pytest.raises(ToolchainError, match="max abs error"):
        export(lite0, torch.zeros(1, 3, 224, 224), tmp_path / "strict.onnx", atol=0.0, rtol=0.0, random_cases=1)


@pytest.mark.parametrize("kwargs,match", [
    ({"dynamo": True, "cann": "6.0"}, "dynamo exporter writes opset 18"),
    ({"opset": 19, "cann": "8.0"}, "opset 19 is outside"),
    ({"opset": 8}, "opset 8 is outside"),
    ({"opset": 13, "dynamo": True}, "cannot write opset 13"),
])
def test_opset_choice_is_refused_outside_the_cann_range(kwargs, match):
    from omdeploy.onnx.export import choose_opset

    with pytest.raises(UserError, match=match):
        choose_opset(kwargs.get("opset"), kwargs.get("cann", "8.0"), kwargs.get("dynamo", False))


def test_default_opset_is_the_recommended_one():
    from omdeploy.onnx.export import choose_opset

    assert choose_opset(None, "8.0", False) == 11 and choose_opset(None, "7.0", True) == 18


def test_non_pytorch_files_get_a_clear_error(assets, cli, tmp_path):
    from omdeploy.onnx.torchload import load_state_dict

    om = tmp_path / "encodeModel.om"
    om.write_bytes(b"IMOD" + bytes(60))  # only the header ATC writes; enough for the type sniffing under test
    with pytest.raises(UserError, match="Ascend offline model"):
        load_state_dict(om)
    r = cli("export", om, "-o", tmp_path / "x.onnx")
    assert r.code == 2 and "Ascend offline model (.om)" in r.err and "Traceback" not in r.err
    r = cli("export", assets.model("light_resnet50.onnx"), "-o", tmp_path / "x.onnx")
    assert r.code == 2 and "an ONNX model" in r.err
    r = cli("export", assets.model("efficientnet-lite0.pth"), "-o", tmp_path / "x.onnx")
    assert r.code == 2 and "module:factory" in r.err


def test_factory_errors(assets, cli, tmp_path):
    r = cli("export", "omdeploy.zoo.efficientnet_lite:NoSuchNet", "-o", tmp_path / "x.onnx")
    assert r.code == 2 and "no callable 'NoSuchNet'" in r.err
    r = cli("export", FACTORY, "--weights", assets.model("mtcnn_pnet.pt"), "-o", tmp_path / "x.onnx")
    assert r.code == 2 and "does not fit" in r.err


def test_dynamic_axes_only_when_asked_and_check_suggests_batch_gears(tmp_path, cli):
    r = cli("export", "tests.onnx.test_export:small_net", "-o", tmp_path / "dyn.onnx", "--input-shape", "2,3,32,32",
            "--dynamic", "input:0", "--json")
    assert r.code == 0, r.err
    data = json.loads(r.out)
    assert data["inputs"][0]["shape"] == ["input_0", 3, 32, 32]
    assert all(c["passed"] for c in data["verification"]["cases"])
    report = json.loads(cli("check", tmp_path / "dyn.onnx", "--json").out)
    (finding,) = [f for f in report["findings"] if f["rule"] == "dynamic-dims"]
    assert finding["details"]["suggested"]["mode"] == "batch"


@pytest.mark.parametrize("extra, fragment", [
    (("--dynamic", "nosuch:0"), "no input or output named 'nosuch'"),
    (("--dynamic", "input:9"), "axis 9 is outside the axes 0-3"),
    (("--dynamic", "input:-1"), "axis -1 is outside"),  # torch aborts the process on this one
    (("--input-shape", "1,3,32"), "cannot run on the example input(s) [1,3,32]"),
    (("--input-shape", "1,3,32,32", "--input-shape", "1,3,32,32"), "cannot run on the example input(s)"),
    (("--atol", "-1"), "--atol: expected a tolerance >= 0"),
    (("--input-name", "a", "--output-name", "a"), "input and output names must all differ, got 'a'"),
    (("--input-name", ""), "input names: expected non-empty names"),
])
def test_bad_export_options_are_user_errors(cli, tmp_path, extra, fragment):
    args = ("export", "tests.onnx.test_export:small_net", "-o", tmp_path / "x.onnx") + extra
    if "--input-shape" not in extra:
        args += ("--input-shape", "1,3,32,32")
    r = cli(*args)
    assert r.code == 2 and fragment in r.err and "internal error" not in r.err, r.err
    assert len(r.err.strip().splitlines()) <= 2 and "\x1b[" not in r.err
    assert not (tmp_path / "x.onnx").exists()


def test_export_never_overwrites_its_source_or_writes_into_a_folder(cli, tmp_path):
    import torch

    source = tmp_path / "net.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torch >= 2.9 deprecates TorchScript
        torch.jit.save(torch.jit.trace(small_net(), torch.zeros(1, 3, 32, 32)), str(source))
    before = source.read_bytes()
    r = cli("export", source, "-o", source, "--input-shape", "1,3,32,32")
    assert r.code == 2 and "would overwrite the input" in r.err
    assert source.read_bytes() == before
    r = cli("export", source, "-o", tmp_path, "--input-shape", "1,3,32,32")
    assert r.code == 2 and "is a folder" in r.err
    r = cli("export", source, "-o", tmp_path / "y.onnx", "--input-shape", "1,32,32")  # the reason, not the preamble
    assert r.code == 2 and "3-dimensional input" in r.err and "TorchScript interpreter" not in r.err, r.err


def grid_net():
    import torch

    class Grid(torch.nn.Module):
        def forward(self, x):
            return torch.nn.functional.grid_sample(x, torch.zeros(1, 4, 4, 2), align_corners=False)

    return Grid().eval()


def test_a_failed_export_keeps_stdout_clean_for_json(tmp_path, capfd):
    from omdeploy.cli.main import main

    code = main(["export", "tests.onnx.test_export:grid_net", "-o", str(tmp_path / "g.onnx"), "--input-shape",
                 "1,3,8,8", "--opset", "11", "--json"])
    out, err = capfd.readouterr()
    assert code == 1 and "aten::grid_sampler" in err
    assert out == ""  # torch's C++ exporter prints the IR graph of the failure to file descriptor 1


def test_gray_images_get_one_channel_default_statistics(cli, tmp_path, assets):
    r = cli("export", "tests.onnx.test_export:small_net", "-o", tmp_path / "x.onnx", "--input-shape", "1,3,32,32",
            "--image", assets.image("camera.png"), "--color", "gray", "--json")
    assert r.code == 0, r.err
    assert [c["case"] for c in json.loads(r.out)["verification"]["cases"]][-1] == "image camera.png"
