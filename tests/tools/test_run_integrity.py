"""Nothing produced is lost, duplicated or silently wrong: concurrent runs, resume identity, a full disk,
high-bit-depth photos and GIFs in a folder."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[2]


def _omdeploy(*args, **kwargs):
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    return subprocess.Popen([sys.executable, "-m", "omdeploy.cli.main"] + [str(a) for a in args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


def _photos(assets, folder: Path, copies: int) -> Path:
    folder.mkdir()
    for k in range(copies):
        for name in ("coffee.png", "chelsea.png", "astronaut.png"):
            shutil.copy(assets.image(name), folder / "{}_{}".format(k, name))
    return folder


def test_two_concurrent_runs_on_one_out_never_duplicate_a_line(assets, tmp_path):
    photos = _photos(assets, tmp_path / "in", 8)
    model = assets.model("light_squeezenet.onnx")
    out = tmp_path / "out"
    procs = [_omdeploy("run", model, photos, "--task", "classify", "-o", out, "--resume", "--json") for _ in range(2)]
    results = [p.communicate(timeout=300) + (p.returncode,) for p in procs]
    codes = sorted(r[2] for r in results)
    lines = [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]
    keys = [line["input"] for line in lines]
    assert len(keys) == len(set(keys)) == 24, codes
    assert all(line["ok"] for line in lines)
    if codes != [0, 0]:  # the second one ran into the lock: refused, saying so
        assert codes == [0, 2], results
        assert "another omdeploy run is writing" in "".join(r[1] for r in results)


def test_resume_with_another_model_is_refused(assets, tmp_path, cli):
    photos = _photos(assets, tmp_path / "in", 1)
    out = tmp_path / "out"
    first = cli("run", assets.model("light_squeezenet.onnx"), photos, "--task", "classify", "-o", out)
    assert first.code == 0, first.err
    before = (out / "results.jsonl").read_bytes()
    other = cli("run", assets.model("light_shufflenet.onnx"), photos, "--task", "classify", "-o", out, "--resume")
    assert other.code == 2
    assert "another model" in other.err and "--resume" in other.err
    assert (out / "results.jsonl").read_bytes() == before
    again = cli("run", assets.model("light_squeezenet.onnx"), photos, "--task", "classify", "-o", out, "--resume")
    assert again.code == 0 and (out / "results.jsonl").read_bytes() == before


def test_resume_with_another_spec_is_refused(assets, tmp_path, cli):
    photos = _photos(assets, tmp_path / "in", 1)
    model = tmp_path / "m.onnx"
    shutil.copy(assets.model("light_squeezenet.onnx"), model)
    spec = tmp_path / "deploy.yaml"
    assert cli("spec", model, "--init", "-o", spec).code == 0
    out = tmp_path / "out"
    assert cli("run", spec, photos, "--task", "classify", "-o", out).code == 0
    spec.write_text(spec.read_text() + "\n# edited\n")
    refused = cli("run", spec, photos, "--task", "classify", "-o", out, "--resume")
    assert refused.code == 2 and "another spec" in refused.err


def test_own_outputs_are_not_inputs(assets, tmp_path, cli):
    photos = _photos(assets, tmp_path / "in", 1)
    out = photos / "out"
    model = assets.model("light_squeezenet.onnx")
    for _ in range(2):
        result = cli("run", model, photos, "--task", "classify", "-o", out, "--annotate", "--json")
        assert result.code == 0, result.err
        assert json.loads(result.out)["summary"]["inputs"] == 3


def test_a_16bit_png_and_its_8bit_version_classify_the_same(assets, tmp_path, cli):
    cv2 = pytest.importorskip("cv2")
    folder = tmp_path / "in"
    folder.mkdir()
    rgb = np.asarray(Image.open(assets.image("coffee.png")).convert("RGB"))
    cv2.imwrite(str(folder / "c8.png"), rgb[..., ::-1])
    cv2.imwrite(str(folder / "c16.png"), rgb[..., ::-1].astype(np.uint16) * 257)
    result = cli("run", assets.model("light_squeezenet.onnx"), folder, "--task", "classify", "-o", tmp_path / "o",
                 "--json")
    assert result.code == 0, result.err
    lines = {Path(x["input"]).name: x["result"] for x in map(json.loads,
                                                              (tmp_path / "o/results.jsonl").read_text().splitlines())}
    assert lines["c8.png"] == lines["c16.png"]


def test_a_gif_in_a_folder_is_run(assets, tmp_path, cli):
    folder = tmp_path / "in"
    folder.mkdir()
    Image.open(assets.image("coffee.png")).convert("RGB").save(folder / "anim.gif", save_all=True,
                                                              append_images=[Image.new("RGB", (8, 8))])
    (folder / "notes.txt").write_text("not an image")
    result = cli("run", assets.model("light_squeezenet.onnx"), folder, "--task", "classify", "-o", tmp_path / "o")
    assert result.code == 0, result.err
    lines = (tmp_path / "o/results.jsonl").read_text().splitlines()
    assert [Path(json.loads(x)["input"]).name for x in lines] == ["anim.gif"]
    assert "skipped 1 file" in result.err  # notes.txt is reported, not skipped silently
    assert "2 frames" in result.err


# ---- a full disk -------------------------------------------------------------------------------------

@pytest.fixture
def full_disk(tmp_path):
    """A 64 KiB tmpfs, filled up but for a few bytes. Needs root; under CI it must run, so no root fails."""
    if os.geteuid() != 0:
        if os.environ.get("CI"):
            pytest.fail("the full-disk test needs root (mount -t tmpfs) under CI")
        pytest.skip("needs root to mount a tmpfs")
    mount = tmp_path / "tiny"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)], check=True)
    try:
        f = open(mount / "filler", "wb", buffering=0)
        try:
            while True:
                f.write(b"\0" * 512)
        except OSError:
            pass
        finally:
            f.close()
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=False)


FULL_DISK_VERBS = [
    ["sanitize", "{m}", "-o", "{d}/s.onnx", "--no-simplify"],
    ["spec", "{m}", "--init", "-o", "{d}/s.yaml"],
    ["convert", "{m}", "--plan", "--soc", "Ascend310P3", "-o", "{d}/plan"],
    ["compare", "{m}", "{m}@sim", "--random", "1", "--save", "{d}/g.npz"],
    ["bench", "{m}", "-n", "1", "--warmup", "0", "-o", "{d}/b.json"],
    ["aipp", "make", "--model-size", "224x224", "--mean", "0", "--std", "255", "-o", "{d}/a.cfg"],
    ["run", "{m}", "{img}", "--task", "classify", "-o", "{d}/run"],
]


def test_a_full_disk_leaves_no_empty_file_in_any_verb(full_disk, assets, cli):
    values = {"m": str(assets.model("light_squeezenet.onnx")), "img": str(assets.image("coffee.png")),
              "d": str(full_disk)}
    for argv in FULL_DISK_VERBS:
        result = cli(*[a.format(**values) for a in argv])
        text = result.out + result.err
        assert "internal error" not in text and "Traceback" not in text, (argv, text)
        assert result.code == 2, (argv, result.code, text)
        assert "no space left" in text, (argv, text)
        left = [p for p in full_disk.rglob("*") if p.is_file() and p.name != "filler"]
        assert all(p.stat().st_size > 0 for p in left if p.name != ".omdeploy.lock"), (argv, left)
        assert not [p for p in left if p.name.endswith(".tmp")], (argv, left)
