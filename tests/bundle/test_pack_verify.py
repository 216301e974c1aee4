"""pack + verify on the demo's deployment with real photos: every check, a flipped byte, a mismatched toolkit."""
from __future__ import annotations

import json
import shutil
import tarfile
from pathlib import Path

import numpy as np
import pytest

from omdeploy.bundle.manifest import MANIFEST, is_bundle

pytestmark = [pytest.mark.needs_onnx, pytest.mark.needs_torch, pytest.mark.needs_assets]

CHECKS = ["integrity", "environment.packed", "environment.cann", "environment.soc", "golden.reference",
          "golden.sim", "bench"]


def _checks(out: str):
    return {c["name"]: c for c in json.loads(out)["checks"]}


def test_the_bundle_holds_every_file_with_its_sha256(demo_bundle):
    import hashlib

    assert is_bundle(demo_bundle)
    with tarfile.open(str(demo_bundle)) as tar:
        names = tar.getnames()
        manifest = json.loads(tar.extractfile(MANIFEST).read())
        assert names[0] == MANIFEST
        for row in manifest["files"]:  # a second implementation of the hashing: hashlib over the member
            assert hashlib.sha256(tar.extractfile(row["path"]).read()).hexdigest() == row["sha256"]
    assert sorted(names[1:]) == sorted(r["path"] for r in manifest["files"])
    assert {"deploy.json", "model/efficientnet_lite0.onnx", "labels.txt", "golden/reference.npz", "golden/sim.npz",
            "env/doctor.json"} <= set(names)
    assert manifest["roles"]["script"].startswith("plan/") and manifest["built"] is False
    assert (manifest["soc_version"], manifest["cann_version"]) == ("Ascend310P3", "8.0")


def test_golden_reference_is_the_fp32_model_on_the_photos(demo_bundle, assets):
    """The golden fp32 output for skimage's coffee is ImageNet's 'espresso' (the demo's documented result)."""
    from omdeploy.bundle.cache import unpack
    from omdeploy.tools.compare import load_golden

    unpacked = unpack(demo_bundle)
    golden = load_golden(unpacked.root / "golden" / "reference.npz")
    labels = assets("imagenet_classes.txt").read_text().splitlines()
    coffee = [name for name, _ in golden.samples].index("coffee.png")
    assert labels[int(np.argmax(golden.outputs[coffee]["logits"]))] == "espresso"
    assert golden.samples[coffee][1]["input"].shape == (224, 224, 3)  # resized as the spec says, uint8 HWC
    assert golden.samples[coffee][1]["input"].dtype == np.uint8


def test_demo_bundle_verifies_with_sim(cli, demo_bundle, tmp_path):
    result = cli("verify", demo_bundle, "--backend", "sim", "--report", tmp_path / "report.md", "--json")
    assert result.code == 0, result.out + result.err
    checks = _checks(result.out)
    assert list(checks) == CHECKS
    assert all(checks[n]["status"] == "pass" for n in ("integrity", "environment.packed", "golden.reference",
                                                        "golden.sim", "bench"))
    reference = checks["golden.reference"]["data"]["outputs"][0]["metrics"]
    assert reference["cosine"] >= 0.999 and reference["top1"] == 1.0  # fp16 simulation of Lite0 (demo: 0.99996)
    markdown = (tmp_path / "report.md").read_text()
    assert all("| {} |".format(n) in markdown for n in CHECKS) and "**PASS**" in markdown
    assert json.loads((tmp_path / "report.json").read_text())["passed"] is True


def _flip_member_byte(bundle: Path, member: str, out: Path) -> None:
    shutil.copy(str(bundle), str(out))
    with tarfile.open(str(out)) as tar:
        info = tar.getmember(member)
    with open(out, "r+b") as handle:
        handle.seek(info.offset_data + info.size // 2)
        byte = handle.read(1)
        handle.seek(-1, 1)
        handle.write(bytes([byte[0] ^ 0x01]))


def test_a_flipped_onnx_byte_fails_verify_naming_the_file(cli, demo_bundle, tmp_path):
    broken = tmp_path / "broken.tar"
    _flip_member_byte(demo_bundle, "model/efficientnet_lite0.onnx", broken)
    result = cli("verify", broken, "--backend", "sim", "--json")
    assert result.code == 1
    checks = _checks(result.out)
    assert checks["integrity"]["status"] == "fail"
    assert checks["integrity"]["detail"].startswith("model/efficientnet_lite0.onnx: sha256")
    assert checks["golden"]["status"] == "skip"  # a changed model is not run
    text = cli("verify", broken, "--backend", "sim")
    assert text.code == 1 and "model/efficientnet_lite0.onnx" in text.out and "fix:" in text.out


def test_session_and_run_refuse_a_changed_bundle(cli, demo_bundle, tmp_path):
    from omdeploy import Session, UserError

    broken = tmp_path / "broken.tar"
    _flip_member_byte(demo_bundle, "golden/sim.npz", broken)
    with pytest.raises(UserError, match="golden/sim.npz"):
        Session(broken)
    result = cli("run", broken, tmp_path, "--out", tmp_path / "out")
    assert result.code == 2 and "golden/sim.npz" in result.err


def test_a_snapshot_with_another_toolkit_fails_verify_with_the_mismatch(cli, demo_deploy, tmp_path, monkeypatch):
    from tests.ascend.test_convert import make_toolkit

    make_toolkit(tmp_path / "Ascend", version="7.0.0")  # a CANN install laid out as the real one is
    cli("doctor", "--root", tmp_path / "Ascend", "--save", tmp_path / "train.json")
    assert json.loads((tmp_path / "train.json").read_text())["cann"]["components"][0]["version"] == "7.0.0"
    bundle = tmp_path / "b.tar"
    packed = cli("pack", demo_deploy, "-o", bundle, "--random", "1", "--snapshot", tmp_path / "train.json", "--json")
    assert packed.code == 0, packed.err
    result = cli("verify", bundle, "--backend", "sim", "--json")
    assert result.code == 1
    check = _checks(result.out)["environment.packed"]
    assert check["status"] == "fail" and "CANN 8.0" in check["detail"] and "toolkit 7.0.0" in check["detail"]
    assert "500002" in check["detail"] and check["fix"]


def test_pack_refuses_what_the_spec_rules_refuse(cli, demo_deploy, tmp_path):
    import yaml

    document = yaml.safe_load(demo_deploy.read_text())
    document["inputs"][0]["name"] = "image"  # the model's input is 'input'
    document["model"] = str(demo_deploy.parent / document["model"])
    document["labels"] = None
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text(yaml.safe_dump(document))
    result = cli("pack", wrong, "-o", tmp_path / "b.tar", "--random", "1")
    assert result.code == 2 and "error:" in result.err and "image" in result.err
    assert not (tmp_path / "b.tar").exists()


def test_verify_user_errors(cli, tmp_path):
    not_bundle = tmp_path / "x.tar"
    with tarfile.open(str(not_bundle), "w") as tar:
        tar.add(__file__, arcname="other.txt")
    result = cli("verify", not_bundle)
    assert result.code == 2 and "not a bundle" in result.err and "Traceback" not in result.err
    assert cli("verify", tmp_path / "missing.tar").code == 2
    assert cli("pack", tmp_path / "deploy.yaml", "-o", tmp_path / "b.zip").code == 2
