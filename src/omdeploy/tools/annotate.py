"""Annotated copies of the runner's inputs: boxes and labels, instance masks, OCR boxes and text, top-1 class."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Dict

import numpy as np

from .._optional import require
from ..fileio import atomic_open
from ..tasks.segment import rle_decode

_COLOURS = [(255, 56, 56), (50, 205, 50), (30, 144, 255), (255, 178, 29), (207, 210, 49), (72, 249, 10),
            (146, 204, 23), (61, 219, 134), (26, 147, 52), (0, 212, 187), (44, 153, 168), (0, 194, 255)]


def draw(image: np.ndarray, result: Dict[str, Any]) -> np.ndarray:
    """An RGB copy of `image` with `result` (a task's result dict) drawn on it."""
    Image = require("PIL.Image", "annotated images")
    from PIL import ImageDraw

    canvas = image.astype(np.float32)
    for i, item in enumerate(result.get("instances", [])):
        mask = rle_decode(item["mask"])
        canvas[mask] = canvas[mask] * 0.5 + np.asarray(_COLOURS[i % len(_COLOURS)], np.float32) * 0.5
    picture = Image.fromarray(canvas.astype(np.uint8))
    pen = ImageDraw.Draw(picture)
    for item in result.get("detections", []) + result.get("instances", []):
        colour = _COLOURS[item["class"] % len(_COLOURS)]
        pen.rectangle(item["box"], outline=colour, width=2)
        caption = "{} {:.2f}".format(item["label"], item["score"])
        pen.text((item["box"][0] + 2, item["box"][1] + 1), caption, fill=colour)
    for line in result.get("lines", []):
        pen.polygon([tuple(p) for p in line["box"]], outline=(255, 56, 56))
        pen.text((line["box"][0][0], max(0, line["box"][0][1] - 11)), line["text"], fill=(255, 56, 56))
    if result.get("top"):
        best = result["top"][0]
        pen.text((4, 4), "{} {:.2f}".format(best["label"], best["score"]), fill=(255, 56, 56))
    return np.asarray(picture)


def annotated_path(folder: Path, key: str) -> Path:
    """A file name for an input key ('dir/a.jpg', 'clip.avi#frame=12') inside `folder`."""
    name = re.sub(r"[^\w.=-]+", "_", key).strip("_.")
    return folder / (name + ".jpg")


def writer(folder: Path):
    """annotate(image, record, key) for run_batch: writes <folder>/<key>.jpg."""
    Image = require("PIL.Image", "annotated images")
    folder.mkdir(parents=True, exist_ok=True)

    def annotate(image: np.ndarray, record: Dict[str, Any], key: str) -> None:
        picture = Image.fromarray(draw(image, record["result"]))
        with atomic_open(annotated_path(folder, key), "wb") as handle:
            picture.save(handle, format="JPEG", quality=90)

    return annotate
