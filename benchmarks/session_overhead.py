#!/usr/bin/env python3
"""Session.run vs a bare onnxruntime.InferenceSession.run: same model, same inputs, interleaved rounds.

Prints the median over rounds of (Session time / bare time) for EfficientNet-Lite0 at batch 1 (exported from
the real weights) and for a tiny one-node model where per-call overhead dominates.

    .venv/bin/python benchmarks/session_overhead.py [--rounds 15] [--calls 50] [--json]
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests.runtime.tiny_models: the tiny model builder shared with the tests


def timed(fn, calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls


def measure(path: Path, feed: np.ndarray, rounds: int, calls: int) -> dict:
    import onnxruntime as ort

    from omdeploy.runtime import Session

    bare = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = bare.get_inputs()[0].name
    session = Session(path)
    bare_call = lambda: bare.run(None, {name: feed})  # noqa: E731
    ours_call = lambda: session.run({name: feed})  # noqa: E731
    for fn in (bare_call, ours_call):
        timed(fn, max(3, calls // 5))  # warm-up
    ratios, bare_times, ours_times = [], [], []
    for r in range(rounds):
        order = (bare_call, ours_call) if r % 2 == 0 else (ours_call, bare_call)
        t = {fn: timed(fn, calls) for fn in order}
        bare_times.append(t[bare_call])
        ours_times.append(t[ours_call])
        ratios.append(t[ours_call] / t[bare_call])
    session.close()
    return {"median_ratio": statistics.median(ratios), "bare_ms": statistics.median(bare_times) * 1e3,
            "session_ms": statistics.median(ours_times) * 1e3, "rounds": rounds, "calls_per_round": calls}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    from omdeploy.assets import asset
    from omdeploy.demo import export_efficientnet_lite0
    from tests.runtime.tiny_models import scale_model

    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        effnet = Path(export_efficientnet_lite0(asset("models/efficientnet-lite0.pth"), Path(tmp) / "effnet.onnx").path)
        x = np.random.default_rng(0).standard_normal((1, 3, 224, 224)).astype(np.float32)
        results["efficientnet_lite0_b1"] = measure(effnet, x, args.rounds, max(5, args.calls // 2))
        tiny = scale_model(Path(tmp) / "tiny.onnx")
        results["tiny_mul_1x3x8x8"] = measure(tiny, np.ones((1, 3, 8, 8), np.float32), args.rounds, args.calls * 20)
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print("{:<24} {:>10} {:>12} {:>14}".format("model", "bare ms", "Session ms", "median ratio"))
        for name, r in results.items():
            print("{:<24} {:>10.4f} {:>12.4f} {:>14.3f}".format(name, r["bare_ms"], r["session_ms"], r["median_ratio"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
