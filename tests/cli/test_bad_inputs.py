"""Every verb's bad inputs, table-driven: (command, expected exit code, a phrase the message must contain).

Exit codes by the documented contract (docs and cli/main.py): 2 a user error, 1 a failure found, 0 ok.
Each case fails on a traceback, on "internal error", and on an empty file left where an output was asked for.
"""
from __future__ import annotations

from pathlib import Path
from typing import List, Tuple

import pytest

# what a user may wrongly hand over as a model / spec / image, each made by `_bad_file`
BAD_FILES = ("missing", "folder", "empty", "text", "png-as-onnx")
MODEL_VERBS = {  # verb -> args around the model path ({m}), and where an output would land ({o})
    "inspect": ["inspect", "{m}"],
    "check": ["check", "{m}"],
    "sanitize": ["sanitize", "{m}", "-o", "{o}/s.onnx"],
    "spec-init": ["spec", "{m}", "--init", "-o", "{o}/s.yaml"],
    "convert-plan": ["convert", "{m}", "--plan", "--soc", "Ascend310P3", "-o", "{o}"],
    "compare": ["compare", "{m}", "{m}@sim", "--random", "1"],
    "bench": ["bench", "{m}", "-n", "1", "--warmup", "0", "-o", "{o}/b.json"],
    "run": ["run", "{m}", "{img}", "--task", "classify", "-o", "{o}/run"],
}
# phrases a bad model must be reported with, by kind (what is wrong, in the user's words)
PHRASE = {"missing": "does not exist", "folder": "", "empty": "", "text": "", "png-as-onnx": ""}


def _bad_file(kind: str, folder: Path, suffix: str, assets) -> Path:
    path = folder / (kind + suffix)
    if kind == "folder":
        path.mkdir()
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "text":
        path.write_text("this is not a model\n")
    elif kind == "png-as-onnx":
        path.write_bytes(assets.image("coffee.png").read_bytes())
    return path


