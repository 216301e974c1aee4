"""ATC argv from a DeploySpec and back: the seed's commands round-trip, and every rule refuses by name."""
from __future__ import annotations

import pytest

from omdeploy.ascend.atc import (ALLOWED_VALUES, EXCLUSIVE, REQUIRES, build_argv, check_options, format_command, option_problems,
                                 parse_atc, spec_from_atc, spec_to_options)
from omdeploy.errors import UserError
from omdeploy.spec import DeploySpec

# every atc command in the seed, verbatim (the Caffe one names its chip 'Ascendxxx', see below)
SEED_COMMANDS = [
    "atc --model=caffe_model/resnet50.prototxt --weight=caffe_model/resnet50.caffemodel --framework=0 "
    "--output=model/resnet50 --soc_version=Ascend310P3 --input_format=NCHW --input_fp16_nodes=data "
    "--output_type=FP32 --out_nodes=prob:0",
    "atc --model=encodeModel.onnx --framework=5 --output=encodeModel --soc_version=Ascend310B4",
    "atc --model=encodeModel.onnx --framework=5 --output=encodeModel --soc_version=Ascend310P3",
    'atc --model=encodeModel.onnx --framework=5 --output=encodeModel --soc_version=Ascend310P3 --input_format=NCHW '
    '--input_fp16_nodes="input" --output_type=FP32 --out_nodes="output"',
    'atc --model=encodeModel.onnx --framework=5 --output=encodeModel --soc_version=Ascend310P3 --input_format=ND '
    '--input_fp16_nodes="input" --output_type=FP32 --out_nodes="output" --input_shape="input:1,3,-1,-1" '
    '--dynamic_dims="3040,4064;1088,1952"',
    'atc --model=decodeModel.onnx --framework=5 --output=decodeModel --soc_version=Ascend310P3 --input_format=ND '
    '--input_fp16_nodes="input" --output_type=FP32 --out_nodes="output" --input_shape="input:1,256,-1,-1" '
    '--dynamic_dims="95,127;34,61"',
    'atc --model=yolov8n-seg.onnx     --framework=5     --output=yolov8n-seg     --input_format=NCHW     '
    '--input_fp16_nodes="images" --input_shape="images:1,3,640,640"     --log=error     --soc_version=Ascend310P3',
]


@pytest.mark.parametrize("command", SEED_COMMANDS)
def test_seed_commands_round_trip(command):
    options = parse_atc(command)
    spec = spec_from_atc(command)
    argv = build_argv(spec)
    assert isinstance(argv, list) and argv[0] == "atc"
    assert parse_atc(argv) == options
    # and through the spec's YAML form too
    reloaded = DeploySpec.from_dict(spec.to_dict())
    assert parse_atc(build_argv(reloaded)) == options


def test_seed_dynamic_command_means_what_it_says():
    spec = spec_from_atc(SEED_COMMANDS[4])
    (item,) = spec.inputs
    assert (item.name, item.shape, item.dtype) == ("input", [1, 3, -1, -1], "float16")
    assert spec.dynamic.mode == "dims" and spec.dynamic.gears == [[3040, 4064], [1088, 1952]]
    assert spec.atc.input_format == "ND" and spec.atc.out_nodes == ["output"] and spec.atc.output_type == "FP32"


def test_seed_placeholder_soc_is_refused_with_npu_smi_hint():
    with pytest.raises(UserError, match=r"--soc_version: expected 'Ascend' \+ the Name column of `npu-smi info`"):
        spec_from_atc(SEED_COMMANDS[0].replace("Ascend310P3", "Ascendxxx"))


def command(*extra: str, model: str = "m.onnx") -> str:
    return "atc --model={} --framework=5 --output=m --soc_version=Ascend310P3 {}".format(model, " ".join(extra))


