"""A strict test double of ATC (tests only; never shipped): checks its argv with omdeploy's own ATC parser and
rules (ascend/atc.py), then "builds" by writing the test manifest of tests/fakes/fake_om.py, which only the fake
`acl` and `mindx` load (it is not an offline model). Run through the `atc` wrapper written by make_toolkit().

Exit codes and log lines follow ATC's: 0 and "ATC run success" when built; 1 and an E10001-style line for a
wrong option. It records its argv in $FAKE_ATC_ARGS when set.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

FAKES = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(FAKES.parents[1] / "src"))
sys.path.insert(0, str(FAKES))

from fake_om import write_manifest  # noqa: E402
from omdeploy.ascend.atc import option_problems, parse_atc  # noqa: E402
from omdeploy.errors import UserError  # noqa: E402


def fail(message: str) -> int:
    print("E10001: {}".format(message))
    print("ATC run failed, Please check the detail log, Try 'atc --help' for more information")
    return 1


def _shapes(text: str):
    shapes = {}
    for part in filter(None, text.split(";")):
        name, _, dims = part.rpartition(":")
        shapes[name] = [int(d) for d in dims.split(",")]
    return shapes


def main(argv) -> int:
    if os.environ.get("FAKE_ATC_ARGS"):
        Path(os.environ["FAKE_ATC_ARGS"]).write_text("\n".join(argv) + "\n")
    print("ATC start working now, please wait for a moment.")
    try:
        opts = parse_atc(argv)
    except UserError as exc:
        return fail(exc.message)
    problems = option_problems(opts)
    if problems:
        return fail("; ".join(problems))
    model = Path(opts["model"])
    if opts.get("framework") != "5" or not model.is_file():
        return fail("--model {} must be an existing ONNX file with --framework=5".format(model))
    dynamic = None
    if opts.get("dynamic_batch_size"):
        dynamic = {"mode": "batch", "gears": [int(b) for b in opts["dynamic_batch_size"].split(",")]}
    elif opts.get("dynamic_image_size"):
        dynamic = {"mode": "image_size", "gears": [[int(v) for v in g.split(",")]
                                                    for g in opts["dynamic_image_size"].split(";")]}
    output_type = opts.get("output_type", "FP32")
    aipp = None
    if opts.get("insert_op_conf"):
        from omdeploy.ascend.aipp import read_aipp_file

        configs = read_aipp_file(opts["insert_op_conf"])
        aipp = {"file": str(Path(opts["insert_op_conf"]).resolve()), "inputs": len(configs)}
    write_manifest(opts["output"] + ".om", model,
                   fp16_inputs=[n for n in opts.get("input_fp16_nodes", "").split(";") if n],
                   output_dtype="float16" if output_type == "FP16" else "float32", dynamic=dynamic,
                   input_shape=_shapes(opts.get("input_shape", "")), aipp=aipp)
    print("ATC run success, welcome to the next use.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
