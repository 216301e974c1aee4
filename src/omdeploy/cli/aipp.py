"""omdeploy aipp: write an AIPP config from intent or from a spec, check one, or show what it feeds the model."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import typer

from ..fileio import atomic_open, write_text
from ..errors import UserError, check_output_file
from ._output import JsonOption, emit, table


def _size(text: Optional[str], option: str) -> Optional[Tuple[int, int]]:
    """'640x624' (height x width) -> (640, 624)."""
    if text is None:
        return None
    parts = text.lower().split("x")
    if len(parts) != 2 or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise UserError("{}: expected HxW such as 640x640, got {!r}".format(option, text))
    return int(parts[0]), int(parts[1])


def _floats(text: Optional[str], option: str) -> List[float]:
    try:
        return [float(v) for v in text.split(",")] if text else []
    except ValueError:
        raise UserError("{}: expected numbers separated by commas, got {!r}".format(option, text)) from None


def _read_config(path: Path) -> List[Any]:
    """The aipp_op blocks of a config file; a missing, binary or non-text file is a one-line error."""
    from ..ascend.aipp import parse_aipp

    if not path.is_file():
        raise UserError("{} does not exist".format(path) if not path.exists() else "{} is not a file".format(path))
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise UserError("{} is not an AIPP config: expected text with aipp_op {{ ... }} blocks, got binary "
                        "data".format(path)) from None
    return parse_aipp(text, str(path))


def _summary(config: Any, model_hw: Optional[Tuple[int, int]]) -> Dict[str, Any]:
    data: Dict[str, Any] = {"related_input_rank": config.related_input_rank, "aipp_mode": config.aipp_mode,
                            "input_format": config.input_format, "fields": config.to_dict()}
    if config.aipp_mode == "static" and (model_hw or (config.src_image_size_h and config.src_image_size_w)):
        data["source_hw"] = list(config.source_hw(model_hw))
        data["output_hw"] = list(config.output_hw(model_hw))
    data["problems"] = config.problems(model_hw)
    return data


def _render_blocks(blocks: List[Dict[str, Any]], console: Any) -> None:
    for block in blocks:
        t = table("aipp_op for input {} ({})".format(block["related_input_rank"], block["input_format"]),
                  "field", "value")
        for key, value in block["fields"].items():
            t.add_row(key, str(value))
        if "output_hw" in block:
            t.add_row("feeds the model", "{}x{} (h x w) from {}x{} images".format(*block["output_hw"],
                                                                                  *block["source_hw"]))
        console.print(t)
        for problem in block["problems"]:
            console.print("problem: " + problem, markup=False)


def _load_pixels(path: Path, config: Any, bgr: bool, resize: bool):
    import numpy as np

    if path.suffix.lower() == ".npy":
        return np.load(str(path))
    from ..tasks.image import load_image

    rgb = load_image(path)
    if resize and config.src_image_size_h and config.src_image_size_w:
        from ..spec import PreprocessSpec
        from ..tasks.preprocess import fit

        rgb, _ = fit(rgb, config.src_image_size_h, config.src_image_size_w, PreprocessSpec(resize="stretch"))
    if config.input_format == "RGB888_U8":
        return rgb[..., ::-1].copy() if bgr else rgb
    if config.input_format == "YUV400_U8":
        from ..ascend.aipp import RGB_TO_GRAY

        return (rgb.astype(np.int32) @ np.array(RGB_TO_GRAY[0][0]) >> 8).astype(np.uint8)
    raise UserError("{} input: give the pixels as a .npy file ({} from an image file is not built in)".format(
        config.input_format, config.input_format), hint="save the NV12/XRGB planes with numpy.save")


def register(app: typer.Typer) -> None:
    aipp_app = typer.Typer(help="Write, check and emulate AIPP configs (ATC --insert_op_conf).",
                           no_args_is_help=True)
    app.add_typer(aipp_app, name="aipp")

    @aipp_app.command("make")
    def make_cmd(
        model_size: Optional[str] = typer.Option(None, "--model-size", help="Model input HxW, e.g. 640x640."),
        model_color: str = typer.Option("rgb", "--model-color", help="rgb, bgr or gray: what the model expects."),
        device_format: str = typer.Option("rgb", "--feed", help="What the app feeds: rgb, bgr, xrgb, xbgr, nv12, "
                                                                "nv21 or gray."),
        device_size: Optional[str] = typer.Option(None, "--feed-size", help="HxW of the images fed (default: "
                                                                            "the model size)."),
        mean: Optional[str] = typer.Option(None, "--mean", help="Per-channel mean in pixel units, e.g. 0 or "
                                                                "123.675,116.28,103.53."),
        std: Optional[str] = typer.Option(None, "--std", help="Per-channel std in pixel units, e.g. 255."),
        yuv_matrix: str = typer.Option("bt601_narrow", "--yuv-matrix", help="bt601_narrow, bt601_wide, "
                                                                           "bt709_narrow or bt709_wide."),
        spec: Optional[Path] = typer.Option(None, "--spec", help="Take all of this from a DeploySpec "
                                                                 "(preprocess.where: aipp) instead."),
        output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write the config here."),
        as_json: bool = JsonOption,
    ) -> None:
        """Write the AIPP config for an intent, e.g. --model-size 640x640 --feed bgr --feed-size 624x640 --std 255."""
        from ..ascend.aipp import aipp_for, aipp_text_for_spec, parse_aipp, write_aipp
        from ..spec import DeploySpec

        if output is not None:
            check_output_file(output, "-o", spec)
        if spec is not None:
            given = [name for name, value in (("--model-size", model_size), ("--feed-size", device_size),
                                              ("--mean", mean), ("--std", std)) if value is not None]
            if given:
                raise UserError("--spec and {}: expected one of them (the spec says all of it)".format(given[0]),
                                hint="drop {} or edit the spec's preprocess".format(given[0]))
            text = aipp_text_for_spec(DeploySpec.load(spec))
        else:
            hw = _size(model_size, "--model-size")
            if hw is None:
                raise UserError("--model-size is required (or --spec)", hint="omdeploy aipp make --model-size 640x640")
            for name, value, choices in (("--model-color", model_color, ("rgb", "bgr", "gray")),
                                         ("--feed", device_format, ("rgb", "bgr", "xrgb", "xbgr", "nv12", "nv21",
                                                                    "gray"))):
                if value not in choices:
                    raise UserError("{}: expected one of {}, got {!r}".format(name, ", ".join(choices), value))
            config = aipp_for(hw, model_color, device_format, _size(device_size, "--feed-size"),
                              _floats(mean, "--mean") or [0.0], _floats(std, "--std") or [1.0],
                              yuv_matrix=yuv_matrix)
            text = write_aipp(config, header="model {}x{} {}, fed {} (omdeploy aipp make)".format(
                hw[0], hw[1], model_color, device_format))
        if output is not None:
            write_text(output, text)
        blocks = [_summary(c, None) for c in parse_aipp(text)]
        emit({"written": str(output) if output else None, "text": text, "blocks": blocks}, as_json,
             lambda c: c.print(text if output is None else "wrote {}".format(output), markup=False))

    @aipp_app.command("check")
    def check_cmd(
        path: Path = typer.Argument(..., help="An AIPP config file (aipp_op { ... } blocks)."),
        model_size: Optional[str] = typer.Option(None, "--model-size", help="Model input HxW: also check that "
                                                                            "crop + padding give exactly it."),
        as_json: bool = JsonOption,
    ) -> None:
        """Parse and check an AIPP config against ATC's field ranges and rules; exit 1 when one is broken."""
        hw = _size(model_size, "--model-size")
        blocks = [_summary(c, hw) for c in _read_config(path)]
        emit({"file": str(path), "blocks": blocks, "ok": not any(b["problems"] for b in blocks)}, as_json,
             lambda c: _render_blocks(blocks, c))
        if any(b["problems"] for b in blocks):
            raise typer.Exit(1)

    @aipp_app.command("emulate")
    def emulate_cmd(
        path: Path = typer.Argument(..., help="An AIPP config file."),
        image: Path = typer.Argument(..., help="An image file (fed as RGB, or BGR with --bgr), or a .npy of the "
                                               "exact uint8 pixels the app feeds (NV12 planes, XRGB, ...)."),
        bgr: bool = typer.Option(False, "--bgr", help="Feed the image in BGR order (as OpenCV apps do)."),
        resize: bool = typer.Option(False, "--resize", help="Stretch the image to the config's src_image_size."),
        rank: int = typer.Option(0, "--input", help="related_input_rank of the block to use."),
        output: Optional[Path] = typer.Option(None, "--output", "-o", help="Save the model-side tensor (.npy)."),
        as_json: bool = JsonOption,
    ) -> None:
        """Show what AIPP hands the model for an image: float16 NCHW after swap, crop, CSC, normalise, pad."""
        import numpy as np

        from ..ascend.aipp import emulate

        configs = {c.related_input_rank: c for c in _read_config(path)}
        if rank not in configs:
            raise UserError("{} has no aipp_op for input {}; it has {}".format(path, rank, sorted(configs)))
        config = configs[rank]
        tensor = emulate(config, _load_pixels(image, config, bgr, resize))
        if output is not None:
            with atomic_open(output, "wb") as handle:
                np.save(handle, tensor)
        flat = tensor.astype(np.float32).reshape(tensor.shape[-3], -1)
        channels = [{"channel": i, "min": float(ch.min()), "max": float(ch.max()), "mean": float(ch.mean())}
                    for i, ch in enumerate(flat)]
        data = {"shape": list(tensor.shape), "dtype": str(tensor.dtype), "channels": channels,
                "saved": str(output) if output else None}

        def render(console: Any) -> None:
            console.print("model input {} {}".format(tensor.dtype, list(tensor.shape)), markup=False)
            t = table(None, "channel", "min", "max", "mean")
            for ch in channels:
                t.add_row(str(ch["channel"]), "{:.4f}".format(ch["min"]), "{:.4f}".format(ch["max"]),
                          "{:.4f}".format(ch["mean"]))
            console.print(t)

        emit(data, as_json, render)
