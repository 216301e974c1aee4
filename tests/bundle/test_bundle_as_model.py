"""A bundle in place of a model: Session("BUNDLE.tar"), omdeploy run BUNDLE.tar, omdeploy bench BUNDLE.tar."""
from __future__ import annotations

import json

import numpy as np
import pytest

pytestmark = [pytest.mark.needs_onnx, pytest.mark.needs_torch, pytest.mark.needs_assets]


def test_session_on_a_bundle_computes_what_the_spec_computes(demo_bundle, demo_deploy, assets):
    from omdeploy import Session
    from omdeploy.bundle.cache import cache_root
    from omdeploy.tasks.image import load_image
    from omdeploy.tasks.preprocess import fit

    with Session(demo_deploy) as ref, Session(demo_bundle) as bundled:
        assert bundled.backend_name == "onnxruntime" and bundled.spec.task == "classify"
        image, _ = fit(load_image(assets.image("coffee.png")), 224, 224, ref.spec.preprocess)
        np.testing.assert_array_equal(bundled.run([image])["logits"], ref.run([image])["logits"])
    assert str(bundled.path).startswith(str(cache_root() / "bundles"))  # unpacked into the cache
    with Session(demo_bundle, backend="sim") as sim:  # the same bundle, simulated as the NPU runs it
        assert sim.backend_name == "sim"


def _records(path):
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return {r["input"]: r for r in rows if "input" in r}


def test_run_on_a_bundle_gives_the_results_of_the_spec(cli, demo_bundle, demo_deploy, tmp_path):
    photos = demo_deploy.parent / "photos"
    assert cli("run", demo_deploy, photos, "--out", tmp_path / "spec").code == 0
    result = cli("run", demo_bundle, photos, "--out", tmp_path / "bundle")
    assert result.code == 0, result.err
    spec_rows, bundle_rows = _records(tmp_path / "spec" / "results.jsonl"), _records(tmp_path / "bundle" / "results.jsonl")
    assert len(spec_rows) == 4 and spec_rows.keys() == bundle_rows.keys()
    for name, row in spec_rows.items():
        assert bundle_rows[name]["result"] == row["result"], name
    coffee = next(r for n, r in spec_rows.items() if n.endswith("coffee.png"))
    assert coffee["result"]["top"][0]["label"] == "espresso"  # the demo's documented result


def test_bench_on_a_bundle(cli, demo_bundle):
    result = cli("bench", demo_bundle, "--backend", "onnxruntime", "-n", "3", "--warmup", "0", "--json")
    assert result.code == 0, result.err
    assert json.loads(result.out)["results"][0]["ok"] is True
