"""verify on a box with CANN, against the strict fakes: --build runs the plan's atc, the .om runs on pyACL."""
from __future__ import annotations

import json

import pytest

from tests.fakes import fakes_on_path

pytestmark = pytest.mark.needs_onnx


@pytest.fixture
def tiny_bundle(tmp_path):
    """A plan-only bundle of selftest's static tiny model (no torch needed), with random golden inputs."""
    from omdeploy.tools.pack import pack
    from omdeploy.tools.selftest import tiny_models
    from omdeploy.spec import DeploySpec

    folder = tmp_path / "train"
    folder.mkdir()
    tiny = tiny_models(folder, "Ascend310P3", "8.0")[0]
    spec = DeploySpec.from_dict(tiny.spec, base_dir=str(folder)).save(folder / "deploy.yaml")
    out = tmp_path / "tiny.tar"
    pack(spec, out, random=2)
    return out


def _checks(out):
    return {c["name"]: c for c in json.loads(out)["checks"]}


def test_verify_build_on_a_box(cli, tiny_bundle, fake_cann, tmp_path):
    with fakes_on_path():
        result = cli("verify", tiny_bundle, "--backend", "acl", "--build", "--json")
    checks = _checks(result.out)
    assert result.code == 0, json.dumps(checks, indent=1)[:3000]
    assert [n for n in checks] == ["integrity", "environment.packed", "environment.cann", "environment.soc", "build",
                                   "golden.reference", "golden.sim", "bench"]
    assert checks["environment.cann"]["detail"].startswith("CANN 8.0 here (toolkit 8.0.0)")
    assert checks["environment.soc"]["detail"] == "the NPU here is Ascend310P3, as the .om's"
    assert (tmp_path / "atc_args").read_text().count("--soc_version=Ascend310P3") == 1  # the fake atc ran the plan
    # the fake device computes the ONNX in fp32: identical to the golden fp32 outputs
    assert checks["golden.reference"]["data"]["outputs"][0]["metrics"]["max_abs"] == 0.0


def test_verify_on_a_box_without_build_says_the_om_is_missing(cli, tiny_bundle, fake_cann):
    with fakes_on_path():
        result = cli("verify", tiny_bundle, "--backend", "acl", "--json")
    assert result.code == 1
    golden = _checks(result.out)["golden.reference"]
    assert golden["status"] == "fail" and "only the plan" in golden["detail"] and "--build" in golden["fix"]


def test_verify_on_a_box_of_another_chip(cli, tiny_bundle, fake_cann, tmp_path):
    """The field report's npu-smi output with the chip renamed 310B4: the Ascend310P3 .om does not belong here."""
    from tests.bundle.conftest import NPU_SMI

    smi = tmp_path / "pybin" / "npu-smi"
    text = tmp_path / "smi.txt"
    text.write_text(NPU_SMI.read_text().replace("310P3", "310B4"))
    smi.write_text('#!/bin/sh\ncat "{}"\n'.format(text))
    with fakes_on_path():
        result = cli("verify", tiny_bundle, "--backend", "acl", "--build", "--json")
    soc = _checks(result.out)["environment.soc"]
    assert result.code == 1 and soc["status"] == "fail"
    assert "Ascend310P3" in soc["detail"] and "Ascend310B4" in soc["detail"]


def test_pack_takes_only_a_real_om_with_its_sidecar(cli, fake_cann, tmp_path):
    """The fake atc's output is a test manifest, not an offline model: pack --om refuses it (no IMOD header)."""
    from omdeploy.tools.selftest import tiny_models
    from omdeploy.spec import DeploySpec

    folder = tmp_path / "train"
    folder.mkdir()
    tiny = tiny_models(folder, "Ascend310P3", "8.0")[0]
    spec = DeploySpec.from_dict(tiny.spec, base_dir=str(folder)).save(folder / "deploy.yaml")
    assert cli("convert", spec, "-o", folder / "build").code == 0
    om = next((folder / "build").glob("*.om"))
    result = cli("pack", spec, "-o", tmp_path / "b.tar", "--random", "1", "--om", om)
    assert result.code == 2 and "no IMOD header" in result.err
    assert not (tmp_path / "b.tar").exists()


def test_a_model_with_external_data_travels_with_its_weights(tmp_path):
    """An ONNX saved with external data (as models past 2 GB must be): the weights file is staged beside it.
    (The simulator's graph fusion does not load such models yet, so pack's golden step is not run here.)"""
    import onnx

    from omdeploy.tools.pack import _stage_spec
    from omdeploy.tools.selftest import tiny_models
    from omdeploy.runtime.session import Session
    from omdeploy.spec import DeploySpec

    folder = tmp_path / "train"
    folder.mkdir()
    tiny = tiny_models(folder, "Ascend310P3", "8.0")[0]
    onnx.save(onnx.load(str(tiny.onnx)), str(tiny.onnx), save_as_external_data=True, all_tensors_to_one_file=True,
              location="w.bin", size_threshold=0)
    spec = DeploySpec.from_dict(tiny.spec, base_dir=str(folder))
    stage = tmp_path / "stage"
    stage.mkdir()
    staged = _stage_spec(spec, stage)
    assert (stage / "model" / "w.bin").read_bytes() == (folder / "w.bin").read_bytes()
    with Session(staged, backend="onnxruntime") as bundled, Session(spec, backend="onnxruntime") as ref:
        assert (bundled.run(tiny.feed)["y"] == ref.run(tiny.feed)["y"]).all()


def test_an_unwritable_cache_is_a_user_error(cli, tiny_bundle, monkeypatch):
    monkeypatch.setenv("OMDEPLOY_CACHE", "/proc/omdeploy-cache")  # no folder can be made under /proc
    result = cli("verify", tiny_bundle, "--backend", "sim")
    assert result.code == 2 and "OMDEPLOY_CACHE" in result.err and "Traceback" not in result.err
