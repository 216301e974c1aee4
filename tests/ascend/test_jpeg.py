"""DVPP JPEG compatibility from headers: real encoders (Pillow, libjpeg-turbo's cjpeg) and one test per rule row."""
from __future__ import annotations

import json
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from omdeploy.ascend import jpeg_rules as rules
from omdeploy.ascend.jpeg import check_jpeg

from PIL import Image


pytestmark = pytest.mark.needs_assets


def _photo(assets) -> "Image.Image":
    return Image.open(assets.image("coffee.png")).convert("RGB")


def _save(img, path: Path, **options) -> Path:
    img.save(path, "JPEG", quality=90, **options)
    return path


def _cjpeg(*args: str) -> None:
    if shutil.which("cjpeg") is None:
        pytest.fail("cjpeg is missing: apt-get install libjpeg-turbo-progs", pytrace=False)
    subprocess.run(["cjpeg", *args], check=True)


def _codes(path: Path, soc: str = "Ascend310P3"):
    return [p.rule for p in check_jpeg(path, soc).problems]


@pytest.mark.parametrize("subsampling, name", [(2, "4:2:0"), (1, "4:2:2"), (0, "4:4:4")])
def test_baseline_colour_jpegs_pass(assets, tmp_path, subsampling, name):
    path = _save(_photo(assets), tmp_path / "b.jpg", subsampling=subsampling)
    result = check_jpeg(path, "Ascend310P3")
    assert result.ok, result.problems
    assert (result.process, result.subsampling, result.width, result.height) == ("baseline", name, 600, 400)


def test_grayscale_jpeg_passes(assets, tmp_path):
    path = _save(_photo(assets).convert("L"), tmp_path / "g.jpg")
    result = check_jpeg(path)
    assert result.ok and result.subsampling == "4:0:0" and result.components == 1


def test_progressive_pillow_jpeg_is_flagged_with_a_fix(assets, tmp_path):
    path = _save(_photo(assets), tmp_path / "p.jpg", progressive=True)
    result = check_jpeg(path)
    assert not result.ok
    assert [p.rule for p in result.problems] == ["progressive"]
    assert "148052" in result.problems[0].message and "baseline" in result.problems[0].fix


def test_arithmetic_cjpeg_jpeg_is_flagged(assets, tmp_path):
    ppm = tmp_path / "in.ppm"
    _photo(assets).save(ppm)
    out = tmp_path / "arith.jpg"
    _cjpeg("-arithmetic", "-outfile", str(out), str(ppm))
    assert _codes(out) == ["arithmetic"]
    progressive_arith = tmp_path / "parith.jpg"
    _cjpeg("-arithmetic", "-progressive", "-outfile", str(progressive_arith), str(ppm))
    assert _codes(progressive_arith) == ["arithmetic"]
    assert "arithmetic" in check_jpeg(progressive_arith).process


def test_cjpeg_411_sampling_is_flagged(assets, tmp_path):
    ppm = tmp_path / "in.ppm"
    _photo(assets).save(ppm)
    out = tmp_path / "411.jpg"
    _cjpeg("-sample", "4x1,1x1,1x1", "-outfile", str(out), str(ppm))
    result = check_jpeg(out)
    assert result.subsampling == "4:1:1" and [p.rule for p in result.problems] == ["subsampling"]


def test_the_seed_opencv_samples(assets):
    """The field report could not tell why ela_original.jpg failed on DVPP and orange.jpg did not."""
    assert _codes(assets("opencv/ela_original.jpg")) == ["progressive"]
    assert _codes(assets("opencv/orange.jpg")) == []


def test_cmyk_jpeg_is_flagged(tmp_path):
    path = _save(Image.new("CMYK", (64, 64), (10, 20, 30, 40)), tmp_path / "cmyk.jpg")
    assert _codes(path) == ["colorspace"]