def _cases() -> List[Tuple[str, List[str], int, str]]:
    cases = []
    for verb, argv in MODEL_VERBS.items():
        for kind in BAD_FILES:
            for suffix in (".onnx", ".yaml"):
                if suffix == ".yaml" and kind == "png-as-onnx":
                    continue
                for as_json in (False, True):
                    extra = ["--json"] if as_json and verb not in ("sanitize",) else []
                    cases.append(("{}/{}{}{}".format(verb, kind, suffix, "/json" if extra else ""),
                                  argv + extra, 2, "model:{}{}".format(kind, suffix)))
    too_many = ["100000"]
    cases += [
        ("run/threads-huge", ["run", "{good}", "{img}", "--task", "classify", "-o", "{o}/r", "--threads"] + too_many,
         2, "--threads"),
        ("run/workers-huge", ["run", "{good}", "{img}", "--task", "classify", "-o", "{o}/r", "--workers", "100000"],
         2, "--workers"),
        ("run/queue-huge", ["run", "{good}", "{img}", "--task", "classify", "-o", "{o}/r", "--queue", "10000000"],
         2, "--queue"),
        ("run/queue-0", ["run", "{good}", "{img}", "--task", "classify", "-o", "{o}/r", "--queue", "0"], 2, "--queue"),
        ("run/stride-0", ["run", "{good}", "{img}", "--task", "classify", "-o", "{o}/r", "--stride", "0"], 2,
         "--stride"),
        ("run/top-k-0", ["run", "{good}", "{img}", "--task", "classify", "-o", "{o}/r", "--top-k", "0"], 2, "--top-k"),
        ("run/conf-2", ["run", "{good}", "{img}", "--task", "detect", "-o", "{o}/r", "--conf", "2"], 2, "--conf"),
        ("run/unknown-task", ["run", "{good}", "{img}", "--task", "clasify", "-o", "{o}/r"], 2, "classify"),
        ("run/no-task", ["run", "{good}", "{img}", "-o", "{o}/r"], 2, "--task"),
        ("run/out-is-file", ["run", "{good}", "{img}", "--task", "classify", "-o", "{img}"], 2, "is a file"),
        ("run/missing-input", ["run", "{good}", "{o}/nope.jpg", "--task", "classify", "-o", "{o}/r"], 2,
         "does not exist"),
        ("run/empty-folder", ["run", "{good}", "{o}/emptydir", "--task", "classify", "-o", "{o}/r"], 2, "no "),
        ("run/rec-without-ocr", ["run", "{good}", "{img}", "--task", "classify", "--rec", "{good}", "-o", "{o}/r"], 2,
         "--task ocr"),
        ("bench/threads-huge", ["bench", "{good}", "--threads", "100000", "-n", "1"], 2, "--threads"),
        ("bench/batch-huge", ["bench", "{good}", "--batch", "100000", "-n", "1"], 2, "--batch"),
        ("bench/batch-0", ["bench", "{good}", "--batch", "0"], 2, "--batch"),
        ("bench/warmup-neg", ["bench", "{good}", "--warmup", "-1"], 2, "--warmup"),
        ("bench/iter-0", ["bench", "{good}", "-n", "0"], 2, "--iterations"),
        ("bench/iter-and-duration", ["bench", "{good}", "-n", "2", "--duration", "1"], 2, "not both"),
        ("bench/duration-inf", ["bench", "{good}", "--duration", "inf"], 2, "--duration inf"),  # would never end
        ("bench/duration-nan", ["bench", "{good}", "-t", "nan"], 2, "error:"),
        ("bench/report-folder", ["bench", "{good}", "-n", "1", "-o", "{o}"], 2, "folder"),
        ("bench/report-over-model", ["bench", "{good}", "-n", "1", "-o", "{good}"], 2, "overwrite"),
        ("bench/unknown-backend", ["bench", "{good}", "-b", "onxruntime", "-n", "1"], 2, "onnxruntime"),
        ("compare/no-target", ["compare", "{good}"], 2, "error:"),
        ("compare/random-neg", ["compare", "{good}", "{good}@sim", "--random", "-1"], 2, "--random"),
        ("compare/bad-threshold", ["compare", "{good}", "{good}@sim", "--random", "1", "--threshold", "cosine=>1"], 2,
         "error:"),
        ("compare/unknown-metric", ["compare", "{good}", "{good}@sim", "--random", "1", "--threshold", "cosin>=0.9"], 2,
         "cosine"),
        ("compare/missing-input", ["compare", "{good}", "{good}@sim", "-i", "{o}/nope.jpg"], 2, "does not exist"),
        ("compare/folder-named-jpg", ["compare", "{good}", "{good}@sim", "-i", "{o}/x.jpg"], 2, "no "),
        ("compare/save-over-model", ["compare", "{good}", "{good}@sim", "--random", "1", "--save", "{good}"], 2,
         "overwrite"),
        ("compare/load-missing", ["compare", "{good}@sim", "--load", "{o}/nope.npz"], 2, "error:"),
        ("compare/bad-shape", ["compare", "{good}", "{good}@sim", "--random", "1", "--shape", "data:1.5,3"], 2,
         "error:"),
        ("sanitize/opset-5", ["sanitize", "{good}", "--opset", "5", "-o", "{o}/s5.onnx"], 2, "opset"),
        ("sanitize/over-input", ["sanitize", "{good}", "-o", "{good}"], 2, "overwrite"),
        ("sanitize/bad-shape", ["sanitize", "{good}", "--shape", "data:abc", "-o", "{o}/s.onnx"], 2, "error:"),
        ("sanitize/huge-dim", ["sanitize", "{good}", "--shape", "data:1,3,48,99999999999999999999", "-o",
                               "{o}/s.onnx"], 2, "at most"),  # was an internal ValueError
        ("sanitize/huge-tensor", ["sanitize", "{good}", "--shape", "data:1,3,48,2000000000", "-o", "{o}/s.onnx"], 2,
         "elements"),  # was an internal "array is too big"
        ("compare/huge-shape", ["compare", "{good}", "{good}@sim", "--random", "1", "--shape", "data:1,3,70000,70000"],
         2, "elements"),
        ("explain/empty", ["explain", ""], 2, "empty"),  # was read as the current folder, exit 0
        ("sanitize/atol-neg", ["sanitize", "{good}", "--atol", "-1", "-o", "{o}/s.onnx"], 2, "error:"),
        ("check/bad-soc", ["check", "{good}", "--soc", "Ascend999"], 2, "Ascend"),
        ("check/bad-cann", ["check", "{good}", "--cann", "banana"], 2, "error:"),
        ("convert/bad-soc", ["convert", "{good}", "--plan", "--soc", "Ascend999", "-o", "{o}/c"], 2, "Ascend"),
        ("convert/bad-output-type", ["convert", "{good}", "--plan", "--soc", "Ascend310P3", "--output-type", "FP64",
                                     "-o", "{o}/c"], 2, "FP32"),
        ("spec/init-over-model", ["spec", "{good}", "--init", "-o", "{good}"], 2, "overwrite"),
        ("spec/bad-shape-spec", ["spec", "{o}/shape_abc.yaml"], 2, "shape"),
        ("aipp/make-no-size", ["aipp", "make"], 2, "error:"),
        ("aipp/make-bad-size", ["aipp", "make", "--model-size", "abc"], 2, "error:"),
        ("aipp/make-bad-feed", ["aipp", "make", "--model-size", "224x224", "--feed", "yuv999"], 2, "nv12"),
        ("aipp/make-bad-color", ["aipp", "make", "--model-size", "224x224", "--model-color", "rgbx"], 2, "rgb"),
        ("aipp/make-out-folder", ["aipp", "make", "--model-size", "224x224", "-o", "{o}"], 2, "folder"),
        ("aipp/check-missing", ["aipp", "check", "{o}/nope.cfg"], 2, "does not exist"),
        ("aipp/check-empty", ["aipp", "check", "{o}/empty.cfg"], 2, "error:"),
        ("aipp/emulate-missing-image", ["aipp", "emulate", "{o}/nope.cfg", "{o}/nope.jpg"], 2, "error:"),
        ("jpeg/missing", ["jpeg", "{o}/nope.jpg"], 2, "does not exist"),
        ("jpeg/empty-folder", ["jpeg", "{o}/emptydir"], 2, "no "),
        ("jpeg/bad-soc", ["jpeg", "{img}", "--soc", "Ascend999"], 2, "Ascend"),
        ("explain/nothing", ["explain"], 2, "error:"),
        ("export/missing-factory", ["export", "nope.module:make", "-o", "{o}/e.onnx", "--input-shape", "1,3,8,8"], 2,
         "error:"),
        ("export/weights-overwritten", ["export", "omdeploy.zoo.efficientnet_lite:EfficientNetLite0", "-w", "{o}/w.pt",
                                        "-o", "{o}/w.pt", "--input-shape", "1,3,224,224"], 2, "overwrite"),
        ("export/bad-shape", ["export", "omdeploy.zoo.efficientnet_lite:EfficientNetLite0", "-o", "{o}/e.onnx",
                              "--input-shape", "1,3,abc"], 2, "error:"),
        ("doctor/save-folder", ["doctor", "--save", "{o}"], 2, "error:"),
    ]
    for verb in ("doctor", "export", "inspect", "check", "sanitize", "spec", "convert", "compare", "run", "bench",
                 "jpeg", "explain", "demo"):
        cases.append(("{}/unknown-option".format(verb), [verb, "--bogus-option"], 2, "--bogus-option"))
    for verb in ("inspect", "check", "sanitize", "convert", "run", "bench", "jpeg", "export"):
        cases.append(("{}/no-args".format(verb), [verb], 2, "error:"))
    return cases


