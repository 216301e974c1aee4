"""Will the DVPP JPEG decoder take this file? Decided from the JPEG headers alone, without decoding.

    check_jpeg("photo.jpg", soc_version="Ascend310B4")  # -> JpegCheck(ok=False, problems=[progressive ...])

Reads markers up to the first scan (SOS), seeking over segment payloads, so a check costs a few small reads
whatever the file size. The rules are the data in `jpeg_rules`.
"""
from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field
from typing import BinaryIO, Dict, Iterator, List, Optional, Tuple, Union

from ..findings import Finding
from . import jpeg_rules as rules

JPEG_SUFFIXES = (".jpg", ".jpeg", ".jpe", ".jfif")
_STANDALONE_MARKERS = set(range(0xD0, 0xD8)) | {0x01, 0xD8}  # RSTn, TEM, SOI carry no length
_SOS, _EOI, _APP14 = 0xDA, 0xD9, 0xEE
_OTHER_FORMATS: Tuple[Tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "PNG"), (b"GIF8", "GIF"), (b"BM", "BMP"), (b"II*\x00", "TIFF"), (b"MM\x00*", "TIFF"),
    (b"RIFF", "RIFF (WebP?)"),
)
_JPEG2000 = (b"\x00\x00\x00\x0cjP  \r\n\x87\n", b"\xff\x4f\xff\x51")


def Problem(code: str, message: str) -> Finding:  # noqa: N802  (the name it had as a class)
    """A reason JPEGD refuses the file: rule = the problem's code, fix from jpeg_rules.FIXES."""
    return Finding("error", code, message, rules.FIXES[code])


