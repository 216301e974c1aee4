"""omdeploy pack SPEC -o BUNDLE.tar: the deployment and its evidence in one archive for the box."""
from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from typing import List, Optional

import typer

from ..errors import UserError, check_output_file
from ._output import JsonOption, emit, err_console, human_bytes, progress_tracker


def register(app: typer.Typer) -> None:
    @app.command("pack")
    def pack_cmd(
        spec: Path = typer.Argument(..., help="The DeploySpec (.yaml/.json) to pack."),
        out: Path = typer.Option(..., "--out", "-o", help="The bundle to write (BUNDLE.tar)."),
        images: List[Path] = typer.Option([], "--images", "-i", help="Golden inputs: photos, folders of photos, "
                                          ".npy/.npz arrays (repeatable)."),
        random: int = typer.Option(0, "--random", min=0, help="Golden inputs: N seeded random inputs instead."),
        thresholds: List[str] = typer.Option([], "--threshold", help="[OUTPUT:]METRIC>=VALUE verify applies "
                                             "(default: compare's, task-aware)."),
        om: Optional[Path] = typer.Option(None, "--om", help="A built .om (with its sidecar) to carry instead of "
                                          "only the plan."),
        snapshot: Optional[Path] = typer.Option(None, "--snapshot", help="The doctor snapshot of the machine that "
                                                "converts (default: this machine's doctor)."),
        wheels: List[str] = typer.Option([], "--wheels", help="An offline wheelhouse for the box: cpXY-ARCH, e.g. "
                                         "cp38-aarch64 (repeatable)."),
        as_json: bool = JsonOption,
    ) -> None:
        """Pack a spec's model, plan or .om, golden data and doctor snapshot (and wheels) into one tar."""
        from ..tools.pack import pack

        if out.suffix.lower() != ".tar":
            raise UserError("-o {}: a bundle is a .tar file".format(out), hint="-o {}".format(out.with_suffix(".tar")))
        check_output_file(out, "-o", spec)
        if images and random:
            raise UserError("give -i IMAGES or --random N, not both")
        if random > 10000:
            raise UserError("--random {} is more golden data than a bundle needs".format(random), hint="--random 8")
        say = (lambda text: None) if as_json else (lambda text: err_console.print(text, markup=False))
        bar, tracker = progress_tracker(not as_json)
        with ExitStack() as stack:
            if bar is not None:
                stack.enter_context(bar)
            result = pack(spec, out, images=images, random=random, thresholds=thresholds, om=om, snapshot=snapshot,
                          wheels=wheels, say=say, tracker=tracker)
        data = result.to_dict()

        def render(console) -> None:
            m = result.manifest
            compared = result.compare
            console.print("{}: {} files, {}, {} for {} / CANN {}".format(
                out, len(m.files), human_bytes(data["size"]), ".om" if m.built else "plan (no .om)", m.soc_version,
                m.cann_version), markup=False)
            for o in compared.get("outputs", []):
                console.print("  golden {}: sim vs fp32 on {} sample(s): cosine {}, top1 {} ({})".format(
                    o["name"], compared["samples"], o["metrics"].get("cosine"), o["metrics"].get("top1"),
                    "pass" if o["passed"] else "FAIL"), markup=False)
            console.print("sha256 {}".format(data["sha256"]), markup=False)
            console.print("on the box: omdeploy verify {}".format(out.name), markup=False)

        emit(data, as_json, render)
