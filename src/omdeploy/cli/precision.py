"""omdeploy precision SPEC: which nodes must stay fp32 for compare to pass, written as ATC's --keep_dtype file."""
from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional, Tuple

import typer

from ..errors import UserError, check_output_file
from ..named import parse_named, parse_shapes
from ._options import renamed
from ._output import JsonOption, emit, table


def _render(result, console) -> None:
    data = result.to_dict()
    console.print("spec: {} ({})".format(data["spec"], data["precision_mode"]), markup=False)
    t = table("search, from the layer where the fp16 error first jumps", "kept node", "op", "tensor", "cosine",
              "max rel", "non-finite")
    for step in data["steps"]:
        t.add_row(step["kept"], step["op_type"], step["tensor"],
                  "-" if step["cosine"] is None else "{:.6f}".format(step["cosine"]),
                  "{:.3g}".format(step["max_rel"]), str(step["nonfinite"]))
    console.print(t)
    cost = data["cost"]
    console.print("keep in fp32: {} ({} of {} fp16 nodes; {})".format(
        ", ".join(data["kept"]) or "nothing", cost["nodes"], cost["fp16_nodes"],
        ", ".join("{} x{}".format(k, v) for k, v in cost["op_types"].items()) or "-"), markup=False)
    if data["keep_file"]:
        console.print("wrote {} (atc --keep_dtype){}".format(
            data["keep_file"], "" if not data["saved_spec"] else " and {}".format(data["saved_spec"])), markup=False)
    console.print("[green]PASS[/green]: compare passes with them" if data["passed"] else
                  "[red]FAIL[/red]: no keep set found that makes compare pass")


def register(app: typer.Typer) -> None:
    @app.command("precision")
    def precision_cmd(
        spec_path: Path = typer.Argument(..., metavar="SPEC", help="The DeploySpec to search (its precision_mode)."),
        inputs: List[Path] = typer.Option([], "--inputs", "-i", help="Images, .npy/.npz, or folders. Repeatable."),
        random: int = typer.Option(0, "--random", help="Number of seeded random samples (when no --inputs)."),
        seed: int = typer.Option(0, "--seed", help="Seed for --random."),
        ranges: List[str] = typer.Option([], "--range", help="NAME:LOW,HIGH for random data of one input."),
        shapes: List[str] = typer.Option([], "--shape", help="NAME:D0,D1,... for inputs with dynamic dims."),
        thresholds: List[str] = typer.Option([], "--threshold", help="compare's thresholds (its defaults "
                                                                          "and the task's otherwise)."),
        thresholds_old: List[str] = typer.Option([], "-t", hidden=True, help="Deprecated spelling of --threshold."),
        task: Optional[str] = typer.Option(None, "--task", help="compare's task-aware verdict (default: the "
                                                                "spec's task)."),
        output: Path = typer.Option(..., "--output", "-o", help="The ATC --keep_dtype file to write."),
        save_spec: Optional[Path] = typer.Option(None, "--save-spec", help="Also write a copy of SPEC that uses it."),
        as_json: bool = JsonOption,
    ) -> None:
        """Find which nodes must stay fp32 for compare to pass on the simulator; write ATC's --keep_dtype file."""
        from ..tools import compare as cmp
        from ..tools.precision import find_keep_set, write_outputs

        if inputs and random:
            raise UserError("--inputs and --random: expected one of them")
        for option, value in (("--random", random), ("--seed", seed)):
            if value < 0:
                raise UserError("{}: expected a number >= 0, got {}".format(option, value))
        for path, option in ((output, "-o"), (save_spec, "--save-spec")):
            if path is not None:
                check_output_file(path, option, spec_path)
        parsed = [cmp.Threshold.parse(t) for t in renamed(thresholds, thresholds_old, "--threshold", "-t")]
        shape_map = parse_shapes(shapes, "--shape", "1,3,640,640")
        range_map: Dict[str, Tuple[float, float]] = {}
        for k, vals in parse_named(ranges, "--range", "LOW,HIGH").items():
            if len(vals) != 2 or not vals[0] <= vals[1]:
                raise UserError("--range {}: expected LOW,HIGH with LOW <= HIGH".format(k))
            range_map[k] = (vals[0], vals[1])
        result = find_keep_set(spec_path, inputs, random, seed, shape_map, range_map, parsed, task)
        write_outputs(result, output, save_spec)
        emit(result.to_dict(), as_json, lambda c: _render(result, c))
        if not result.passed:
            raise typer.Exit(1)
