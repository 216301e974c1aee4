"""omdeploy convert: one spec (or ONNX model, or an existing atc command) -> ATC -> <stem>_<soc>.om + sidecar."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Optional

import typer

from ..chips import DEFAULT_CANN, DEFAULT_SOC
from ..errors import UserError, check_output_file
from ..log import logger
from ..spec import SPEC_SUFFIXES, DeploySpec
from ._output import JsonOption, emit, err_console, live_display, render_findings, table



def load_source(source: Optional[Path], from_atc: Optional[str], soc: Optional[str] = None,
                batch: Optional[int] = None) -> DeploySpec:
    if from_atc and source is not None:
        raise UserError("give a spec/model or --from-atc, not both")
    if batch is not None and (not from_atc or batch < 1):
        raise UserError("--batch {} {}".format(batch, "needs --from-atc" if not from_atc else "is not a batch size"),
                        hint='omdeploy convert --from-atc "atc ... --input_shape=images:${bs},3,640,640" --batch 4')
    if from_atc:
        from ..ascend.atc import spec_from_atc

        return spec_from_atc(from_atc, base_dir=str(Path.cwd()), soc=soc, batch=batch)
    if source is None:
        raise UserError("expected a DeploySpec (.yaml/.json) or an ONNX model, got nothing",
                        hint='omdeploy convert deploy.yaml | omdeploy convert model.onnx --soc ' + DEFAULT_SOC + ' | '
                             'omdeploy convert --from-atc "atc --model=... ..."')
    suffix = source.suffix.lower()
    if suffix in SPEC_SUFFIXES:
        return DeploySpec.load(source)
    if suffix == ".onnx":
        from ..tools.spec_init import bare_spec

        return bare_spec(source.resolve(), DEFAULT_SOC, DEFAULT_CANN)
    raise UserError("expected a DeploySpec (.yaml/.json) or an .onnx model, got {}".format(source.name),
                    hint="for other frameworks start from their atc command: omdeploy convert --from-atc \"atc ...\"")


def apply_overrides(spec: DeploySpec, soc: Optional[str], cann: Optional[str], fp16_input: bool,
                    output_type: Optional[str]) -> DeploySpec:
    """The spec with the command-line options applied, validated again as a whole."""
    data: Dict[str, Any] = spec.to_dict()
    target = data.setdefault("target", {})
    if soc:
        target["soc_version"] = soc
    if cann:
        target["cann"] = cann
    if fp16_input:
        from ..ascend.aipp import aipp_inputs

        if not data.get("inputs"):
            raise UserError("--fp16-input: the spec declares no inputs", hint="list them under inputs in the spec")
        fed = set(aipp_inputs(spec))
        for item in data["inputs"]:
            if item["name"] in fed:
                logger.info("input '%s' is fed by AIPP, which writes float16 into the network itself; "
                            "--fp16-input leaves it uint8", item["name"])
            else:
                item["dtype"] = "float16"
    if output_type:
        data.setdefault("atc", {})["output_type"] = output_type
    return DeploySpec.from_dict(data, source="spec with command-line options", base_dir=spec.base_dir)


def _render(result: Any, console: Any) -> None:
    from ..ascend.atc import format_command

    headline = {
        "built": "built {}".format(result.om),
        "planned": "plan only: no .om was produced. Run the script where the CANN toolkit is installed.",
        "no_atc": "atc was not found (PATH, ASCEND_TOOLKIT_HOME, /usr/local/Ascend, ~/Ascend): no .om was produced. "
                  "Install the CANN toolkit, or run the script on a machine that has it.",
        "failed": "atc failed (exit {}): no .om was produced".format(result.returncode),
    }[result.status]
    console.print(headline, markup=False)
    console.print("command: " + format_command(result.argv), markup=False)
    files = table(None, "file", "path")
    for label, path in (("script", result.script), ("aipp", result.aipp_file), ("sidecar", result.sidecar),
                        ("atc log", result.log)):
        if path is not None:
            files.add_row(label, str(path))
    console.print(files)
    render_findings(result.findings, console, empty=None)
    for diagnosis in result.diagnoses:
        console.print("diagnosis ({}): {}".format(diagnosis["confidence"], diagnosis["title"]), markup=False)
        console.print("  cause: " + diagnosis["cause"], markup=False)
        for fix in diagnosis["fixes"]:
            console.print("  fix: " + fix, markup=False)
        console.print("  from: " + diagnosis["evidence"], markup=False)
    if result.status == "failed" and not result.diagnoses:
        for line in result.error_lines:
            console.print("  " + line, markup=False)


def _peak_memory(spec: DeploySpec):
    """The peak device-memory estimate check and the simulator print (None for a non-ONNX model)."""
    if spec.model_path.suffix.lower() != ".onnx":
        return None
    from ..onnx.inspect import load_model
    from ..onnx.memory import peak_memory

    return peak_memory(load_model(spec.model_path, load_external_data=False), spec)


def register(app: typer.Typer) -> None:
    @app.command("convert")
    def convert_cmd(
        source: Optional[Path] = typer.Argument(None, help="A DeploySpec (.yaml/.json) or an ONNX model."),
        soc: Optional[str] = typer.Option(None, "--soc", help="Target soc_version, e.g. {}.".format(DEFAULT_SOC)),
        cann: Optional[str] = typer.Option(None, "--cann", help="CANN version of the box, e.g. 8.0.0."),
        plan: bool = typer.Option(False, "--plan", help="Write the atc script, AIPP file and sidecar; run nothing."),
        out: Optional[Path] = typer.Option(None, "--out", "-o", help="Directory for the outputs (default: here)."),
        fp16_input: bool = typer.Option(False, "--fp16-input", help="Feed inputs as float16 (--input_fp16_nodes)."),
        output_type: Optional[str] = typer.Option(None, "--output-type", help="FP32, FP16, UINT8 or INT8."),
        from_atc: Optional[str] = typer.Option(None, "--from-atc", help="An existing atc command line to migrate."),
        batch: Optional[int] = typer.Option(None, "--batch", help="With --from-atc: the value of ${batch_size} / ${bs} "
                                                                  "placeholders in the command."),
        save_spec: Optional[Path] = typer.Option(None, "--save-spec", help="Also write the spec used (.yaml/.json)."),
        as_json: bool = JsonOption,
    ) -> None:
        """Convert with ATC (or only plan it): the .om, its sidecar <model>.om.json, the script and AIPP file."""
        from ..ascend.convert import convert

        if out is not None and out.exists() and not out.is_dir():
            raise UserError("-o {} is a file; expected the folder for the outputs".format(out),
                            hint="-o build/ (created when missing)")
        if save_spec is not None:
            check_output_file(save_spec, "--save-spec")
        spec = apply_overrides(load_source(source, from_atc, soc, batch), soc, cann, fp16_input, output_type)
        if save_spec is not None:
            from ..tools.spec_init import save_portable

            save_portable(spec, save_spec)  # paths relative to the spec file, as specs resolve them
        if plan or as_json or not live_display():
            result = convert(spec, out, plan=plan)
        else:
            with err_console.status("running atc for {} (this takes minutes)".format(spec.model)):
                result = convert(spec, out, plan=plan)
        data = result.to_dict()
        memory = _peak_memory(spec)
        if memory is not None:
            data["memory"] = memory.to_dict()
        if save_spec is not None:
            data["spec_file"] = str(save_spec)
        emit(data, as_json, lambda c: (_render(result, c), memory is not None and c.print(
            "memory: " + memory.summary(), markup=False)))
        if not result.ok:
            raise typer.Exit(1)