@pytest.mark.parametrize("extra,named", [
    (('--input_format=ND', '--input_shape="x:1,3,-1,-1"', '--dynamic_dims="224,224;320,320"', "--insert_op_conf=a.cfg"),
     "--dynamic_dims and --insert_op_conf cannot be combined"),
    (('--input_shape="x:-1,3,-1,-1"', "--dynamic_batch_size=1,2", '--dynamic_image_size="224,224;320,320"'),
     "--dynamic_batch_size and --dynamic_image_size cannot be combined"),
    (('--input_shape="x:-1,3,224,224"', "--dynamic_batch_size=4"), "--dynamic_batch_size: ATC takes 2 to 100 gears, got 1"),
    (('--input_shape="x:-1,3,224,224"', "--dynamic_batch_size=" + ",".join(str(i) for i in range(1, 102))),
     "--dynamic_batch_size: ATC takes 2 to 100 gears, got 101"),
])
def test_reference_combinations_are_refused_naming_the_options(extra, named):
    with pytest.raises(UserError) as info:
        spec_from_atc(command(*extra))
    assert named in str(info.value)


def spec(**data) -> DeploySpec:
    base = {"model": "m.onnx", "inputs": [{"name": "x", "shape": [1, 3, 224, 224]}]}
    base.update(data)
    return DeploySpec.from_dict(base)


def test_same_refusals_from_a_spec():
    dims = {"inputs": [{"name": "x", "shape": [1, 3, -1, -1]}],
            "dynamic": {"mode": "dims", "gears": [[224, 224], [320, 320]]}}
    with pytest.raises(UserError, match="--dynamic_dims and --insert_op_conf cannot be combined"):
        build_argv(spec(preprocess={"where": "aipp"}, **dims))
    with pytest.raises(UserError, match="ATC takes 2 to 100 gears, got 1"):
        spec(inputs=[{"name": "x", "shape": [-1, 3, 224, 224]}], dynamic={"mode": "batch", "gears": [4]})
    with pytest.raises(UserError, match="--input_fp16_nodes and --insert_op_conf"):
        build_argv(spec(inputs=[{"name": "x", "shape": [1, 3, 224, 224], "dtype": "float16"}],
                        preprocess={"where": "aipp"}))


def test_fp16_node_with_aipp_file_on_the_same_input(tmp_path):
    conf = tmp_path / "aipp.cfg"
    conf.write_text("aipp_op { aipp_mode: static input_format: RGB888_U8 related_input_rank: 1 }\n")
    two = ('--input_shape="a:1,3,8,8;b:1,3,8,8"', "--insert_op_conf={}".format(conf))
    spec_from_atc(command(*two, "--input_fp16_nodes=a"))  # AIPP is on b: fine
    with pytest.raises(UserError, match="--input_fp16_nodes and --insert_op_conf on the same input b"):
        spec_from_atc(command(*two, "--input_fp16_nodes=b"))


# The ATC option reference [atc-options]: the gear options and --input_shape_range exclude each other pairwise,
# --dynamic_dims does not combine with AIPP (--insert_op_conf), --precision_mode_v2 replaces --precision_mode
DOCUMENTED_EXCLUSIONS = {
    frozenset(p) for p in [("dynamic_batch_size", "dynamic_image_size"), ("dynamic_batch_size", "dynamic_dims"),
                           ("dynamic_image_size", "dynamic_dims"), ("dynamic_batch_size", "input_shape_range"),
                           ("dynamic_image_size", "input_shape_range"), ("dynamic_dims", "input_shape_range"),
                           ("dynamic_dims", "insert_op_conf"), ("precision_mode", "precision_mode_v2")]}
# ... and: each gear option varies the -1 dims of --input_shape; --dynamic_dims takes --input_format (ND);
# --enable_small_channel works with static AIPP only; --optypelist_for_implmode refines --op_select_implmode
DOCUMENTED_REQUIREMENTS = {
    ("dynamic_batch_size", "input_shape"), ("dynamic_image_size", "input_shape"), ("dynamic_dims", "input_shape"),
    ("dynamic_dims", "input_format"), ("enable_small_channel", "insert_op_conf"),
    ("optypelist_for_implmode", "op_select_implmode")}


def test_the_exclusions_are_the_documented_ones():
    assert {frozenset((a, b)) for a, b, _ in EXCLUSIVE} == DOCUMENTED_EXCLUSIONS
    assert all(why.strip() for _, _, why in EXCLUSIVE)


