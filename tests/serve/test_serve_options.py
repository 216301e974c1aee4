"""`omdeploy serve` option checks that need no server: --workers > 1 is refused as a user error (exit 2)."""
from __future__ import annotations


def test_workers_over_1_is_a_user_error(cli, assets):
    done = cli("serve", "m=" + str(assets.model("light_squeezenet.onnx")), "--workers", "2", "--port", "0")
    assert done.code == 2
    lines = done.err.strip().splitlines()
    assert lines[0].startswith("error: --workers 2: omdeploy serve runs one process"), done.err
    assert any(line.startswith("hint:") and "--port" in line for line in lines), done.err
    assert "Traceback" not in done.err
