"""An ONNX model's metadata_props read without the onnx package, which edge boxes often lack.

Only the top level of the ModelProto is walked: the graph (nearly all of the file) is skipped with a seek, so
reading labels from a 200 MB model reads a few bytes. Wire format: https://protobuf.dev/programming-guides/encoding/
; field numbers from onnx.proto (ModelProto.metadata_props = 14, StringStringEntryProto key = 1, value = 2).
"""
from __future__ import annotations

import os
from typing import BinaryIO, Dict, Iterator, Tuple, Union

from ..errors import UserError

METADATA_PROPS = 14
_VARINT, _FIXED64, _LENGTH, _FIXED32 = 0, 1, 2, 5


def _varint(read: BinaryIO) -> int:
    shift = result = 0
    while True:
        byte = read.read(1)
        if not byte:
            raise EOFError
        result |= (byte[0] & 0x7F) << shift
        if not byte[0] & 0x80:
            return result
        shift += 7
        if shift > 63:
            raise ValueError("varint longer than 10 bytes")


def _fields(stream: BinaryIO, end: int) -> Iterator[Tuple[int, int, int]]:
    """(field number, wire type, length or value) of each field up to `end`; length-delimited payloads are left
    for the caller to read or skip."""
    while stream.tell() < end:
        key = _varint(stream)
        number, wire = key >> 3, key & 7
        if wire == _VARINT:
            yield number, wire, _varint(stream)
        elif wire == _LENGTH:
            yield number, wire, _varint(stream)
        elif wire == _FIXED64:
            stream.seek(8, os.SEEK_CUR)
        elif wire == _FIXED32:
            stream.seek(4, os.SEEK_CUR)
        else:
            raise ValueError("wire type {} is not used by ONNX".format(wire))


def _entry(payload: bytes) -> Tuple[str, str]:
    import io

    stream, key, value = io.BytesIO(payload), "", ""
    for number, wire, length in _fields(stream, len(payload)):
        if wire != _LENGTH:
            continue
        text = stream.read(length).decode("utf-8", errors="replace")
        if number == 1:
            key = text
        elif number == 2:
            value = text
    return key, value


def read_metadata_props(path: Union[str, os.PathLike]) -> Dict[str, str]:
    """metadata_props of the ONNX file at `path` as a dict (the last value wins for a repeated key, as in onnx)."""
    props: Dict[str, str] = {}
    try:
        with open(path, "rb") as stream:
            end = os.fstat(stream.fileno()).st_size
            for number, wire, length in _fields(stream, end):
                if wire != _LENGTH:
                    continue
                if number == METADATA_PROPS:
                    payload = stream.read(length)
                    if len(payload) != length:
                        raise EOFError
                    key, value = _entry(payload)
                    props[key] = value
                else:
                    stream.seek(length, os.SEEK_CUR)
            if stream.tell() != end:
                raise EOFError
    except (EOFError, ValueError):
        raise UserError("{} is not a complete ONNX model: its protobuf ends mid-field".format(path),
                        hint="copy the file again (a truncated transfer?) or re-export it") from None
    except OSError as exc:
        raise UserError("cannot read {}: {}".format(path, exc.strerror or exc)) from None
    return props