@pytest.mark.parametrize("pair", sorted(sorted(p) for p in DOCUMENTED_EXCLUSIONS))
def test_every_documented_exclusion_refuses(pair):
    a, b = pair
    options = parse_atc(command())
    options.update({a: "1,2", b: "1,2"})
    with pytest.raises(UserError) as info:
        check_options(options)
    assert ("--{} and --{} cannot be combined".format(a, b) in str(info.value)
            or "--{} and --{} cannot be combined".format(b, a) in str(info.value))


def test_the_requirements_are_the_documented_ones():
    assert {(a, b) for a, b, _ in REQUIRES} == DOCUMENTED_REQUIREMENTS
    assert all(why.strip() for _, _, why in REQUIRES)


@pytest.mark.parametrize("a,b", sorted(DOCUMENTED_REQUIREMENTS))
def test_every_documented_requirement_refuses(a, b):
    options = parse_atc(command())
    options[a] = "1"
    with pytest.raises(UserError, match="--{} needs --{}: ".format(a, b)):
        check_options(options)


def test_the_seed_commands_break_no_rule():
    """Real commands that worked in the field: a bogus exclusion or requirement on their options fails here."""
    for seed in SEED_COMMANDS[1:]:
        check_options(parse_atc(seed))


# the values the ATC option reference lists [atc-options] (soc_version: tests/test_chips.py)
DOCUMENTED_VALUES = {
    "mode": {"0"},  # 0 builds an .om (1, 3, 5, 6 convert/precheck/dump/print, which convert never runs)
    "framework": {"0", "1", "3", "5"},  # Caffe, MindSpore, TensorFlow, ONNX
    "precision_mode": {"force_fp16", "allow_fp32_to_fp16", "must_keep_origin_dtype", "allow_mix_precision",
                       "allow_mix_precision_fp16", "allow_mix_precision_bf16", "force_fp32", "cube_fp16in_fp32out",
                       "allow_fp32_to_bf16"},
    "precision_mode_v2": {"fp16", "origin", "cube_fp16in_fp32out", "mixed_float16", "mixed_bfloat16", "mixed_hif8",
                          "cube_hif8"},
    "op_select_implmode": {"high_performance", "high_precision", "high_precision_for_all", "high_performance_for_all"},
    "enable_small_channel": {"0", "1"},
    "log": {"debug", "info", "warning", "error", "null"},
}


def test_the_value_tables_are_the_documented_ones():
    assert {name: set(values) for name, values in ALLOWED_VALUES.items() if name != "soc_version"} == DOCUMENTED_VALUES


@pytest.mark.parametrize("name", sorted(ALLOWED_VALUES))
def test_every_value_table(name):
    options = parse_atc(command())
    options[name] = "nonsense"
    with pytest.raises(UserError, match="--{}: expected".format(name)):
        check_options(options)
    for value in ALLOWED_VALUES[name]:
        assert "--{}: expected".format(name) not in "; ".join(option_problems(dict(options, **{name: value})))


@pytest.mark.parametrize("extra,named", [
    (("--input_format=NHWC",), "--input_format: ONNX models take NCHW, NCDHW, ND, got NHWC"),
    (('--input_shape="x:1,3,-1,-1"',), "Ascend310B4 takes no true dynamic shape"),
    (('--input_shape="x:1,3,-1,-1"', "--input_format=NCHW", '--dynamic_dims="1,2;3,4"'), "needs --input_format=ND"),
    (('--input_shape="x:1,3,-1,-1"', "--input_format=ND", '--dynamic_dims="1;3"'), "one value per -1"),
    (('--input_shape="x:1,3,-1,224"', "--dynamic_batch_size=1,2"), "-1 may only be the first (N) dim"),
    (('--input_shape="x:-1,3,224,224"', '--dynamic_image_size="1,2;3,4"'), "-1 may only mark H and W"),
    (('--input_shape="x:1,3,224,224"', "--dynamic_batch_size=1,2"), "has no -1 dim for the gears"),
    (("--output_type=FP64",), "--output_type: expected one of FP32, FP16, UINT8, INT8"),
    (("--output_type=a:x:FP16",), "per node entries are 'node:index:TYPE'"),
    (("--output_type=a:0:FP16",), "--output_type per node ('node:index:TYPE') needs --out_nodes"),
    (('--out_nodes="a:0;b"',), "--out_nodes: use one style"),
    (("--weight=m.caffemodel",), "--weight is for Caffe models only"),
    (("--precision_mode=fp16",), "--precision_mode: expected one of"),
    (("--input_fp16_nodes",), "--input_fp16_nodes has no value"),
    (("--bogus_option=1",), "--bogus_option: not an ATC option"),
    (("--out_node=x",), "did you mean 'out_nodes'"),
])
def test_option_rules(extra, named):
    with pytest.raises(UserError) as info:
        spec_from_atc(command(*extra).replace("Ascend310P3", "Ascend310B4"))
    assert named in str(info.value)


