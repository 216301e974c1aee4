"""Start the real server (uvicorn, in a subprocess) on a free loopback port."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, Optional

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, *args: str, env: Optional[Dict[str, str]] = None):
        self.port = free_port()
        self.url = "http://127.0.0.1:{}".format(self.port)
        env = dict(os.environ, PYTHONPATH=str(SRC), **(env or {}))
        self.proc = subprocess.Popen([sys.executable, "-m", "omdeploy.cli.main", "serve", *args, "--port",
                                      str(self.port)], env=env, stderr=subprocess.PIPE)
        import httpx

        deadline = time.time() + 60
        while time.time() < deadline:
            if self.proc.poll() is not None:
                pytest.fail("the server exited: " + self.proc.stderr.read().decode(errors="replace")[-2000:])
            try:
                if httpx.get(self.url + "/v2/health/ready", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.2)
        pytest.fail("the server did not become ready in 60 s")

    def stop(self) -> int:
        self.proc.terminate()
        return self.proc.wait(timeout=30)


@pytest.fixture(scope="module")
def squeeze(assets):
    server = Server("squeeze=" + str(assets.model("light_squeezenet.onnx")), "--api-key", "s3cret",
                    "--max-batch", "1", "--queue", "256", "--max-body-mb", "4")
    yield server
    assert server.stop() in (0, -15)  # uvicorn re-raises SIGTERM after its graceful shutdown