CASES = _cases()


def test_the_table_is_big_enough():
    assert len(CASES) >= 150


@pytest.fixture
def place(tmp_path, assets):
    good = tmp_path / "squeezenet.onnx"
    good.write_bytes(assets.model("light_squeezenet.onnx").read_bytes())
    img = tmp_path / "coffee.png"
    img.write_bytes(assets.image("coffee.png").read_bytes())
    (tmp_path / "emptydir").mkdir()
    (tmp_path / "x.jpg").mkdir()
    (tmp_path / "empty.cfg").write_text("")
    (tmp_path / "w.pt").write_bytes(b"weights the user cares about")
    (tmp_path / "shape_abc.yaml").write_text("model: squeezenet.onnx\ninputs:\n  - name: data\n    shape: abc\n")
    return {"good": str(good), "img": str(img), "o": str(tmp_path)}


@pytest.mark.parametrize("name,argv,code,phrase", CASES, ids=[c[0] for c in CASES])
def test_bad_input(name, argv, code, phrase, cli, place, tmp_path, assets):
    values = dict(place)
    if phrase.startswith("model:"):
        kind, suffix = phrase[len("model:"):].rsplit(".", 1)
        values["m"] = str(_bad_file(kind, tmp_path / "bad", "." + suffix, assets)) if (tmp_path / "bad").mkdir(
            exist_ok=True) is None else ""
        phrase = PHRASE[kind] or "error:"
    before = {p: p.stat().st_size for p in tmp_path.rglob("*") if p.is_file()}
    result = cli(*[a.format(**values) for a in argv])
    text = result.out + result.err
    assert "Traceback" not in text, text
    assert "internal error" not in text, text
    assert result.code == code, (result.code, text)
    assert phrase in text, text
    for p in tmp_path.rglob("*"):
        if p.is_file() and p not in before:
            assert p.stat().st_size > 0 or p.name == ".omdeploy.lock", "empty output {} left".format(p)
        if p in before:  # nothing the user had is replaced by a failed command
            assert p.stat().st_size == before[p], "{} was changed".format(p)