def test_framework_must_match_the_model_file():
    with pytest.raises(UserError, match=r"--framework=5 \(ONNX\) does not match --model m.pb"):
        spec_from_atc(command(model="m.pb"))
    with pytest.raises(UserError, match="expected an atc command line, got .python."):
        parse_atc("python train.py --model=x")


def test_spec_to_argv_for_aipp_batch_gears_and_precision():
    s = spec(inputs=[{"name": "x", "shape": [-1, 3, 224, 224]}], dynamic={"mode": "batch", "gears": [1, 2, 4, 8]},
             preprocess={"where": "aipp"}, precision_mode="allow_mix_precision",
             outputs=[{"name": "y", "dtype": "FP32"}], atc={"options": {"op_select_implmode": "high_precision"}})
    argv = build_argv(s, aipp_file="a.cfg")
    assert argv == ["atc", "--model=m.onnx", "--framework=5", "--output=m_Ascend310P3", "--soc_version=Ascend310P3",
                    "--input_format=NCHW", "--input_shape=x:-1,3,224,224", "--dynamic_batch_size=1,2,4,8",
                    "--insert_op_conf=a.cfg", "--output_type=FP32", "--precision_mode=allow_mix_precision",
                    "--op_select_implmode=high_precision"]
    back = spec_from_atc(argv)
    assert back.dynamic == s.dynamic and back.precision_mode == s.precision_mode
    assert format_command(argv[:2] + ['--dynamic_dims=1,2;3,4']) == "atc --model=m.onnx '--dynamic_dims=1,2;3,4'"


def test_per_output_types_and_options_that_clash():
    s = spec(outputs=[{"name": "a", "dtype": "FP16"}, {"name": "b"}])
    assert spec_to_options(s)["output_type"] == "a:0:FP16"
    with pytest.raises(UserError, match=r"needs --out_nodes \(atc.out_nodes in a spec\)"):
        build_argv(s)  # ATC's per-node form names nodes of --out_nodes
    named = spec(outputs=[{"name": "a", "dtype": "FP16"}, {"name": "b"}], atc={"out_nodes": ["a", "b"]})
    assert "--output_type=a:0:FP16" in build_argv(named) and "--out_nodes=a;b" in build_argv(named)
    same = spec(outputs=[{"name": "a", "dtype": "FP16"}, {"name": "b", "dtype": "FP16"}])
    assert "--output_type=FP16" in build_argv(same)  # one type for all outputs needs no --out_nodes
    with pytest.raises(UserError, match="atc.options sets --soc_version"):
        spec_to_options(spec(atc={"options": {"soc_version": "Ascend310"}}))
    with pytest.raises(UserError, match="both atc.insert_op_conf and preprocess.where: aipp"):
        spec_to_options(spec(atc={"insert_op_conf": "a.cfg"}, preprocess={"where": "aipp"}))
    with pytest.raises(UserError, match="one --input_format for all inputs"):
        spec_to_options(spec(inputs=[{"name": "a", "shape": [1, 3, 8, 8]},
                                     {"name": "b", "shape": [1, 8, 8, 3], "layout": "NHWC"}]))


def test_an_unbalanced_quote_is_a_user_error(cli):
    with pytest.raises(UserError, match="cannot be split as a shell would: No closing quotation"):
        parse_atc("atc --model='m.onnx --framework=5")
    r = cli("convert", "--from-atc", "atc --model='m.onnx --framework=5", "--plan")
    assert r.code == 2 and r.err.startswith("error: the atc command line") and "internal error" not in r.err


