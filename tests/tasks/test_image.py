"""Decoding: EXIF orientation applied (as DVPP does), every mode to RGB, one-line errors for non-images."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from omdeploy.errors import UserError
from omdeploy.tasks.image import files_with_suffixes, load_image

pytestmark = pytest.mark.needs_assets


def test_exif_orientation_is_applied(assets, tmp_path):
    photo = Image.open(assets.image("coffee.png")).convert("RGB")  # 600 x 400
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    photo.save(tmp_path / "tagged.jpg", exif=exif.tobytes())
    photo.save(tmp_path / "plain.jpg")
    tagged, plain = load_image(tmp_path / "tagged.jpg"), load_image(tmp_path / "plain.jpg")
    assert plain.shape == (400, 600, 3) and tagged.shape == (600, 400, 3)
    assert np.abs(tagged.astype(int) - np.rot90(plain, -1).astype(int)).mean() < 3


@pytest.mark.parametrize("mode", ["L", "RGBA", "P", "RGB"])
def test_every_mode_comes_out_rgb_uint8(assets, tmp_path, mode):
    Image.open(assets.image("chelsea.png")).convert(mode).save(tmp_path / "x.png")
    image = load_image(tmp_path / "x.png")
    assert image.dtype == np.uint8 and image.shape == (300, 451, 3)


def test_errors_are_one_line(tmp_path):
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "text.png").write_text("hello")
    for name, words in (("empty.png", "empty (0 bytes)"), ("text.png", "not a readable image"),
                        ("missing.png", "does not exist")):
        with pytest.raises(UserError, match=r"\(0 bytes\)|not a readable image|does not exist") as info:
            load_image(tmp_path / name)
        assert words in info.value.message and "\n" not in info.value.message


def test_folders_are_searched_recursively_by_suffix(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    for name in ("a/1.JPG", "a/b/2.png", "a/notes.txt", "3.webp"):
        (tmp_path / name).write_bytes(b"x")
    found = files_with_suffixes([tmp_path / "a", tmp_path / "a" / "notes.txt"], (".jpg", ".png"))
    assert [p.relative_to(tmp_path).as_posix() for p in found] == ["a/1.JPG", "a/b/2.png", "a/notes.txt"]
    with pytest.raises(UserError, match="does not exist"):
        files_with_suffixes([tmp_path / "nope"], (".jpg",))


def test_folders_without_a_matching_file_are_a_user_error(cli, tmp_path):
    (tmp_path / "notes.txt").write_text("not an image\n")
    with pytest.raises(UserError, match=r"no jpg/png files found in {}".format(tmp_path)):
        files_with_suffixes([tmp_path], (".jpg", ".png"))
    r = cli("jpeg", tmp_path)
    assert r.code == 2 and r.err.startswith("error: no ") and "files found in" in r.err
    r = cli("run", tmp_path / "m.onnx", tmp_path, "--task", "classify", "-o", tmp_path / "out")
    assert r.code == 2 and r.err.startswith("error: no ") and not (tmp_path / "out").exists()