def test_size_limits_depend_on_the_chip(tmp_path):
    wide = _save(Image.new("RGB", (8200, 40)), tmp_path / "wide.jpg")
    assert _codes(wide, "Ascend310P3") == ["too_large"]
    assert _codes(wide, "Ascend310B4") == []
    tiny = _save(Image.new("RGB", (16, 16)), tmp_path / "tiny.jpg")
    assert _codes(tiny) == ["too_small"]


def test_broken_and_foreign_files(assets, tmp_path):
    png = assets.image("coffee.png")
    assert _codes(png) == ["not_jpeg"] and "PNG" in check_jpeg(png).problems[0].message
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    assert _codes(empty) == ["not_jpeg"]
    whole = _save(_photo(assets), tmp_path / "whole.jpg").read_bytes()
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(whole[:40])
    assert _codes(cut) == ["truncated"]
    j2k = tmp_path / "x.jp2"
    j2k.write_bytes(b"\x00\x00\x00\x0cjP  \r\n\x87\n" + b"\x00" * 20)
    assert _codes(j2k) == ["jpeg2000"]


def test_exif_and_large_app_segments_are_skipped_not_read(assets, tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: DVPP applies it, it does not make the file unsupported
    path = _save(_photo(assets), tmp_path / "exif.jpg", exif=exif.tobytes(), icc_profile=b"\x00" * 60000)
    result = check_jpeg(path)
    assert result.ok and (result.width, result.height) == (600, 400)


# ---- one test per rule row, on minimal synthetic headers ------------------------------------------

def _header(marker: int, factors, width=640, height=480, precision=8) -> bytes:
    comps = b"".join(struct.pack(">BBB", i + 1, (h << 4) | v, 0) for i, (h, v) in enumerate(factors))
    body = struct.pack(">BHHB", precision, height, width, len(factors)) + comps
    return b"\xff\xd8" + b"\xff" + bytes([marker]) + struct.pack(">H", len(body) + 2) + body + b"\xff\xda\x00\x02"


# start-of-frame markers of ITU-T T.81 (Table B.1) -> (the coding process, key words of its name); JPEGD decodes
# Huffman-coded sequential (baseline and extended) JPEGs only [dvpp-jpegd]
T81_SOF = {0xC0: ("baseline",), 0xC1: ("extended", "sequential", "huffman"), 0xC2: ("progressive", "huffman"),
           0xC3: ("lossless", "huffman"), 0xC5: ("differential", "sequential", "huffman"),
           0xC6: ("differential", "progressive", "huffman"), 0xC7: ("differential", "lossless", "huffman"),
           0xC9: ("extended", "sequential", "arithmetic"), 0xCA: ("progressive", "arithmetic"),
           0xCB: ("lossless", "arithmetic"), 0xCD: ("differential", "sequential", "arithmetic"),
           0xCE: ("differential", "progressive", "arithmetic"), 0xCF: ("differential", "lossless", "arithmetic")}
JPEGD_DECODES = {0xC0, 0xC1}


def test_the_sof_table_is_t81s():
    assert set(rules.SOF_PROCESSES) == set(T81_SOF)
    assert {m for m, (_, ok) in rules.SOF_PROCESSES.items() if ok} == JPEGD_DECODES


@pytest.mark.parametrize("marker", sorted(T81_SOF))
def test_every_sof_process(tmp_path, marker):
    path = tmp_path / "h.jpg"
    path.write_bytes(_header(marker, [(2, 2), (1, 1), (1, 1)]))
    result = check_jpeg(path)
    assert all(word in result.process.lower() for word in T81_SOF[marker]), result.process
    assert result.ok == (marker in JPEGD_DECODES)


# (luma h, v) with chroma (1, 1) -> the J:a:b name; JPEGD takes 4:4:4, 4:2:2, 4:2:0, 4:4:0 (and 4:0:0) [dvpp-jpegd]
SAMPLINGS = {(1, 1): ("4:4:4", True), (2, 1): ("4:2:2", True), (2, 2): ("4:2:0", True), (1, 2): ("4:4:0", True),
             (4, 1): ("4:1:1", False), (4, 2): ("4:1:0", False)}


def test_the_subsampling_table_is_the_documented_one():
    assert rules.SUBSAMPLINGS == SAMPLINGS and rules.GRAYSCALE == "4:0:0" and rules.MIN_SIDE == 32


@pytest.mark.parametrize("luma", sorted(SAMPLINGS))
def test_every_subsampling(tmp_path, luma):
    path = tmp_path / "h.jpg"
    path.write_bytes(_header(0xC0, [luma, (1, 1), (1, 1)]))
    result = check_jpeg(path)
    name, supported = SAMPLINGS[luma]
    assert result.subsampling == name and result.ok == supported


# JPEGD's largest side [dvpp-jpegd]: 8192 on 310, 310P and 910(A); 16384 on 310B and Atlas A2/A3 (910B, 910_93)
@pytest.mark.parametrize("soc, limit", [("Ascend310", 8192), ("Ascend310P3", 8192), ("Ascend910A", 8192),
                                        ("Ascend310B4", 16384), ("Ascend910B2", 16384), ("Ascend910_9392", 16384)])
def test_every_soc_size_limit(tmp_path, soc, limit):
    at, over = tmp_path / "at.jpg", tmp_path / "over.jpg"
    at.write_bytes(_header(0xC0, [(2, 2), (1, 1), (1, 1)], width=limit, height=64))
    over.write_bytes(_header(0xC0, [(2, 2), (1, 1), (1, 1)], width=limit + 16, height=64))
    assert check_jpeg(at, soc).ok
    assert _codes(over, soc) == ["too_large"]


def test_unknown_chip_uses_the_conservative_limit():
    assert rules.max_side("Ascend999") == rules.DEFAULT_MAX_SIDE == 8192
    assert rules.max_side(None) == 8192


def test_twelve_bit_and_dnl_height(tmp_path):
    path = tmp_path / "h.jpg"
    path.write_bytes(_header(0xC1, [(1, 1), (1, 1), (1, 1)], precision=12))
    assert _codes(path) == ["precision"]
    path.write_bytes(_header(0xC0, [(1, 1)], height=0))
    assert _codes(path) == ["no_frame_size"]


def test_every_problem_code_has_a_fix():
    assert all(rules.FIXES[code] for code in rules.FIXES)


# ---- the CLI ---------------------------------------------------------------------------------------

def test_cli_jpeg_folder(cli, assets, tmp_path):
    photo = _photo(assets)
    _save(photo, tmp_path / "ok.jpg")
    (tmp_path / "sub").mkdir()
    _save(photo, tmp_path / "sub" / "p.jpeg", progressive=True)
    (tmp_path / "notes.txt").write_text("not an image")
    result = cli("jpeg", str(tmp_path), "--json")
    assert result.code == 1, result.err
    data = json.loads(result.out)
    by_name = {Path(r["path"]).name: r for r in data["files"]}
    assert set(by_name) == {"ok.jpg", "p.jpeg"}
    assert by_name["ok.jpg"]["ok"] and by_name["p.jpeg"]["problems"][0]["rule"] == "progressive"
    assert data["summary"] == {"checked": 2, "accepted": 1, "rejected": 1}

    human = cli("jpeg", str(tmp_path / "ok.jpg"))
    assert human.code == 0 and "1 of 1" in human.out


def test_cli_jpeg_missing_path_is_a_user_error(cli, tmp_path):
    result = cli("jpeg", str(tmp_path / "nope.jpg"))
    assert result.code == 2 and "does not exist" in result.err



def test_a_jpeg_cut_short_in_its_scan_is_reported(assets, tmp_path):
    # a real JPEG cut at one third: its headers read fine, its scan has no end-of-image marker (T.81 B.2.1)
    from omdeploy.ascend.jpeg import check_jpeg

    whole = assets.image("rocket.jpg").read_bytes()
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(whole[:len(whole) // 3])
    assert check_jpeg(assets.image("rocket.jpg")).ok
    result = check_jpeg(cut)
    assert not result.ok and [p.rule for p in result.problems] == ["cut_short"]
