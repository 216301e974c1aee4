"""The core must import with numpy alone: it has to install on an offline edge box."""
from __future__ import annotations

import subprocess
import sys

BLOCK_OPTIONAL = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in {'onnx', 'onnxruntime', 'openvino', 'torch', 'yaml', 'PIL', 'cv2', 'typer', 'rich'}:
            raise ImportError('blocked ' + name)
sys.meta_path.insert(0, Block())
"""


def run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", BLOCK_OPTIONAL + code], capture_output=True, text=True)


def test_core_modules_import_with_numpy_only():
    r = run("import omdeploy, omdeploy.spec, omdeploy.images, omdeploy.runtime, omdeploy.runtime.session, "
            "omdeploy.errors\n"
            "from omdeploy import Session, DeploySpec\n"
            "print('ok')")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "ok"


def test_missing_extra_is_named_in_one_line():
    r = run("from omdeploy.runtime import Session\n"
            "from omdeploy.errors import MissingDependencyError\n"
            "import pathlib, tempfile\n"
            "p = pathlib.Path(tempfile.mkdtemp()) / 'm.onnx'; p.write_bytes(b'x')\n"
            "try:\n    Session(p)\nexcept MissingDependencyError as e:\n    print(e, '|', e.hint)\n")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "'onnxruntime' (needed for running ONNX models) is not installed | pip install 'omdeploy[onnx]'"


def test_cli_without_typer_says_which_extra():
    r = run("from omdeploy.cli.main import main\nraise SystemExit(main(['--help']))")
    assert r.returncode == 2
    assert "pip install 'omdeploy[cli]'" in r.stderr
