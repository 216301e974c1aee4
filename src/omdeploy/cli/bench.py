"""omdeploy bench: latency and throughput of one model on one or more backends, in one table."""
from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from typing import Any, List, Optional

import typer

from ..fileio import write_text
from ..errors import UserError, check_output_file, did_you_mean, one_of
from ..spec import DeploySpec
from ..named import parse_shapes
from ._options import renamed
from ._output import JsonOption, dumps, emit, progress_tracker, table

_ROWS = (  # (label, how to read it from a result); one column per backend, so backends sit side by side
    ("status", lambda r: "ok" if r.ok else "failed"),
    ("batch", lambda r: str(r.batch)),
    ("runs", lambda r: str(r.iterations)),
    ("load ms", lambda r: _ms(r.load_ms)),
    ("first inference ms", lambda r: _ms(r.first_ms)),
    *((name + " ms", (lambda key: lambda r: _ms(r.latency_ms.get(key)))(name))
      for name in ("min", "median", "p90", "p99", "max")),
    ("throughput items/s", lambda r: "-" if r.throughput is None else "{:.1f}".format(r.throughput)),
    *((name + " ms (median)", (lambda key: lambda r: _ms(r.stages_ms[key]) if r.stages_ms else "-")(name))
      for name in ("h2d", "compute", "d2h")),
)


def _ms(value: Optional[float]) -> str:
    return "-" if value is None else "{:.2f}".format(value)


def _render(results: List[Any], console: Any) -> None:
    t = table(None, "", *[r.backend for r in results])
    measured_stages = any(r.stages_ms for r in results)
    for label, cell in _ROWS:
        if measured_stages or "(median)" not in label:
            t.add_row(label, *[cell(r) for r in results])
    console.print(t)
    for r in results:
        if not r.ok:
            console.print("{}: {}".format(r.backend, r.error), markup=False, highlight=False)


def _backends(values: List[str]) -> List[str]:
    from ..runtime.session import BACKENDS

    names = [n.strip() for v in values for n in v.split(",") if n.strip()] or ["auto"]
    for name in names:
        if name != "auto" and name not in BACKENDS:
            raise UserError("unknown backend {!r}{}; known: {}".format(
                name, did_you_mean(name, BACKENDS), one_of(sorted(BACKENDS))))
    return names


MAX_DURATION_S = 86400.0


def register(app: typer.Typer) -> None:
    @app.command("bench")
    def bench_cmd(
        model: Path = typer.Argument(..., help="Model (.onnx, .om, .xml) or a deployment spec (.yaml)."),
        backend: List[str] = typer.Option([], "--backend", "-b", help="Backend(s) to compare: repeat or "
                                                                       "comma-separate (default: auto)."),
        batch: int = typer.Option(1, "--batch", min=1, help="Batch size (for models with a dynamic batch)."),
        warmup: int = typer.Option(5, "--warmup", min=0, help="Runs discarded after the first one."),
        iterations: Optional[int] = typer.Option(None, "--iterations", "-n", min=1,
                                                 help="Measured runs (default 100)."),
        duration: Optional[float] = typer.Option(None, "--duration", min=0.001,
                                                 help="Measure for this many seconds instead of --iterations."),
        duration_old: Optional[float] = typer.Option(None, "-t", min=0.001, hidden=True,
                                                     help="Deprecated spelling of --duration."),
        shapes: List[str] = typer.Option([], "--shape", help="NAME:D0,D1,... for inputs with dynamic dims."),
        spec: Optional[Path] = typer.Option(None, "--spec", help="A DeploySpec for a bare model file."),
        threads: Optional[int] = typer.Option(None, "--threads", min=1, help="CPU threads (onnxruntime, openvino)."),
        report: Optional[Path] = typer.Option(None, "--report", "-o", help="Also write the JSON report here "
                                                                           "(written even when a run fails)."),
        as_json: bool = JsonOption,
    ) -> None:
        """Measure first-inference time, latency percentiles and throughput; several backends in one table."""
        from ..tools.bench import bench_many

        duration = renamed(duration, duration_old, "--duration", "-t")
        if duration is not None and not 0 < duration <= MAX_DURATION_S:  # inf would never end, nan never compare
            raise UserError("--duration {:g}: expected seconds between 0.001 and {:g} (a day)".format(
                duration, MAX_DURATION_S))
        if iterations is not None and duration is not None:
            raise UserError("give --iterations or --duration, not both")
        from ._output import check_bounds

        check_bounds(threads=threads, batch=batch, warmup=warmup, runs=iterations)
        from ..bundle.cache import resolve_model

        model = resolve_model(model, backend[0] if len(backend) == 1 else "auto")  # a bundle: its spec or .om
        if not model.is_file():
            raise UserError("{} does not exist".format(model) if not model.exists() else
                            "{} is not a file".format(model), hint="give a model (.onnx, .om, .xml) or a spec (.yaml)")
        from ..runtime.session import AUTO_BACKENDS, SPEC_SUFFIXES

        if model.suffix.lower() not in tuple(AUTO_BACKENDS) + SPEC_SUFFIXES:
            raise UserError("{}: expected a model ({}) or a spec ({}), got a '{}' file".format(
                model, ", ".join(sorted(AUTO_BACKENDS)), ", ".join(SPEC_SUFFIXES), model.suffix or "(no suffix)"))
        if model.suffix.lower() in SPEC_SUFFIXES:  # a broken spec is the user's to fix, for every backend alike
            model_spec = DeploySpec.load(model)
            if not model_spec.model_path.exists():
                raise UserError("model {} does not exist".format(model_spec.model_path),
                                hint="the spec's model is relative to the spec file")
        if model.suffix.lower() == ".onnx":  # an unreadable model is the user's mistake, not a failed run
            from ..onnx.inspect import load_model

            load_model(model, load_external_data=False)
        with open(model, "rb") as f:
            head = f.read(64).lstrip()
        # GE's .om starts with MODEL_FILE_MAGIC_NUM (b"IMOD"); an OpenVINO IR .xml is XML
        if model.suffix.lower() == ".om" and not head.startswith(b"IMOD"):
            raise UserError("{} is {}, not an Ascend offline model (no IMOD header)".format(
                model, "empty" if not head else "named .om"), hint="convert the model again, or copy it again")
        if model.suffix.lower() == ".xml" and not head.startswith(b"<"):
            raise UserError("{} is {}, not an OpenVINO IR (.xml)".format(model, "empty" if not head else "not XML"),
                            hint="give the IR's .xml (with its .bin beside it), or the .onnx")
        side_spec = DeploySpec.load(spec) if spec is not None else None
        if report is not None:
            check_output_file(report, "--report", model)
        names = _backends(backend)
        shape_map = parse_shapes(shapes, "--shape", "1,3,640,640")
        bar, tracker = progress_tracker(not as_json)
        with ExitStack() as stack:
            if bar is not None:
                stack.enter_context(bar)
            results = bench_many(model, names, progress_for=tracker, batch=batch, warmup=warmup,
                                 iterations=iterations, duration=duration,
                                 spec=side_spec, shapes=shape_map,
                                 options={"threads": threads} if threads else None)
        data = {"model": str(model), "batch": batch, "warmup": warmup, "results": [r.to_dict() for r in results]}
        if report is not None:
            write_text(report, dumps(data) + "\n")
        emit(data, as_json, lambda console: _render(results, console))
        if not all(r.ok for r in results):
            raise typer.Exit(1)
