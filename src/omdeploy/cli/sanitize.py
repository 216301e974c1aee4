"""omdeploy sanitize: freeze input shapes, lower the opset, fold and simplify; re-verified against the original."""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from ._output import JsonOption, emit
from ._options import (AtolOption, ColorOption, ImageOption, MeanOption, ResizeOption, RtolOption, StdOption,
                       image_preprocess, render_verification, renamed, step_progress)


def register(app: typer.Typer) -> None:
    @app.command("sanitize")
    def sanitize_cmd(
        model: Path = typer.Argument(..., help="ONNX model."),
        out: Optional[Path] = typer.Option(None, "--output", "-o", help="Where to write (default "
                                                                        "<stem>.sanitized.onnx next to MODEL)."),
        shapes: Optional[List[str]] = typer.Option(None, "--shape", help="Freeze an input, NAME:D1,D2,... "
                                                                         "(repeatable)."),
        input_shape: Optional[List[str]] = typer.Option(None, "--input-shape", hidden=True,
                                                        help="Deprecated spelling of --shape."),
        opset: Optional[int] = typer.Option(None, "--opset", help="Convert to this opset (onnx.version_converter)."),
        no_simplify: bool = typer.Option(False, "--no-simplify", help="Skip constant folding and simplification."),
        image: Optional[List[Path]] = ImageOption,
        mean: Optional[str] = MeanOption,
        std: Optional[str] = StdOption,
        color: str = ColorOption,
        resize: str = ResizeOption,
        atol: float = AtolOption,
        rtol: float = RtolOption,
        as_json: bool = JsonOption,
    ) -> None:
        """Make an ONNX model ATC-friendly (static shapes, opset, folded constants) and verify it."""
        from ..onnx.sanitize import parse_input_shapes, sanitize

        frozen = parse_input_shapes(renamed(shapes, input_shape, "--shape", "--input-shape") or [])
        target = out or model.with_name(model.stem + ".sanitized.onnx")
        pre = image_preprocess(mean, std, color, resize)
        with step_progress(4, as_json) as step:
            result = sanitize(model, target, input_shapes=frozen, opset=opset,
                              simplify_graph=not no_simplify, images=image or (), preprocess=pre, atol=atol,
                              rtol=rtol, on_step=step)

        def render(console) -> None:
            console.print("wrote {}: opset {} -> {}, {} -> {} nodes".format(
                result.path, result.opset_before, result.opset_after, result.nodes_before, result.nodes_after), markup=False)
            for line in result.steps:
                console.print("  " + line, markup=False)
            for name, shape in result.inputs_after.items():
                console.print("  input {}: [{}] (was [{}])".format(name, ", ".join(map(str, shape)), ", ".join(
                    map(str, result.inputs_before.get(name, [])))), markup=False)
            render_verification(console, result.verification)
            console.print("next: omdeploy check {}".format(result.path), markup=False)

        emit(result.to_dict(), as_json, render)
