"""Option groups shared across verbs, and the rule for renamed options.

The CLI's naming rule (docs/architecture.md, "CLI options"): `-o` is where a verb writes, `--output FILE` when
that is one file and `--out DIR` when it is a folder; `--shape NAME:D0,D1,...` is the shape of a named model
input; `-t` is `--task`; `--soc`, `--cann`, `--backend`, `--threads`, `--json` mean the same in every verb.
A renamed spelling keeps working for one release, with a note on stderr (`renamed`).
"""
from __future__ import annotations

import contextlib
from typing import Any, Callable, Iterator, List, Optional

import typer
from rich.markup import escape

from ..errors import UserError
from ._output import err_console, live_display, table


def renamed(new_value: Any, old_value: Any, new: str, old: str) -> Any:
    """The value of an option whose spelling changed from `old` to `new`: the old one still works for one
    release, with a note; both at once is a user error."""
    if old_value is None or old_value == []:
        return new_value
    if new_value is not None and new_value != []:
        raise UserError("{} and {} are the same option (the old and the new spelling): give it once".format(old, new))
    err_console.print("note: {} is deprecated, use {} (the old spelling goes in the next release)".format(old, new),
                      markup=False)
    return old_value


# ---- verification against the source framework on real images: export and sanitize ------------------------
ImageOption = typer.Option(None, "--image", help="Also verify on this real image (repeatable); fed to the first "
                                                 "input, resized and normalised by --mean/--std/--color/--resize.")
MeanOption = typer.Option(None, "--mean", help="Per-channel mean in pixel units for --image (default ImageNet: "
                                               "123.675,116.28,103.53).")
StdOption = typer.Option(None, "--std", help="Per-channel std in pixel units for --image (default ImageNet: "
                                             "58.395,57.12,57.375).")
ColorOption = typer.Option("rgb", "--color", help="Channel order the model takes for --image: rgb, bgr or gray.")
ResizeOption = typer.Option("stretch", "--resize", help="How --image is fitted: stretch, crop or letterbox.")
AtolOption = typer.Option(1e-4, "--atol", help="Absolute tolerance of the verification.")
RtolOption = typer.Option(1e-3, "--rtol", help="Tolerance relative to each output's largest magnitude.")


def _floats(text: Optional[str], what: str) -> Optional[List[float]]:
    if text is None:
        return None
    try:
        return [float(v) for v in text.split(",")]
    except ValueError:
        raise UserError("{}: expected comma-separated numbers, got {!r}".format(what, text)) from None


def image_preprocess(mean: Optional[str], std: Optional[str], color: str, resize: str):
    """The PreprocessSpec that --image inputs go through (ImageNet statistics unless given)."""
    from .._schema import from_dict
    from ..onnx.verify import IMAGENET
    from ..spec import PreprocessSpec

    gray = color == "gray"  # one channel: the ImageNet statistics averaged
    data = {"color": color, "resize": resize,
            "mean": _floats(mean, "--mean") or ([sum(IMAGENET.mean) / 3] if gray else IMAGENET.mean),
            "std": _floats(std, "--std") or ([sum(IMAGENET.std) / 3] if gray else IMAGENET.std)}
    return from_dict(PreprocessSpec, data, "image options (--mean/--std/--color/--resize)")


@contextlib.contextmanager
def step_progress(total: int, quiet: bool) -> Iterator[Callable[[str], None]]:
    """A progress bar on stderr advanced once per step; silent with --json."""
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn

    with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), console=err_console,
                  transient=True, disable=quiet or not live_display()) as progress:
        task = progress.add_task("starting", total=total)
        started = [False]

        def advance(description: str) -> None:
            if started[0]:
                progress.advance(task)
            started[0] = True
            progress.update(task, description=description)

        yield advance


def render_verification(console, verification) -> None:
    console.print("verified in onnxruntime against {}: max abs error {:.3g}, max rel error {:.3g} ({} cases, "
                  "tolerance atol {:g} + rtol {:g} x max|reference|)".format(
                      verification.reference, verification.max_abs_error, verification.max_rel_error,
                      len(verification.cases), verification.atol, verification.rtol), markup=False)
    cases = table(None, "case", "max abs error", "max rel error", "")
    for c in verification.cases:
        cases.add_row(escape(c.case), "{:.3g}".format(c.max_abs_error), "{:.3g}".format(c.max_rel_error),
                      "ok" if c.passed else "FAIL")
    console.print(cases)
