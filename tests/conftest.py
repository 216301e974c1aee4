"""Shared fixtures. Real assets come from scripts/fetch_assets.py; a missing one fails the test, never skips it."""
from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

import pytest

from omdeploy.assets import FETCH_HINT, assets_dir

REPO = Path(__file__).resolve().parents[1]


class AssetDir:
    def __init__(self, root: Path):
        self.root = root

    def __call__(self, relative: str) -> Path:
        path = self.root / relative
        if not path.exists():
            pytest.fail("asset {} is missing from {}: {}".format(relative, self.root, FETCH_HINT), pytrace=False)
        return path

    def model(self, name: str) -> Path:
        return self("models/" + name)

    def image(self, name: str) -> Path:
        return self("images/" + name)


@pytest.fixture(scope="session")
def assets() -> AssetDir:
    """assets.model('ppocrv4_det.onnx'), assets.image('coffee.png'), assets('imagenet_classes.txt')."""
    root = assets_dir(os.environ.get("OMDEPLOY_ASSETS") or (REPO / ".assets"))
    return AssetDir(root)


class CliResult(NamedTuple):
    code: int
    out: str
    err: str


@pytest.fixture
def cli(capsys):
    """Run the omdeploy command in-process: cli("inspect", "m.onnx", "--json") -> CliResult(code, out, err)."""
    from omdeploy.cli.main import main

    def run(*args: str) -> CliResult:
        capsys.readouterr()
        code = main([str(a) for a in args])
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


@pytest.fixture(scope="session")
def efficientnet_onnx(assets, tmp_path_factory) -> Path:
    """EfficientNet-Lite0 exported once per test session from the real PyTorch weights (needs torch)."""
    from omdeploy.demo import export_efficientnet_lite0

    out = tmp_path_factory.mktemp("effnet") / "efficientnet_lite0.onnx"
    return Path(export_efficientnet_lite0(assets.model("efficientnet-lite0.pth"), out).path)


def pytest_sessionfinish(session, exitstatus):
    """Under CI a skipped test is a failure: every asset and extra must have been installed by the set-up."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = len(reporter.stats.get("skipped", [])) if reporter else 0
    if os.environ.get("CI") and skipped and exitstatus == 0:
        reporter.write_line("CI: {} test(s) skipped; under CI a skip is a failure".format(skipped), red=True)
        session.exitstatus = 1