@pytest.mark.parametrize("v2, mode", [("origin", "must_keep_origin_dtype"), ("mixed_float16", "allow_mix_precision_fp16")])
def test_precision_mode_v2_in_atc_options_is_refused_pointing_to_precision_mode(v2, mode):
    with pytest.raises(UserError, match="atc.options sets --precision_mode_v2={}: the spec's precision is "
                                        "`precision_mode`".format(v2)) as info:
        build_argv(spec(atc={"options": {"precision_mode_v2": v2}}))
    assert info.value.hint == "precision_mode: {}".format(mode)
    migrated = spec_from_atc(command("--precision_mode_v2={}".format(v2)))  # --from-atc maps it
    assert migrated.precision_mode == mode and "precision_mode_v2" not in migrated.atc.options
    assert "--precision_mode={}".format(mode) in build_argv(migrated)
    with pytest.raises(UserError, match="--precision_mode_v2=cube_hif8 has no --precision_mode equivalent"):
        spec_from_atc(command("--precision_mode_v2=cube_hif8"))


# ModelZoo READMEs leave the chip as a shell placeholder, e.g. --soc_version=Ascend${chip_name}
@pytest.mark.parametrize("soc_value", ["Ascend${chip_name}", "${chip_name}", "$1", "Ascendxxx"])
def test_soc_placeholder_filled_from_soc(soc_value):
    from omdeploy.ascend.atc import fill_placeholders, parse_atc
    opts = parse_atc("atc --model=yolov5s.onnx --framework=5 --output=yolov5s "
                     "--input_shape=images:${batch_size},3,640,640 --soc_version=" + soc_value.replace("$", "\\$"))
    filled = fill_placeholders(opts, soc="Ascend310P3", batch=4)
    assert filled["soc_version"] == "Ascend310P3"
    assert filled["input_shape"] == "images:4,3,640,640"


def test_real_soc_is_not_replaced():
    from omdeploy.ascend.atc import fill_placeholders
    assert fill_placeholders({"soc_version": "Ascend310B4"}, soc="Ascend310P3")["soc_version"] == "Ascend310B4"


def test_legacy_ascend910_command_is_accepted():
    from omdeploy.ascend.atc import check_options, parse_atc
    opts = parse_atc("atc --model=resnet50.onnx --framework=5 --output=resnet50 "
                     "--input_shape=actual_input_1:1,3,224,224 --soc_version=Ascend910")
    check_options(opts)
    assert opts["soc_version"] == "Ascend910"


def test_tensorflow_nhwc_dynamic_image_size_round_trips():
    # ATC's --input_format default for TensorFlow (--framework=3) is NHWC: H, W are dims 1 and 2
    from omdeploy.ascend.atc import spec_from_atc, spec_to_options
    command = ('atc --model=m.pb --framework=3 --output=m --input_shape="Placeholder:1,-1,-1,3" '
               '--dynamic_image_size="448,448;640,640" --soc_version=Ascend310P3')
    opts = spec_to_options(spec_from_atc(command))
    assert opts["input_format"] == "NHWC"
    assert opts["input_shape"] == "Placeholder:1,-1,-1,3" and opts["dynamic_image_size"] == "448,448;640,640"