@dataclass
class JpegCheck:
    path: str
    process: Optional[str] = None
    width: Optional[int] = None
    height: Optional[int] = None
    components: Optional[int] = None
    subsampling: Optional[str] = None
    precision: Optional[int] = None
    problems: List[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> Dict[str, object]:
        return {"path": self.path, "ok": self.ok, "process": self.process, "width": self.width,
                "height": self.height, "components": self.components, "subsampling": self.subsampling,
                "precision": self.precision, "problems": [p.to_dict() for p in self.problems]}


class _Truncated(Exception):
    pass


def _read(f: BinaryIO, n: int) -> bytes:
    data = f.read(n)
    if len(data) != n:
        raise _Truncated()
    return data


def _segments(f: BinaryIO) -> Iterator[Tuple[int, BinaryIO, int]]:
    """(marker, file positioned at the payload, payload length) for each segment up to and including SOS."""
    while True:
        byte = _read(f, 1)
        if byte != b"\xff":
            raise _Truncated()  # garbage between segments: treat like a broken header
        marker = 0xFF
        while marker == 0xFF:  # fill bytes
            marker = _read(f, 1)[0]
        if marker in _STANDALONE_MARKERS:
            continue
        if marker == _EOI:
            raise _Truncated()
        (length,) = struct.unpack(">H", _read(f, 2))
        start = f.tell()
        yield marker, f, length - 2
        if marker == _SOS:
            return
        f.seek(start + length - 2)


def _subsampling(factors: List[Tuple[int, int]]) -> Tuple[str, bool]:
    if len(factors) == 1:
        return rules.GRAYSCALE, True
    (hy, vy), chroma = factors[0], factors[1:]
    hc, vc = chroma[0]
    if any(c != (hc, vc) for c in chroma) or hy % hc or vy % vc:
        return "Y {}x{}, chroma {}".format(hy, vy, "/".join("{}x{}".format(*c) for c in chroma)), False
    return rules.SUBSAMPLINGS.get((hy // hc, vy // vc), ("{}x{} luma per chroma".format(hy // hc, vy // vc), False))


def _frame_problems(result: JpegCheck, sof: int, payload: bytes, adobe_transform: Optional[int],
                    max_side: int) -> None:
    process, supported = rules.SOF_PROCESSES[sof]
    result.process = process
    precision, height, width, count = struct.unpack(">BHHB", payload[:6])
    result.precision, result.height, result.width, result.components = precision, height, width, count
    factors = [(payload[7 + 3 * i] >> 4, payload[7 + 3 * i] & 0x0F) for i in range(count)]
    add = result.problems.append
    if not supported:
        code = "arithmetic" if "arithmetic" in process else "progressive" if "progressive" in process else "lossless"
        add(Problem(code, "{} JPEG: JPEGD decodes only Huffman-coded sequential JPEGs (ACL error 148052)"
                    .format(process)))
    if precision != 8:
        add(Problem("precision", "{}-bit samples: JPEGD decodes 8-bit JPEGs only".format(precision)))
    if count in (1, 3):
        result.subsampling, sampling_ok = _subsampling(factors)
        if not sampling_ok:
            add(Problem("subsampling", "sampling {}: JPEGD takes 4:4:4, 4:2:2, 4:2:0, 4:4:0 and 4:0:0".format(
                result.subsampling)))
        if count == 3 and adobe_transform == 0:
            add(Problem("colorspace", "RGB-coded JPEG (Adobe transform 0): JPEGD takes YCbCr or grayscale"))
    else:
        kind = {4: "CMYK" if adobe_transform in (None, 0) else "YCCK"}.get(count, "{}-component".format(count))
        add(Problem("colorspace", "{} JPEG: JPEGD takes YCbCr or grayscale".format(kind)))
    if height == 0:
        add(Problem("no_frame_size", "the frame header gives height 0 (set later by a DNL marker)"))
    elif min(width, height) < rules.MIN_SIDE:
        add(Problem("too_small", "{}x{}: JPEGD takes at least {}x{}".format(width, height, rules.MIN_SIDE,
                                                                           rules.MIN_SIDE)))
    if max(width, height) > max_side:
        add(Problem("too_large", "{}x{}: JPEGD on this chip takes at most {}x{}".format(width, height, max_side,
                                                                                      max_side)))


def _not_a_jpeg(result: JpegCheck, head: bytes) -> JpegCheck:
    if any(head.startswith(sig) for sig in _JPEG2000):
        result.problems.append(Problem("jpeg2000", "JPEG 2000 file: JPEGD does not decode JPEG 2000 "
                                                   "(ACL error 148052)"))
        return result
    what = next((name for sig, name in _OTHER_FORMATS if head.startswith(sig)), None)
    found = "an empty file" if not head else ("a " + what + " file") if what else "no JPEG start marker (FF D8)"
    result.problems.append(Problem("not_jpeg", "not a JPEG: found {}".format(found)))
    return result


def _check_end(f, result: "JpegCheck") -> None:
    """Cheaply, without decoding: a whole JPEG ends with the EOI marker FFD9 (ITU-T T.81, B.2.1); a file
    cut short mid-scan (an interrupted copy) has headers that read fine and no end marker."""
    start = f.tell()
    f.seek(0, os.SEEK_END)
    size = f.tell()
    f.seek(max(0, size - 64))
    if b"\xff\xd9" in f.read(64):  # a few trailing bytes after EOI are common and harmless
        return
    f.seek(start)
    rest = f.read()
    scan = rest.find(b"\xff\xda")
    if scan >= 0 and len(rest) - scan > 64:  # scan data began; a header-only file is judged on its headers
        result.problems.append(Problem("cut_short", "the image data ends without the end-of-image marker (FFD9): "
                                                    "the file is cut short"))


def check_jpeg(path: Union[str, os.PathLike], soc_version: Optional[str] = None) -> JpegCheck:
    """Whether the DVPP JPEG decoder of `soc_version` accepts the file, and why not."""
    result = JpegCheck(str(path))
    limit = rules.max_side(soc_version)
    with open(path, "rb") as f:
        head = f.read(12)
        if not head.startswith(b"\xff\xd8"):
            return _not_a_jpeg(result, head)
        f.seek(2)
        adobe_transform: Optional[int] = None
        try:
            for marker, stream, length in _segments(f):
                if marker == _APP14 and length >= 12:
                    payload = _read(stream, length)
                    if payload.startswith(b"Adobe"):
                        adobe_transform = payload[11]
                elif marker in rules.SOF_PROCESSES:
                    _frame_problems(result, marker, _read(stream, length), adobe_transform, limit)
                    _check_end(f, result)
                    return result
        except (_Truncated, struct.error, IndexError):  # a header cut short or corrupt
            pass
    result.problems.append(Problem("truncated", "no frame header (SOF) before the end of the file or the first scan"))
    return result
