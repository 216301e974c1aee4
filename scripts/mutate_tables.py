#!/usr/bin/env python3
"""Prove that the data tables are tested against evidence from outside them: change one row of each table in a
copy of src/, run the tests that cover it on that copy, and report which test fails. A mutation that leaves
every test green means some test takes its expected value from the row it checks.

    .venv/bin/python scripts/mutate_tables.py            # every mutation; exit 1 when one survives
    .venv/bin/python scripts/mutate_tables.py --list     # the mutations only
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Callable, List, NamedTuple

ROOT = Path(__file__).resolve().parent.parent


class Mutation(NamedTuple):
    table: str        # file under src/omdeploy
    what: str         # the change
    edit: Callable[[str], str]
    tests: List[str]  # the test files (or node ids) that must catch it


def _json(change: Callable[[dict], None]) -> Callable[[str], str]:
    def edit(text: str) -> str:
        data = json.loads(text)
        change(data)
        return json.dumps(data, indent=1)
    return edit


def _replace(old: str, new: str) -> Callable[[str], str]:
    def edit(text: str) -> str:
        if old not in text:
            raise SystemExit("mutate_tables: {!r} is no longer in the table; update the mutation".format(old))
        return text.replace(old, new, 1)
    return edit


def _row(rows: list, key: str, value: str) -> dict:
    return next(r for r in rows if r[key] == value)


MUTATIONS = [
    Mutation("data/chips.json", "310P3 memory 21527 -> 21534 MB",
             _json(lambda d: d["memory_mb"]["Ascend310P3"].update(mb=21534)), ["tests/test_chips.py"]),
    Mutation("data/chips.json", "a memory row for a chip with no npu-smi evidence",
             _json(lambda d: d["memory_mb"].update(Ascend310B1={"mb": 8192, "source": "x"})), ["tests/test_chips.py"]),
    Mutation("data/chips.json", "default soc Ascend310P3 -> Ascend310P1",
             _json(lambda d: d.update(default_soc="Ascend310P1")), ["tests/test_chips.py"]),
    Mutation("data/chips.json", "a bogus valid soc_version Ascend310P9",
             _json(lambda d: d["soc_versions"]["valid"].append("Ascend310P9")), ["tests/test_chips.py"]),
    Mutation("data/chips.json", "Ascend910 no longer legacy",
             _json(lambda d: d["soc_versions"].update(legacy={})), ["tests/test_chips.py"]),
    Mutation("data/chips.json", "310P takes true dynamic shape -> refused too",
             _json(lambda d: d["no_dynamic_shape"].update(pattern="^Ascend310(B\\d|P\\d)?$")), ["tests/test_chips.py"]),
    Mutation("data/chips.json", "JPEGD limit of 310B 16384 -> 8192",
             _json(lambda d: d["jpegd_max_side"]["by_prefix"].update(Ascend310B=8192)),
             ["tests/test_chips.py", "tests/ascend/test_jpeg.py"]),
    Mutation("data/chips.json", "310P supports inf_nan overflow mode",
             _json(lambda d: d["overflow_modes"]["rows"][2].__setitem__(2, ["inf_nan", "saturation"])),
             ["tests/test_chips.py"]),
    Mutation("data/environment.json", "set_env row ASCEND_OPP_PATH {home}/opp -> {home}/opp2",
             _json(lambda d: _row(d["set_env"], "expect", "{home}/opp").update(expect="{home}/opp2")),
             ["tests/ascend/test_setenv.py"]),
    Mutation("data/environment.json", "a bogus set_env row (PATH += {home}/extra)",
             _json(lambda d: d["set_env"].append({"vars": ["PATH"], "expect": "{home}/extra", "how": "contains"})),
             ["tests/ascend/test_setenv.py"]),
    Mutation("data/environment.json", "set_env.sh order: ascend-toolkit before cann",
             _json(lambda d: d["install_layout"].update(toolkit_scripts=["ascend-toolkit/set_env.sh",
                                                                          "cann/set_env.sh"])),
             ["tests/ascend/test_setenv.py"]),
    Mutation("data/environment.json", "install root ~/Ascend -> ~/ascend",
             _json(lambda d: d["install_layout"].update(roots=["/usr/local/Ascend", "~/ascend"])),
             ["tests/ascend/test_setenv.py"]),
    Mutation("data/environment.json", "decorator min 4.4.0 -> 5.0.0",
             _json(lambda d: _row(d["atc_python"], "dist", "decorator").update(min="5.0.0")),
             ["tests/ascend/test_doctor.py::test_the_atc_python_table_is_the_install_guides"]),
    Mutation("data/atc_onnx_support.json", "CANN 8 accepts opsets up to 19",
             _json(lambda d: _row(d["cann_opsets"], "cann", "8").update(accepted=[9, 19])),
             ["tests/onnx/test_check.py::test_the_opset_table_is_the_cited_one"]),
    Mutation("data/atc_onnx_support.json", "known-op NonZero warning -> error",
             _json(lambda d: _row(d["operators"], "op", "NonZero").update(severity="error")),
             ["tests/onnx/test_check.py::test_the_known_op_table_is_the_cited_one"]),
    Mutation("ascend/atc.py", "a bogus exclusion (input_shape x input_format)",
             _replace('EXCLUSIVE: Tuple[Tuple[str, str, str], ...] = (\n',
                      'EXCLUSIVE: Tuple[Tuple[str, str, str], ...] = (\n    ("input_shape", "input_format", "x"),\n'),
             ["tests/ascend/test_atc.py"]),
    Mutation("ascend/atc.py", "a bogus requirement (input_fp16_nodes needs out_nodes)",
             _replace('REQUIRES: Tuple[Tuple[str, str, str], ...] = (\n',
                      'REQUIRES: Tuple[Tuple[str, str, str], ...] = (\n    ("input_fp16_nodes", "out_nodes", "x"),\n'),
             ["tests/ascend/test_atc.py"]),
    Mutation("ascend/atc.py", "a bogus --log value",
             _replace('"log": ("debug", "info", "warning", "error", "null"),',
                      '"log": ("debug", "info", "warning", "error", "null", "verbose"),'),
             ["tests/ascend/test_atc.py"]),
    Mutation("ascend/jpeg_rules.py", "progressive (SOF2) decodable",
             _replace('0xC2: ("progressive (Huffman)", False),', '0xC2: ("progressive (Huffman)", True),'),
             ["tests/ascend/test_jpeg.py"]),
    Mutation("ascend/jpeg_rules.py", "4:1:1 decodable",
             _replace('(4, 1): ("4:1:1", False),', '(4, 1): ("4:1:1", True),'), ["tests/ascend/test_jpeg.py"]),
    Mutation("ascend/doctor_rules.py", "a bogus rule nothing reports (npu.bogus)",
             _replace('    ("npu.smi", "warning", "npu-smi info runs"),\n',
                      '    ("npu.smi", "warning", "npu-smi info runs"),\n    ("npu.bogus", "warning", "x"),\n'),
             ["tests/test_findings.py"]),
    Mutation("ascend/doctor_rules.py", "a reported rule dropped (npu.smi)",
             _replace('    ("npu.smi", "warning", "npu-smi info runs"),\n', ""), ["tests/test_findings.py"]),
    Mutation("ascend/precision.py", "allow_fp32_to_fp16 writes fp32 (cube, False)",
             _replace('"allow_fp32_to_fp16": ("cube", True),', '"allow_fp32_to_fp16": ("cube", False),'),
             ["tests/runtime/test_sim.py::test_precision_mode_decides_where_float16_overflows"]),
    Mutation("ascend/precision.py", "a bogus Cube op (Add)",
             _replace('CUBE_OPS = ("Conv", "ConvTranspose", "MatMul", "Gemm")',
                      'CUBE_OPS = ("Conv", "ConvTranspose", "MatMul", "Gemm", "Add")'),
             ["tests/runtime/test_sim.py::test_op_classes_are_the_cited_ones"]),
]


def run(mutation: Mutation, python: str) -> str:
    """The first failing test of the mutated copy, or '' when every test still passes."""
    with tempfile.TemporaryDirectory(prefix="omdeploy-mutant-") as tmp:
        src = Path(tmp) / "src"
        shutil.copytree(ROOT / "src", src, ignore=shutil.ignore_patterns("__pycache__"))
        target = src / "omdeploy" / mutation.table
        target.write_text(mutation.edit(target.read_text(encoding="utf-8")), encoding="utf-8")
        env = dict(os.environ, PYTHONPATH=str(src), PYTHONDONTWRITEBYTECODE="1")
        proc = subprocess.run([python, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "-rf"] + mutation.tests,
                              cwd=str(ROOT), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              universal_newlines=True)
        if proc.returncode == 0:
            return ""
        failed = re.findall(r"^(?:FAILED|ERROR) (\S+)", proc.stdout, re.M)
        return failed[0] if failed else "(pytest exit {})".format(proc.returncode)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--list", action="store_true", help="print the mutations and exit")
    parser.add_argument("--python", default=sys.executable)
    args = parser.parse_args()
    survived = 0
    print("| table | mutation | first failing test |\n|---|---|---|")
    for m in MUTATIONS:
        caught = "-" if args.list else run(m, args.python)
        if not args.list and not caught:
            survived += 1
            caught = "SURVIVED (no test failed)"
        print("| {} | {} | {} |".format(m.table, m.what, caught), flush=True)
    return 1 if survived else 0


if __name__ == "__main__":
    sys.exit(main())
