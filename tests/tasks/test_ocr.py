"""PP-OCR on real models: the printed page of scikit-image, rotated lines, and the pieces on known inputs."""
from __future__ import annotations

import numpy as np
import pytest

from omdeploy.tasks.image import load_image
from omdeploy.tasks.ocr import OcrPipeline, crop_text, ctc_greedy, db_boxes, det_size

pytestmark = [pytest.mark.needs_onnx, pytest.mark.needs_assets]


@pytest.fixture(scope="module")
def ocr(assets):
    with OcrPipeline(assets.model("ppocrv4_det.onnx"), assets.model("ppocrv4_rec.onnx"),
                     cls=assets.model("ppocr_mobile_v2_cls.onnx")) as pipeline:
        yield pipeline


def test_reads_the_heading_of_the_page(ocr, assets):
    result = ocr(load_image(assets.image("page.png")))
    lines = result["lines"]
    assert lines[0]["text"] == "Region-based segmentation"
    assert lines[1]["text"].startswith("Let us first determine markers of the coins")
    assert len(lines) >= 5 and all(line["score"] > 0.8 for line in lines)
    x, y = np.asarray(lines[0]["box"]).min(0)
    assert 0 <= x < 15 and 5 < y < 20  # in source-image pixels


def test_upside_down_page_is_turned_by_the_angle_classifier(ocr, assets):
    page = np.ascontiguousarray(load_image(assets.image("page.png"))[::-1, ::-1])
    texts = [line["text"] for line in ocr(page)["lines"]]
    assert "Region-based segmentation" in texts


def test_charset_comes_from_the_model(ocr):
    assert ocr.charset[0] == "<blank>" and ocr.charset[-1] == " " and len(ocr.charset) == 6625


def test_ctc_greedy_collapses_repeats_and_drops_blanks():
    charset = ["<blank>", "a", "b", " "]
    steps = [1, 1, 0, 1, 2, 2, 0, 0, 3, 2]
    probs = np.full((len(steps), 4), 0.01, np.float32)
    probs[np.arange(len(steps)), steps] = 0.97
    text, score = ctc_greedy(probs, charset)
    assert text == "aab b" and score == pytest.approx(0.97)


def test_det_size_is_a_multiple_of_32_within_limits():
    assert det_size(191, 384) == (480, 960)  # small print is brought up, within the 960 limit
    h, w = det_size(4000, 3000)
    assert max(h, w) <= 960 and h % 32 == 0 and w % 32 == 0
    assert det_size(10, 10)[0] >= 32


def test_db_boxes_find_a_known_rectangle_and_grow_it_back():
    prob = np.zeros((100, 200), np.float32)
    prob[40:60, 30:170] = 0.9  # DB maps are shrunk text regions
    [(box, score)] = db_boxes(prob)
    assert score == pytest.approx(0.9, abs=0.02)
    (x0, y0), (x1, y1) = box.min(0), box.max(0)
    assert x0 < 30 and x1 > 169 and y0 < 40 and y1 > 59  # unclipped: larger than the shrunk region
    assert box[0][0] < box[1][0] and box[0][1] < box[3][1]  # tl, tr, br, bl


def test_crop_text_turns_tall_crops():
    image = np.zeros((100, 100, 3), np.uint8)
    box = np.array([[10, 10], [30, 10], [30, 90], [10, 90]], np.float32)
    assert crop_text(image, box).shape[:2] == (20, 80)
