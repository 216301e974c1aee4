"""Annotated images: every kind of result is drawn where its coordinates say."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from omdeploy.tasks.segment import rle_encode
from omdeploy.tools.annotate import annotated_path, draw


def _changed(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    return np.any(before != after, axis=2)


def test_boxes_masks_text_and_top_class_are_drawn_in_place():
    image = np.full((100, 200, 3), 128, np.uint8)
    mask = np.zeros((100, 200), bool)
    mask[60:90, 120:180] = True
    result = {"detections": [{"box": [10, 10, 50, 40], "score": 0.9, "class": 0, "label": "cup"}],
              "instances": [{"box": [120, 60, 180, 90], "score": 0.8, "class": 1, "label": "cat",
                             "mask": rle_encode(mask)}],
              "lines": [{"text": "abc", "box": [[60, 50], [100, 50], [100, 58], [60, 58]]}],
              "top": [{"label": "espresso", "score": 0.96}]}
    out = draw(image, result)
    changed = _changed(image, out)
    assert out.shape == image.shape and out.dtype == np.uint8
    assert changed[10, 10:50].all() and changed[40, 10:50].all()  # the detection's box outline
    assert changed[70:85, 125:175].mean() > 0.95                   # the instance mask is tinted
    assert changed[50, 60:100].all()                               # the OCR polygon
    assert not changed[95, 5] and (image == 128).all()             # elsewhere untouched; input not modified


def test_annotated_file_names_are_flat_and_visible():
    folder = Path("/out")
    assert annotated_path(folder, ".assets/images/page.png") == folder / "assets_images_page.png.jpg"
    assert annotated_path(folder, "/data/clip.avi#frame=12") == folder / "data_clip.avi_frame=12.jpg"
