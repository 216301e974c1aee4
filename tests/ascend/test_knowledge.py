"""The error knowledge base: every code row, every log-pattern row, and every error of the seed."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from omdeploy.ascend import knowledge
from omdeploy.ascend.knowledge import describe_code, diagnose_log, diagnose_logs, read_logs

LOGS = Path(__file__).resolve().parents[1] / "fixtures" / "logs"
CODE_ROWS = json.loads((knowledge.DATA / "acl_codes.json").read_text(encoding="utf-8"))["codes"]
PATTERN_ROWS = json.loads((knowledge.DATA / "log_patterns.json").read_text(encoding="utf-8"))["patterns"]
REFERENCE_CODES = [0, 100000, 100001, 100002, 100012, 100013, 100017, 100019, 100039, 148049, 148052, 200000,
                   300000, 500000, 500001, 500002, 500004, 107000, 107002, 207000, 207001, 207018, 507000, 507008,
                   507011, 507015, 507033, 507046, 507899, 507901, 145000, 145003, 145013, 145019, 245000, 545000,
                   545008, 545601, 161001, 361001]


# ---------------------------------------------------------------------------------------------- code table
@pytest.mark.parametrize("row", CODE_ROWS, ids=[str(r["code"]) for r in CODE_ROWS])
def test_every_code_row_describes_itself(row):
    code = describe_code(row["code"])
    assert code is not None and code.code == row["code"]
    assert re.match(r"^(ACL_SUCCESS|ACL_ERROR_[A-Z0-9_]+|ACLNN_ERR_[A-Z_]+)$", code.name)
    assert code.meaning.strip()
    if row["code"]:
        assert code.causes and code.fixes, "a nonzero code gets causes and fixes (its own or its class's)"
        assert str(row["code"])[0] in "1235"


def test_codes_are_unique_and_cover_the_reference_table():
    codes = [r["code"] for r in CODE_ROWS]
    assert len(codes) == len(set(codes))
    assert set(REFERENCE_CODES) <= set(codes)
    names = [r["name"] for r in CODE_ROWS]
    assert len(names) == len(set(names))


def test_507011_and_207001_carry_the_seed_causes():
    execute = describe_code(507011)
    assert execute.name == "ACL_ERROR_RT_MODEL_EXECUTE"
    assert "execution failed" in execute.meaning
    assert any("kernels" in c and "nnrt" in c for c in execute.causes)
    assert "doctor --against" in " ".join(execute.fixes)
    memory = describe_code(207001)
    assert memory.name == "ACL_ERROR_RT_MEMORY_ALLOCATION"
    assert any("--input_fp16_nodes" in f for f in memory.fixes)
    assert any("reboot" in f for f in memory.fixes)


def test_unknown_code_is_none_and_class_comes_from_first_digit():
    assert describe_code(123456) is None
    assert knowledge.code_class(123456)["label"].startswith("user")
    assert knowledge.code_class(599999)["label"].startswith("internal")


# ---------------------------------------------------------------------------------------------- pattern table
@pytest.mark.parametrize("row", PATTERN_ROWS, ids=[r["id"] for r in PATTERN_ROWS])
def test_every_pattern_row_recognises_its_example_first(row):
    assert row["role"] in knowledge.ROLES and row["confidence"] in knowledge.CONFIDENCES
    if row.get("needle"):
        assert row["needle"] in row["example"]
    found = diagnose_log(row["example"])
    assert found, "the example of {} is not recognised".format(row["id"])
    assert found[0].pattern == row["id"], "an earlier row swallows the example of {}".format(row["id"])
    assert "{" not in found[0].title and "{" not in found[0].cause
    assert found[0].fixes and all("{" not in f for f in found[0].fixes)
    assert all(part in row["example"] for part in found[0].evidence.rstrip(". ").split(" ... "))


def test_pattern_ids_are_unique():
    ids = [r["id"] for r in PATTERN_ROWS]
    assert len(ids) == len(set(ids))


# ---------------------------------------------------------------------------------------------- the seed's logs
SEED_LOGS = [
    # file, pattern of the root cause, code, words that must be in its fixes (the seed's own fix)
    ("libascend_hal.log", "ld-libascend-hal", None, "x86_64-linux/devlib"),
    ("e10007_framework.log", "atc-option-required", "E10007", "--framework=5"),
    ("ec0010_decorator.log", "no-module", "EC0010", "pip3 install decorator sympy scipy psutil"),
    ("ec0010_tbe.log", "no-module-tbe", "EC0010", "python/site-packages"),
    ("ec0010_tbe_common.log", "no-module-tbe", "EC0010", "copy tbe"),
    ("ec0010_numpy2.log", "numpy2-removed-alias", "EC0010", 'numpy<2'),
    ("appendix1_500002_load.log", "ge-memory-layout-assert", "500002", "8.0.RC3"),
    ("appendix2_507011_execute.log", "aicore-mte-out-of-range", "507011", "kernels and nnrt"),
    ("acllite_getframe.log", "python-getframe-acllite", None, "move the torch post-processing"),
    ("mindie_builder.log", "mindie-builder", None, "pyACL"),
    ("openvino_gpu.log", "openvino-no-device", None, "pyACL"),
    ("torch_load_om.log", "torch-load-not-checkpoint", None, "pyACL"),
]


@pytest.mark.parametrize("name,pattern,code,fix_words", SEED_LOGS, ids=[s[0] for s in SEED_LOGS])
def test_seed_log_root_cause_and_fix(name, pattern, code, fix_words):
    found = diagnose_log((LOGS / name).read_text(encoding="utf-8"))
    root = found[0]
    assert root.pattern == pattern
    assert root.role == "root"
    assert root.code == code
    assert fix_words in " ".join(root.fixes)


def test_seed_logs_are_all_covered():
    assert {s[0] for s in SEED_LOGS} == {p.name for p in LOGS.glob("*.log")}


def test_appendix1_puts_version_mismatch_before_the_pcie_noise_and_symptoms():
    found = diagnose_log((LOGS / "appendix1_500002_load.log").read_text(encoding="utf-8"))
    roles = [d.role for d in found]
    assert roles == sorted(roles, key=knowledge.ROLES.index)
    assert found[0].line == 4  # the first ERROR line (PCIe noise) is not taken for the cause
    assert "expect 3 actual 4" in found[0].evidence and "expects 3 memory sections in the model and finds 4" in found[0].cause
    assert found[-1].pattern == "pcie-host-register"
    assert "application kept using a model" in " ".join(d.title for d in found)


def test_appendix2_names_the_failing_operator_and_the_code():
    found = diagnose_log((LOGS / "appendix2_507011_execute.log").read_text(encoding="utf-8"))
    titles = [d.title for d in found]
    assert "The failing operator is trans_Cast_0" in titles
    assert "ACL_ERROR_RT_MODEL_EXECUTE (507011)" in titles
    assert len([d for d in found if d.pattern == "aicore-mte-out-of-range"]) == 1  # 8 cores, one diagnosis


def test_ec0010_with_traceback_reports_the_import_not_the_tbe_symptom():
    found = diagnose_log((LOGS / "ec0010_decorator.log").read_text(encoding="utf-8"))
    assert found[0].title == "Python module 'decorator' is missing"
    assert [d.pattern for d in found[1:]] == ["atc-run-failed", "tbe-init-failed"]  # symptoms, in line order


def test_unknown_code_in_a_log_gets_its_class_fixes():
    found = diagnose_log("[ERROR] ASCENDCL(1,python3):2025 aclmdlExecute failed, result[199999]")
    assert found[0].title == "unknown code (199999)" and found[0].cause.startswith("not in the aclError table")
    assert found[0].fixes == knowledge.code_class(199999)["fixes"]


def test_nothing_recognised_gives_empty_list():
    assert diagnose_log("") == []
    assert diagnose_log("all good\nmodel loaded in 12 ms\n") == []


# ---------------------------------------------------------------------------------------------- bad input
def test_binary_truncated_and_empty_files_do_not_crash(tmp_path):
    empty = tmp_path / "empty.log"
    empty.write_bytes(b"")
    binary = tmp_path / "core.bin"
    binary.write_bytes(bytes(range(256)) * 64 + b"\x00\xff\xfe" * 1000)
    text = (LOGS / "appendix2_507011_execute.log").read_bytes()
    truncated = tmp_path / "cut.log"
    truncated.write_bytes(text[:len(text) // 3] + "\u4e2d".encode("utf-8")[:2])
    assert diagnose_logs(read_logs(str(empty))) == []
    logs = read_logs(str(binary))
    assert logs[0].binary and diagnose_logs(logs) == []
    cut = diagnose_logs(read_logs(str(truncated)))
    assert cut and cut[0].pattern == "aicore-mte-out-of-range"


def test_plog_directory_is_read_whole_and_oldest_root_cause_comes_first(tmp_path):
    import os

    plog = tmp_path / "plog"
    plog.mkdir()
    first = plog / "plog-69072_20250318143548.log"
    second = plog / "plog-10686_20250319150945.log"
    first.write_bytes((LOGS / "appendix1_500002_load.log").read_bytes())
    second.write_bytes((LOGS / "appendix2_507011_execute.log").read_bytes())
    os.utime(str(first), (1000, 1000))
    os.utime(str(second), (2000, 2000))
    (plog / "device-0").mkdir()
    (plog / "device-0" / "device-0_1.log").write_bytes(b"\x00\x01garbage")
    logs = read_logs(str(plog))
    assert [Path(log.name).name for log in logs][:2] == [first.name, second.name]
    found = diagnose_logs(logs)
    assert found[0].pattern == "ge-memory-layout-assert" and found[0].source == str(first)
    assert found[1].pattern == "aicore-mte-out-of-range" and found[1].source == str(second)


def test_huge_file_is_read_up_to_the_limit(tmp_path, monkeypatch):
    monkeypatch.setattr(knowledge, "MAX_BYTES_PER_FILE", 1000)
    big = tmp_path / "big.log"
    big.write_bytes((LOGS / "libascend_hal.log").read_bytes() + b"x" * 5000)
    log = read_logs(str(big))[0]
    assert log.truncated and len(log.text) == 1000 and log.notes
    assert diagnose_logs([log])[0].pattern == "ld-libascend-hal"


# Phrasings of ACL/runtime codes as issue 20 lists them (sample consoles, framework plugins, torch_npu);
# the expected names come from the ACL API reference's aclError table, not from these lines.
@pytest.mark.parametrize("line,code,name", [
    ("errorCode = 507033", "507033", "ACL_ERROR_RT_DEV_SETUP_ERROR"),
    ("Call aclInit(nullptr) failed : 507008", "507008", "ACL_ERROR_RT_SOC_VERSION"),
    ("NPU function error: call aclnnAdd failed, error code is 500001", "500001", "ACL_ERROR_FAILURE"),
    ("error code is 207001", "207001", "ACL_ERROR_RT_MEMORY_ALLOCATION"),
    ("ret = 507899", "507899", "ACL_ERROR_RT_DRV_INTERNAL_ERROR"),
    ("ErrCode=507011, desc=[the model stream execute failed]", "507011", "ACL_ERROR_RT_MODEL_EXECUTE"),
])
def test_code_phrasings_are_recognised(line, code, name):
    found = diagnose_log(line)
    assert found and found[0].code == code and name in found[0].title


def test_specific_code_ranks_over_inner_error():
    log = ("EZ9999: Inner Error!\n"
           "[ERROR] 2025 NPU function error: c10_npu::acl::AclrtSynchronizeStreamWithTimeout, error code is 507015\n")
    found = diagnose_log(log)
    assert found[0].code == "507015" and any(d.code == "EZ9999" for d in found[1:])


@pytest.mark.parametrize("line,pattern", [
    ("RuntimeError: Unsupported soc version: Ascend310B4", "torch-npu-unsupported-soc"),
    ("the socversion Ascend910B1 of bin package does not match the current device socverison Ascend310P3",
     "op-package-soc-mismatch"),
    ("ls: cannot access '/dev/davinci0': No such file or directory", "no-davinci-device"),
])
def test_soc_and_device_messages(line, pattern):
    assert diagnose_log(line)[0].pattern == pattern


def test_explanations_have_no_internal_names():
    for p in knowledge.log_patterns():
        text = " ".join([p.title, p.cause] + p.fixes).lower()
        assert "seed" not in text and "reference/cann" not in text, p.id
