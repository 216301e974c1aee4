"""omdeploy inspect MODEL: inputs/outputs, opsets, operator histogram, parameters, dynamic dims, metadata."""
from __future__ import annotations

from pathlib import Path

import typer

from ..onnx.inspect import ModelSummary, clip, summarize
from ._output import JsonOption, emit, human_bytes, human_count, table


def _render(s: ModelSummary, all_ops: bool, console) -> None:
    console.print("[bold]{}[/bold]  {}  ir {}  {}".format(Path(s.path).name, human_bytes(s.file_bytes), s.ir_version,
                                                          s.producer or ""))
    console.print("opsets: " + ", ".join("{} {}".format(d, v) for d, v in sorted(s.opsets.items())))
    console.print("nodes: {}   parameters: {} ({})".format(s.node_count, human_count(s.parameter_count),
                                                          human_bytes(s.parameter_bytes)))
    io = table(None, "", "name", "dtype", "shape")
    for kind, tensors in (("input", s.inputs), ("output", s.outputs)):
        for t in tensors:
            io.add_row(kind, t.name, t.dtype, "[" + ", ".join(str(d) for d in t.shape) + "]")
    console.print(io)
    if s.dynamic_dims:
        console.print("dynamic dims: " + ", ".join("{}[{}]={}".format(d["input"], d["axis"], d["dim"])
                                                   for d in s.dynamic_dims))
    else:
        console.print("dynamic dims: none (static shapes)")
    ops = table("operators ({} types)".format(len(s.operators)), "op", "count")
    items = list(s.operators.items())
    for op, n in items if all_ops else items[:15]:
        ops.add_row(op, str(n))
    if not all_ops and len(items) > 15:
        ops.add_row("... {} more (--all-ops)".format(len(items) - 15), "")
    console.print(ops)
    if s.metadata:
        meta = table("metadata_props", "key", "value")
        for k, v in s.metadata.items():
            meta.add_row(k, clip(v.replace("\n", " "), 80))
        console.print(meta)


def register(app: typer.Typer) -> None:
    @app.command("inspect")
    def inspect_cmd(
        model: Path = typer.Argument(..., help="ONNX model file."),
        all_ops: bool = typer.Option(False, "--all-ops", help="List every operator type."),
        as_json: bool = JsonOption,
    ) -> None:
        """What is inside an ONNX model: I/O, opsets, operators, parameters, dynamic dims, metadata."""
        summary = summarize(model)
        emit(summary.to_dict(metadata_chars=2000), as_json, lambda c: _render(summary, all_ops, c))
