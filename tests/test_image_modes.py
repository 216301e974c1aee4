"""Decoding every Pillow mode to RGB uint8, each against a reference conversion made another way (OpenCV's
decoder, or numpy arithmetic on the known pixel values)."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from omdeploy.images import load_image


@pytest.fixture(scope="module")
def photo(assets):
    return np.asarray(Image.open(assets.image("chelsea.png")).convert("RGB"))


def test_16bit_gray_png_decodes_like_its_8bit_version(photo, tmp_path):
    cv2 = pytest.importorskip("cv2")
    gray8 = np.asarray(Image.fromarray(photo).convert("L"))
    cv2.imwrite(str(tmp_path / "g16.png"), gray8.astype(np.uint16) * 257)  # 8-bit v -> 16-bit v*257 (full range)
    cv2.imwrite(str(tmp_path / "g8.png"), gray8)
    assert cv2.imread(str(tmp_path / "g16.png"), cv2.IMREAD_ANYDEPTH).dtype == np.uint16
    got16, got8 = load_image(tmp_path / "g16.png"), load_image(tmp_path / "g8.png")
    assert np.array_equal(got16, got8)
    assert np.array_equal(got8[..., 0], gray8)


def test_16bit_rgb_png_matches_opencv(photo, tmp_path):
    cv2 = pytest.importorskip("cv2")
    cv2.imwrite(str(tmp_path / "c16.png"), photo[..., ::-1].astype(np.uint16) * 257)
    reference = cv2.imread(str(tmp_path / "c16.png"), cv2.IMREAD_UNCHANGED)[..., ::-1]
    assert reference.dtype == np.uint16
    assert np.abs(load_image(tmp_path / "c16.png").astype(int) - (reference // 257)).max() <= 1


def test_float_tiff_in_0_1_is_not_black(photo, tmp_path):
    gray = np.asarray(Image.fromarray(photo).convert("L"))
    Image.fromarray(gray.astype(np.float32) / 255.0, mode="F").save(tmp_path / "f.tif")
    got = load_image(tmp_path / "f.tif")
    assert got.mean() > 50
    assert np.abs(got[..., 0].astype(int) - gray).max() <= 1


def test_palette_la_cmyk_rgba_against_pillow_conversion(photo, tmp_path):
    base = Image.fromarray(photo)
    for mode, name in (("P", "p.png"), ("LA", "la.png"), ("RGBA", "rgba.png"), ("CMYK", "cmyk.jpg")):
        img = base.convert(mode)
        img.save(tmp_path / name)
        reference = np.asarray(Image.open(tmp_path / name).convert("RGB"))
        got = load_image(tmp_path / name)
        assert got.shape == photo.shape and got.dtype == np.uint8, mode
        assert np.array_equal(got, reference), mode


def test_exif_orientation_turns_the_picture(photo, tmp_path):
    img = Image.fromarray(photo)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to view" (EXIF 2.3, Orientation tag)
    img.save(tmp_path / "o.jpg", exif=exif.tobytes(), quality=95)
    got = load_image(tmp_path / "o.jpg")
    assert got.shape[:2] == photo.shape[1::-1]


def test_animated_gif_first_frame_with_a_note(photo, tmp_path, caplog):
    frames = [Image.fromarray(photo), Image.fromarray(255 - photo)]
    frames[0].save(tmp_path / "a.gif", save_all=True, append_images=frames[1:])
    first = np.asarray(Image.open(tmp_path / "a.gif").convert("RGB"))
    import logging

    with caplog.at_level(logging.WARNING, logger="omdeploy"):
        got = load_image(tmp_path / "a.gif")
    assert np.array_equal(got, first)
    assert "2 frames" in caplog.text
