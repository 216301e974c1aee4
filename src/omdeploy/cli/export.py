"""omdeploy export: PyTorch (TorchScript file, or module:factory + state_dict) -> ONNX, verified against torch."""
from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional

import typer
from rich.markup import escape

from ..chips import DEFAULT_CANN
from ..errors import UserError, check_output_file
from ..named import split_named
from ._options import (AtolOption, ColorOption, ImageOption, MeanOption, ResizeOption, RtolOption, StdOption,
                       image_preprocess, render_verification, step_progress)
from ._output import JsonOption, emit, table

def _shape(text: str) -> List[int]:
    try:
        dims = [int(d) for d in text.split(",")]
    except ValueError:
        dims = []
    if not dims or min(dims) < 1:
        raise UserError("--input-shape: expected positive sizes like 1,3,224,224, got {!r}".format(text))
    return dims


def _dynamic_axes(items: List[str]) -> Optional[Dict[str, Dict[int, str]]]:
    axes: Dict[str, Dict[int, str]] = {}
    for item in items:
        name, dims = split_named(item)  # the name ends at the last colon (omdeploy.named)
        try:
            if not name:
                raise ValueError(item)
            axes[name] = {int(a): "{}_{}".format(name, a) for a in dims.split(",")}
        except ValueError:
            raise UserError("--dynamic: expected NAME:AXIS,AXIS (e.g. input:0,2,3), got {!r}".format(item)) from None
    return axes or None


def _load_source(source: str, weights: Optional[Path]):
    from ..onnx.torchload import load_factory, load_torchscript

    if Path(source).exists():
        if weights is not None:
            raise UserError("--weights goes with a module:factory source, not with the file {}".format(source),
                            hint="a TorchScript file carries its own weights")
        return load_torchscript(source)
    if ":" not in source:
        raise UserError("{} is neither a file nor a module:factory reference".format(source),
                        hint="e.g. omdeploy.zoo.efficientnet_lite:EfficientNetLite0 --weights lite0.pth")
    return load_factory(source, weights)


def register(app: typer.Typer) -> None:
    @app.command("export")
    def export_cmd(
        source: str = typer.Argument(..., help="A TorchScript file, or package.module:factory (with --weights)."),
        out: Path = typer.Option(..., "--output", "-o", help="The ONNX file to write."),
        weights: Optional[Path] = typer.Option(None, "--weights", "-w", help="state_dict for a module:factory "
                                                                             "(loaded with weights_only=True)."),
        input_shape: List[str] = typer.Option(["1,3,224,224"], "--input-shape", help="Example input shape, once "
                                                                                     "per input in order."),
        input_name: Optional[List[str]] = typer.Option(None, "--input-name", help="Input names in order (default "
                                                                                  "input, or input0, input1...)."),
        output_name: Optional[List[str]] = typer.Option(None, "--output-name", help="Output names in order."),
        opset: Optional[int] = typer.Option(None, "--opset", help="ONNX opset (default: 11, inside the CANN "
                                                                  "version's accepted range)."),
        cann: str = typer.Option(DEFAULT_CANN, "--cann", help="CANN version of the box; the opset must suit it."),
        dynamic: Optional[List[str]] = typer.Option(None, "--dynamic", help="Dynamic axes, NAME:AXIS,AXIS "
                                                                            "(default: all static)."),
        dynamo: bool = typer.Option(False, "--dynamo", help="Use torch's dynamo exporter (opset >= 18, CANN >= 7.0)."),
        image: Optional[List[Path]] = ImageOption,
        mean: Optional[str] = MeanOption,
        std: Optional[str] = StdOption,
        color: str = ColorOption,
        resize: str = ResizeOption,
        atol: float = AtolOption,
        rtol: float = RtolOption,
        as_json: bool = JsonOption,
    ) -> None:
        """Export a PyTorch model to ONNX for ATC and verify it in onnxruntime against torch."""
        from .._optional import require
        from ..onnx.export import export

        check_output_file(out, "-o", Path(source) if Path(source).is_file() else None)
        if weights is not None:
            check_output_file(out, "-o", weights)  # before anything else: the weights are the user's
        torch = require("torch", "exporting PyTorch models")
        pre = image_preprocess(mean, std, color, resize)
        with step_progress(3, as_json) as step:
            step("load {}".format(source))
            model = _load_source(source, weights)
            examples = [torch.zeros(*_shape(s)) for s in input_shape]
            result = export(model, examples, out, opset=opset, cann=cann, input_names=input_name or None,
                            output_names=output_name or None, dynamic_axes=_dynamic_axes(dynamic or []),
                            dynamo=dynamo, images=image or (), preprocess=pre, atol=atol, rtol=rtol, on_step=step)

        def render(console) -> None:
            console.print("exported {} (opset {}, {} exporter, for CANN {})".format(
                result.path, result.opset, result.exporter, result.cann), markup=False)
            io = table(None, "", "name", "dtype", "shape")
            for kind, tensors in (("input", result.inputs), ("output", result.outputs)):
                for t in tensors:
                    io.add_row(kind, escape(t["name"]), t["dtype"], escape("[" + ", ".join(map(str, t["shape"])) + "]"))
            console.print(io)
            render_verification(console, result.verification)
            console.print("next: omdeploy check {} --cann {}".format(result.path, result.cann), markup=False)

        emit(result.to_dict(), as_json, render)
