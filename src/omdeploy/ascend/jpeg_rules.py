"""What the DVPP JPEG decoder (JPEGD) accepts, as data (docs/reference.md [dvpp-jpegd]ACL error 148052).

JPEGD takes Huffman-coded, sequential (baseline or extended), 8-bit YCbCr or grayscale JPEGs with sampling
4:4:4 / 4:2:2 / 4:2:0 / 4:0:0 / 4:4:0, 32x32 up to 8192x8192 (16384x16384 on 310B and the A2/A3 chips).
"""
from __future__ import annotations

from typing import Dict, Optional, Tuple

from .. import chips
from ..findings import Rule, register

# start-of-frame marker -> (coding process, whether JPEGD decodes it)
SOF_PROCESSES: Dict[int, Tuple[str, bool]] = {
    0xC0: ("baseline", True),
    0xC1: ("extended sequential (Huffman)", True),
    0xC2: ("progressive (Huffman)", False),
    0xC3: ("lossless (Huffman)", False),
    0xC5: ("differential sequential (Huffman)", False),
    0xC6: ("differential progressive (Huffman)", False),
    0xC7: ("differential lossless (Huffman)", False),
    0xC9: ("extended sequential, arithmetic coding", False),
    0xCA: ("progressive, arithmetic coding", False),
    0xCB: ("lossless, arithmetic coding", False),
    0xCD: ("differential sequential, arithmetic coding", False),
    0xCE: ("differential progressive, arithmetic coding", False),
    0xCF: ("differential lossless, arithmetic coding", False),
}

# (luma h, luma v) sampling factors with chroma at (1, 1) -> subsampling name, whether JPEGD decodes it
SUBSAMPLINGS: Dict[Tuple[int, int], Tuple[str, bool]] = {
    (1, 1): ("4:4:4", True),
    (2, 1): ("4:2:2", True),
    (2, 2): ("4:2:0", True),
    (1, 2): ("4:4:0", True),
    (4, 1): ("4:1:1", False),
    (4, 2): ("4:1:0", False),
}
GRAYSCALE = "4:0:0"

MIN_SIDE = 32
# VPC writes its output with the width padded to a multiple of 16 and the height to 2 (the output strides of
# acldvppVpcResizeAsync's picture description, docs/reference.md [dvpp-jpegd]): a model fed by DVPP directly must
# take exactly that size
VPC_WIDTH_ALIGN, VPC_HEIGHT_ALIGN = 16, 2
# soc_version prefix -> largest width/height JPEGD decodes (a chip fact: the chip table, data/chips.json)
MAX_SIDE_BY_SOC: Dict[str, int] = dict(chips.table()["jpegd_max_side"]["by_prefix"])
DEFAULT_MAX_SIDE: int = chips.table()["jpegd_max_side"]["default"]

# problem code -> how to fix it
FIXES: Dict[str, str] = {
    "progressive": "re-encode as baseline (e.g. PIL img.save(out, 'JPEG', quality=95) or `jpegtran -copy all "
                   "in.jpg > out.jpg`), or decode on the CPU",
    "arithmetic": "re-encode with Huffman coding (`jpegtran -copy all in.jpg > out.jpg` or PIL), or decode on the CPU",
    "lossless": "re-encode as baseline JPEG, or decode on the CPU",
    "precision": "re-encode as an 8-bit baseline JPEG, or decode on the CPU",
    "subsampling": "re-encode with 4:2:0, 4:2:2 or 4:4:4 sampling (PIL subsampling=0/1/2), or decode on the CPU",
    "colorspace": "re-encode as YCbCr or grayscale (PIL img.convert('RGB').save(...)), or decode on the CPU",
    "too_small": "decode on the CPU, or upscale before encoding (JPEGD needs at least 32x32)",
    "too_large": "downscale before encoding, or decode on the CPU",
    "jpeg2000": "convert to a baseline JPEG, or decode on the CPU",
    "not_jpeg": "decode on the CPU (PNG: DVPP PNGD takes 32x32 - 4096x4096), or convert to a baseline JPEG",
    "truncated": "the file ends before its frame header: re-export it",
    "cut_short": "the scan data is cut short (an interrupted copy or download): copy or export the file again",
    "no_frame_size": "re-encode it: the height is only given after the scan (DNL marker), which JPEGD does not read",
}


# problem code -> what JPEGD needs (the omdeploy.findings registry; every code is an error: JPEGD refuses the file)
RULES: Tuple[Rule, ...] = register("jpeg", tuple((code, "error", what) for code, what in (
    ("progressive", "sequential Huffman coding (JPEGD refuses progressive JPEGs: 148052)"),
    ("arithmetic", "Huffman coding (JPEGD refuses arithmetic coding)"),
    ("lossless", "lossy baseline coding (JPEGD refuses lossless JPEGs)"),
    ("precision", "8-bit samples"),
    ("subsampling", "4:4:4, 4:2:2, 4:2:0, 4:4:0 or 4:0:0 sampling"),
    ("colorspace", "YCbCr or grayscale (not CMYK, YCCK or RGB-coded)"),
    ("too_small", "at least 32x32"),
    ("too_large", "at most the chip's largest side (8192 unless the chip table says more)"),
    ("jpeg2000", "a JPEG, not JPEG 2000"),
    ("not_jpeg", "a JPEG file at all (others are decoded on the host)"),
    ("truncated", "a frame header before the end of the file"),
    ("cut_short", "the end-of-image marker: the whole file"),
    ("no_frame_size", "the height in the frame header (not only in a DNL marker)"),
)))


def max_side(soc_version: Optional[str]) -> int:
    """The largest width/height JPEGD decodes on this chip (8192 unless the chip is known to take more)."""
    return chips.jpegd_max_side(soc_version)