# ---- commands copied verbatim from Huawei ModelZoo READMEs (chip and batch left as shell placeholders) ----------
MODELZOO = "https://github.com/Ascend/ModelZoo-PyTorch/blob/6a2804a358a5b18e3dac1ab902f41f88e240b00f/ACL_PyTorch/"
MODELZOO_COMMANDS = [
    (MODELZOO + "built-in/cv/Resnet50_Pytorch_Infer/README.md#L164",
     'atc --model=resnet50_official.onnx --framework=5 --output=resnet50_bs64 --input_format=NCHW --input_shape="actual_input_1:64,3,224,224" --enable_small_channel=1 --log=error --soc_version=Ascend${chip_name} --insert_op_conf=aipp_resnet50.aippconfig'),  # noqa: E501
    (MODELZOO + "built-in/cv/Resnet50_Pytorch_Infer_poc/README.md#L175",
     'atc --model=amct_model/resnet50_deploy_model.onnx --framework=5 --output=resnet50_bs${bs} --input_format=NCHW --input_shape="input:${bs},3,224,224" --enable_small_channel=1 --log=error --soc_version=Ascend${chip_name} --insert_op_conf=aipp_resnet50.config'),  # noqa: E501
    (MODELZOO + "built-in/audio/Wenet2_for_Pytorch/README.md#L252",
     'atc --input_format=ND --framework=5 --model=onnx/online_encoder.onnx --input_shape="chunk_xs:${batch_size},67,80;chunk_lens:${batch_size};offset:${batch_size},1;att_cache:${batch_size},12,4,64,128;cnn_cache:${batch_size},12,256,7;cache_mask:${batch_size},1,64" --output=om/online_encoder_bs${batch_size} --log=error --soc_version=Ascend${chip_name}'),  # noqa: E501
    (MODELZOO + "built-in/audio/Wenet2_for_Pytorch/README.md#L258",
     'atc --input_format=ND --framework=5 --model=onnx/offline_encoder.onnx --input_shape="speech:${batch_size},-1,80;speech_lengths:${batch_size}" --dynamic_dims="262;326;390;454;518;582;646;710;774;838;902;966;1028;1284;1478" --output=om/offline_encoder_static_bs${batch_size} --log=error --soc_version=Ascend${chip_name}'),  # noqa: E501
    (MODELZOO + "built-in/cv/CRNN_meijieru_for_Pytorch/README.md#L173",
     'atc --model=crnn_npu_dy.onnx --framework=5 --output=crnn_${bs} --input_format=NCHW --input_shape="actual_input_1:${bs},1,32,100" --log=error --soc_version=Ascend${chip_name}'),  # noqa: E501
    (MODELZOO + "built-in/cv/Twins-SVT-L/README.md#L178",
     'atc --framework=5 --model=alt_gvt_large.onnx  --output=alt_gvt_large_bs${batch_size} --input_format=NCHW --input_shape="input:${batch_size},3,224,224" --log=error --soc_version=Ascend${chip_name}'),  # noqa: E501
    (MODELZOO + "built-in/ocr/DBNET/README.md#L172",
     'atc --framework=5 --model=./dbnet.onnx --input_format=NCHW --input_shape="actual_input_1:${bs},3,736,1280" --output=db_bs${bs} --log=error --soc_version=Ascend${chip_name}'),  # noqa: E501
    (MODELZOO + "built-in/cv/SE_ResNet50_Pytorch_Infer/README.md#L166",
     'atc --model=./se_resnet50_dynamic_bs.onnx --framework=5 --input_format=NCHW --input_shape="image:32,3,224,224" --output=./se_resnet50_fp16_bs32 --log=error --soc_version=Ascend${chip_name} --insert_op_conf=./aipp_SE_ResNet50_pth.config --enable_small_channel=1'),  # noqa: E501
    (MODELZOO + "contrib/cv/classfication/Conformer-base/README.md#L175",
     'atc --model=conformer_base_dynamicbs.onnx --framework=5 --output=conformer_base_bs${batch_size} --input_shape="input:${batch_size},3,224,224" --log=error --soc_version=${soc_version}'),  # noqa: E501
    (MODELZOO + "contrib/cv/classfication/C3D/README.md#L238",
     'atc --framework=5 --model=C3D.onnx --output=C3D_bs${bs} --input_format=ND --input_shape="image:${bs},10,3,16,112,112" --log=error --soc_version=Ascend${chip_name}'),  # noqa: E501
]


def _as_the_shell_would(command: str, chip: str, bs: int) -> str:
    """The README's own instructions: chip_name from npu-smi info, bs / batch_size the batch to build."""
    return (command.replace("${soc_version}", "Ascend" + chip).replace("${chip_name}", chip)
            .replace("${batch_size}", str(bs)).replace("${bs}", str(bs)))


