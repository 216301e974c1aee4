"""explain on real logs from public issue threads (tests/fixtures/public_logs/excerpts.json), and the code
phrasings they use. The expected root cause of each excerpt is the code the framework printed or the thread's
answer (the `why` field), not something read back from the knowledge base."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from omdeploy.ascend import knowledge
from omdeploy.ascend.knowledge import diagnose_log

EXCERPTS = json.loads((Path(__file__).resolve().parents[1] / "fixtures" / "public_logs" / "excerpts.json")
                      .read_text(encoding="utf-8"))["excerpts"]
PATTERN_IDS = {p.id for p in knowledge.log_patterns()}


def _first_is_expected(excerpt) -> bool:
    found = diagnose_log(excerpt["text"])
    if not found:
        return False
    expect = excerpt["expect"]
    if expect.startswith("row:"):
        return found[0].pattern == expect[len("row:"):]
    return found[0].code == expect


def test_excerpts_are_real_cited_and_well_formed():
    ids = [e["id"] for e in EXCERPTS]
    assert len(ids) == len(set(ids))
    for e in EXCERPTS:
        assert e["url"].startswith("https://github.com/"), e["id"]
        assert isinstance(e["verbatim"], bool) and e["text"].strip() and e["why"].strip(), e["id"]
        if e["expect"].startswith("row:"):
            assert e["expect"][4:] in PATTERN_IDS, e["id"]
    assert sum(e["verbatim"] for e in EXCERPTS) >= 40, "at least 40 verbatim public excerpts"


def test_explain_finds_the_expected_root_cause_first_for_90_percent():
    real = [e for e in EXCERPTS if e["verbatim"]]
    misses = [e["id"] for e in real if not _first_is_expected(e)]
    rate = 1 - len(misses) / len(real)
    assert rate >= 0.9, "root cause found first for {:.0%} of {} excerpts; misses: {}".format(rate, len(real), misses)


# Each phrasing is quoted from the public thread named beside it; the code's name comes from the aclError table.
@pytest.mark.parametrize("line,code,name", [
    ("[NPU] paddlespeech 报错 ACL error, the error code is : 500002", "500002", "ACL_ERROR_GE_FAILURE"),  # PaddleCustomDevice#1213
    ("aclrtSetDevice: open device 0 failed, runtime result = 507033", "507033", "ACL_ERROR_RT_DEV_SETUP_ERROR"),  # samples#21
    ("RuntimeError: ACL stream synchronize failed, error code:507015", "507015", "ACL_ERROR_RT_AICORE_EXCEPTION"),  # vllm-ascend#5661
    ("Create stream failed, ret:207000", "207000", "ACL_ERROR_RT_FEATURE_NOT_SUPPORT"),  # modelbox#357
    ("        launch failed for Equal, errno:561000.", "561000", "ACLNN_ERR_INNER"),  # LlamaFactory#3796
    ("[ERROR]  acl set device 0 failed, errorCode = 507033", "507033", "ACL_ERROR_RT_DEV_SETUP_ERROR"),  # samples#16
    ("Call aclInit(nullptr) failed : 507008 at file /work/PaddleCustomDevice/backends/npu/runtime/runtime.cc line 403",
     "507008", "ACL_ERROR_RT_SOC_VERSION"),  # Paddle#72458
    ("[ERROR] aclrtSetDevice(deviceId) failed: 507033 (/tmp/x/main.cpp:102)", "507033", "ACL_ERROR_RT_DEV_SETUP_ERROR"),  # PTOAS#948
    ("RuntimeError: copy_d2d_baseformat_opapi:build/CMakeFiles/torch_npu.dir/compiler_depend.ts:88 NPU function error: "
     "call aclnnInplaceCopy failed, error code is 561103", "561103", "ACLNN_ERR_INNER_NULLPTR"),  # Ascend/pytorch#90
])
def test_public_code_phrasings(line, code, name):
    found = diagnose_log(line)
    assert found and found[0].code == code and name in found[0].title


# retCode / InnerCode: 0x07 runtime, then the rtError_t class of CANN's runtime/base.h
@pytest.mark.parametrize("line,klass", [
    ("        Failed to open device, retCode=0x7020014, deviceId=0.[FUNC:InitRawDriver][FILE:raw_device.cc][LINE:126]",
     "RT_ERROR_DRV_"),  # Ascend/pytorch#67
    ("        New device failed, retCode=0x7010006[FUNC:SetDevice][FILE:api_impl.cc][LINE:2398]", "RT_ERROR_DEVICE_"),  # vllm-ascend#4284
    ("[ERROR] RUNTIME(42,mindie_llm_backend_connector):2025-11-18-09:33:13.674.019 [api_impl.cc:6228]58 GetDevMsg:"
     "Failed to GetDeviceErrMsg, retCode=0x7070001.", "RT_ERROR_CONTEXT_"),  # gpustack#3352
])
def test_inner_codes_are_mapped_to_their_runtime_class(line, klass):
    found = diagnose_log(line)
    assert found[0].pattern == "rt-inner-code" and klass in found[0].title and found[0].role == "symptom"


def test_inner_code_beside_an_acl_code_does_not_hide_it():
    line = ("[ERROR] RUNTIME(42,mindie_llm_backend_connector):2025-11-18-09:33:13.673.869 [api_c_device.cc:92]58 "
            "rtSetDevice:ErrCode=107001, desc=[device id error], InnerCode=0x7010003")  # gpustack#3352
    assert diagnose_log(line)[0].code == "107001"


def test_json_escaped_log_is_split_into_lines():
    e = next(e for e in EXCERPTS if e["id"] == "vllm-ascend-4284-e30006-json")
    found = diagnose_log(e["text"])
    assert found[0].pattern == "opp-verify-failed"
    assert {"507033", "E30006"} <= {d.code for d in found}


def test_every_new_row_cites_a_source():
    rows = json.loads((knowledge.DATA / "log_patterns.json").read_text(encoding="utf-8"))["patterns"]
    cited = [r for r in rows if r.get("source")]
    assert len(cited) >= 14
    for r in cited:
        assert r["source"].startswith(("https://", "rtError_t")), r["id"]


def test_chip_messages_say_whether_the_chip_is_one_atc_knows():
    # Ascend/pytorch#57; the soc list is ATC's --soc_version table (omdeploy.spec.SOC_VERSIONS)
    cause = diagnose_log("Unsupported SOC version: Ascend310B4")[0].cause
    assert "Ascend310B4 is a soc_version ATC accepts" in cause
    mismatch = diagnose_log("the socversion Ascend910B1 of bin package does not match the current device "
                            "socverison Ascend310P3")[0].cause
    assert "Ascend910B1 is a soc_version ATC accepts" in mismatch and "Ascend310P3 is a soc_version" in mismatch
    undefined = diagnose_log("ValueError: Unsupported soc_version: AscendSocVersion.UNDEFINED")[0]  # vllm-ascend#2795
    assert undefined.pattern == "vllm-ascend-unsupported-soc" and "is not a soc_version omdeploy knows" in undefined.cause
