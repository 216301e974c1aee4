"""Uploads decode as files do: images.decode_image(bytes) gives load_image(path)'s pixels, errors one-line."""
from __future__ import annotations

import numpy as np
import pytest

from omdeploy.errors import UserError
from omdeploy.images import decode_image, load_image


def test_uploads_decode_like_files(assets, tmp_path):
    from PIL import Image

    paths = [assets.image(p) for p in ("coffee.png", "rocket.jpg", "camera.png")]
    gray8 = np.asarray(Image.open(assets.image("camera.png")).convert("L"))
    deep = tmp_path / "camera16.png"  # 16-bit: v * 257, so it must decode as the 8-bit one (not all white)
    Image.fromarray(gray8.astype(np.uint16) * 257).save(deep)
    turned = tmp_path / "turned.jpg"  # EXIF orientation 6: the pixels are turned when decoded
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.open(assets.image("rocket.jpg")).save(turned, exif=exif)
    for path in paths + [deep, turned]:
        np.testing.assert_array_equal(decode_image(path.read_bytes()), load_image(path))
    assert decode_image(deep.read_bytes())[..., 0].tolist() == gray8.tolist()
    w, h = Image.open(turned).size
    assert decode_image(turned.read_bytes()).shape[:2] == (w, h)


def test_bad_uploads_are_one_line_user_errors(assets):
    with pytest.raises(UserError, match=r"^the upload is empty \(0 bytes\)$"):
        decode_image(b"")
    with pytest.raises(UserError, match="^the upload is not a readable image: "):
        decode_image(assets.image("coffee.png").read_bytes()[:200])