@pytest.mark.parametrize("url,command", MODELZOO_COMMANDS, ids=[u.split("ACL_PyTorch/")[1] for u, _ in MODELZOO_COMMANDS])
def test_modelzoo_command_with_placeholders_round_trips_with_soc_and_batch(url, command):
    spec = spec_from_atc(command, soc="Ascend310P3", batch=4)
    opts = spec_to_options(spec)
    expected = parse_atc(_as_the_shell_would(command, "310P3", 4))
    assert {k: opts.get(k) for k in expected} == expected
    assert "$" not in " ".join(build_argv(spec))


def test_placeholders_left_unfilled_are_refused_with_the_option_that_fills_them():
    url, command = MODELZOO_COMMANDS[1]
    with pytest.raises(UserError, match=r"shell placeholders left in --output=resnet50_bs\$\{bs\}") as info:
        spec_from_atc(command, soc="Ascend310P3")
    assert "--batch N" in info.value.hint
    with pytest.raises(UserError) as info:
        spec_from_atc(command, batch=1)
    assert "--soc Ascend310P3" in info.value.hint and "--batch" not in info.value.hint


def test_other_shell_variables_are_named():
    # BMN README (ModelZoo, contrib/cv/classfication/BMN/README.md#L192): the model is ${onnx_file} as well
    command = ('atc --model=${onnx_file} --framework=5 --output=bmn_bs${bs} '
               '--input-shape="image:${bs},400,100" --log=error --soc_version=Ascend${chip_name}')
    with pytest.raises(UserError, match=r"--model=\$\{onnx_file\}"):
        spec_from_atc(command, soc="Ascend310P3", batch=1)
    spec = spec_from_atc(command.replace("${onnx_file}", "bmn.onnx"), soc="Ascend310P3", batch=1)
    assert spec.inputs[0].shape == [1, 400, 100]


# ATC reads its options with gflags: '-name' equals '--name', and an undefined name with dashes is retried with
# underscores (gflags.cc FlagRegistry::FindFlagLocked; https://github.com/gflags/gflags/blob/master/src/gflags.cc)
@pytest.mark.parametrize("spelling", ["--input-shape=data:1,3,224,224", "-input_shape=data:1,3,224,224",
                                      "--input-shape data:1,3,224,224"])
def test_gflags_spellings_atc_accepts_are_accepted(spelling):
    opts = parse_atc("atc --model=m.onnx --framework=5 --output=m --soc-version=Ascend310P3 " + spelling)
    assert opts["input_shape"] == "data:1,3,224,224" and opts["soc_version"] == "Ascend310P3"
    check_options(opts)


def test_misspelled_option_still_gets_a_did_you_mean():
    with pytest.raises(UserError, match="did you mean 'input_shape'"):
        spec_from_atc("atc --model=m.onnx --framework=5 --output=m --soc_version=Ascend310P3 --input-shap=d:1,3")


def test_cli_batch_fills_the_placeholder_and_saves_a_portable_spec(cli, assets, tmp_path, monkeypatch):
    import json

    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "sq.onnx").symlink_to(assets.model("light_squeezenet.onnx"))
    monkeypatch.chdir(tmp_path)
    # the shape of the ModelZoo commands above, for a model that is really here
    command = ('atc --model=models/sq.onnx --framework=5 --output=sq_bs${bs} --input_format=NCHW '
               '--input_shape="data_0:${bs},3,224,224" --log=error --soc_version=Ascend${chip_name}')
    r = cli("convert", "--from-atc", command, "--soc", "Ascend310P3", "--batch", "1", "--plan", "-o",
            tmp_path / "out", "--save-spec", tmp_path / "specs" / "sq.json", "--json")
    assert r.code == 0, r.err
    planned = parse_atc(json.loads(r.out)["argv"])
    assert planned["input_shape"] == "data_0:1,3,224,224" and planned["soc_version"] == "Ascend310P3"
    saved = json.loads((tmp_path / "specs" / "sq.json").read_text())
    assert saved["model"] == "../models/sq.onnx"
    assert cli("convert", "--from-atc", command, "--soc", "Ascend310P3", "--plan", "-o", tmp_path / "o2").code == 2
    assert cli("convert", "--batch", "2", "x.onnx").code == 2
