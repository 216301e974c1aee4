"""pack --wheels: an offline wheelhouse resolved for the box's Python and platform, installed with pip --no-index."""
from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tarfile
import zipfile

import pytest

from omdeploy.bundle.wheels import build_wheelhouse, parse_target
from omdeploy.errors import UserError

pytestmark = [pytest.mark.needs_network]


def test_targets():
    assert parse_target("cp38-aarch64") == ("3.8", "cp38", "aarch64")
    assert parse_target("cp312-x86_64") == ("3.12", "cp312", "x86_64")
    for bad in ("cp37-aarch64", "cp38-arm64", "py38-aarch64", "cp313-x86_64"):
        with pytest.raises(UserError):
            parse_target(bad)


def test_cp38_aarch64_wheelhouse(tmp_path):
    """onnxruntime stopped cp38 at 1.19.2 (tagged manylinux_2_27/2_28 only), numpy at 1.24.4; rich needs
    typing-extensions on Python < 3.11, a marker pip would evaluate for this 3.11 machine."""
    out = tmp_path / "cp38-aarch64"
    build_wheelhouse("cp38-aarch64", out)
    names = sorted(p.name for p in out.glob("*.whl"))
    assert "onnxruntime-1.19.2-cp38-cp38-manylinux_2_27_aarch64.manylinux_2_28_aarch64.whl" in names
    assert any(n.startswith("numpy-1.24.4-cp38-cp38-") and "aarch64" in n for n in names)
    for name in names:  # every binary wheel is for CPython 3.8 (or the stable ABI) on aarch64
        tags = name[:-4].split("-")[-3:]
        assert tags[2] == "any" or ("aarch64" in tags[2] and tags[0] in ("cp38", "cp37", "cp36") and
                                    tags[1] in ("cp38", "abi3")), name
    requirements = (out / "requirements.txt").read_text().splitlines()
    assert "onnxruntime==1.19.2" in requirements and "numpy==1.24.4" in requirements
    assert any(r.startswith("typing-extensions==") for r in requirements)
    assert any(r.startswith("omdeploy==") for r in requirements)
    assert "pip install --no-index --find-links" in (out / "install.sh").read_text()


@pytest.mark.needs_onnx
@pytest.mark.needs_torch
@pytest.mark.needs_assets
def test_a_wheelhouse_installs_offline_and_runs_verify(demo_deploy, tmp_path):
    """This machine's target (cp311-x86_64 on the development machine): pack, install offline, verify."""
    from omdeploy.tools.pack import pack

    target = "cp{}{}-{}".format(sys.version_info[0], sys.version_info[1], platform.machine())
    bundle = tmp_path / "lite0.tar"
    pack(demo_deploy, bundle, images=[demo_deploy.parent / "photos" / "coffee.png"], wheels=[target])
    with tarfile.open(str(bundle)) as tar:
        manifest = json.loads(tar.extractfile("bundle.json").read())
        members = [m for m in tar.getmembers() if m.name.startswith("wheels/")]
        tar.extractall(str(tmp_path / "unpacked"), members=members)
    assert manifest["wheels"] == [target]
    wheelhouse = tmp_path / "unpacked" / "wheels" / target
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "PIP_", "VIRTUAL_ENV"))}
    env["OMDEPLOY_CACHE"] = str(tmp_path / "cache")
    subprocess.run([sys.executable, "-m", "venv", str(tmp_path / "box")], check=True, env=env)
    python = tmp_path / "box" / "bin" / "python"
    installed = subprocess.run(["sh", str(wheelhouse / "install.sh")], env=dict(env, PYTHON=str(python)),
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert installed.returncode == 0, installed.stdout.decode()[-3000:]
    where = subprocess.run([str(python), "-c", "import omdeploy; print(omdeploy.__file__)"], env=env,
                           stdout=subprocess.PIPE, check=True, cwd=str(tmp_path))
    assert str(tmp_path / "box") in where.stdout.decode()  # the installed copy, not the source tree
    verified = subprocess.run([str(tmp_path / "box" / "bin" / "omdeploy"), "verify", str(bundle), "--backend", "sim",
                               "--json"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=str(tmp_path))
    assert verified.returncode == 0, verified.stderr.decode()[-3000:]
    assert json.loads(verified.stdout)["passed"] is True
    with zipfile.ZipFile(str(next(wheelhouse.glob("omdeploy-*.whl")))) as wheel:
        assert "omdeploy/tools/verify.py" in wheel.namelist()
