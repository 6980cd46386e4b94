"""The plain-data format spoken between the grader and the student's worker process.

Both sides import this one file: the grader as ``grader.wire`` and the worker as a copy placed in
its sandbox, so it depends on nothing but numpy and the standard library. Nothing is ever
pickled: a message is a JSON document whose arrays travel as raw little-endian bytes after it,
and the decoder accepts only plain numeric dtypes, so bytes from the student side can become
numbers, strings, lists and dicts, never live objects.

Frame layout::

    8 bytes  total length of what follows (unsigned, little-endian)
    4 bytes  length H of the JSON header
    H bytes  JSON header (UTF-8); an array appears in it as
             {"__nd__": [offset, nbytes], "dtype": "<f8", "shape": [2, 3]}
    ...      the array bytes, at the offsets the header names
"""
from __future__ import annotations

import json
import math
import os
import struct

import numpy as np

MAX_MESSAGE_BYTES = 512 * 1024 * 1024
"""The largest message either side accepts; a bigger one is refused before it is read."""

MAX_STRING_CHARS = 20_000
"""Strings from the student side longer than this are cut, so a message cannot flood a report."""

ALLOWED_DTYPES = frozenset(
    np.dtype(name).str
    for name in ("bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32",
                 "uint64", "float16", "float32", "float64")
)

_LENGTH = struct.Struct("<Q")


class WireError(Exception):
    """A message that is not well formed (truncated, too large, or holding a forbidden type)."""


def _encode_value(value, blobs: list, offset: list):
    """Turn ``value`` into JSON-able data, moving array bytes into ``blobs``."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return value if abs(value) < 2 ** 63 else float(value)
    if isinstance(value, float):
        # JSON has no NaN or infinity; tag them so they survive the round trip.
        if math.isfinite(value):
            return value
        return {"__float__": repr(value)}
    if isinstance(value, np.ndarray):
        if value.dtype.str not in ALLOWED_DTYPES and value.dtype.newbyteorder("<").str not in ALLOWED_DTYPES:
            return {"__unsupported__": f"numpy.ndarray of dtype {value.dtype}"}
        # (not ascontiguousarray: it turns a 0-d array into shape (1,))
        array = value.astype(value.dtype.newbyteorder("<"), order="C", copy=False)
        data = array.tobytes()
        entry = {"__nd__": [offset[0], len(data)], "dtype": array.dtype.str,
                 "shape": list(array.shape)}
        blobs.append(data)
        offset[0] += len(data)
        return entry
    if isinstance(value, np.generic):
        if isinstance(value, (np.floating, np.integer, np.bool_)):
            array = np.asarray(value)
            return {"__scalar__": _encode_value(value.item(), blobs, offset),
                    "dtype": array.dtype.str}
        return {"__unsupported__": f"numpy scalar {type(value).__name__}"}
    if isinstance(value, tuple):
        return {"__tuple__": [_encode_value(v, blobs, offset) for v in value]}
    if isinstance(value, list):
        return [_encode_value(v, blobs, offset) for v in value]
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            return {"__unsupported__": "dict with non-string keys"}
        if any(k.startswith("__") and k.endswith("__") for k in value):
            return {"__dict__": {k: _encode_value(v, blobs, offset) for k, v in value.items()}}
        return {k: _encode_value(v, blobs, offset) for k, v in value.items()}
    return {"__unsupported__": f"{type(value).__module__}.{type(value).__qualname__}"}


class Unsupported:
    """Stands, on the receiving side, for a value that could not travel (e.g. a torch tensor)."""

    def __init__(self, description: str):
        self.description = str(description)[:200]

    def __repr__(self) -> str:
        return f"<{self.description}>"

    def __eq__(self, other):
        return isinstance(other, Unsupported) and other.description == self.description


def encode(message) -> bytes:
    """Serialize ``message`` (nested dicts, lists, tuples, numbers, strings and arrays) to a frame."""
    blobs: list[bytes] = []
    header = json.dumps(_encode_value(message, blobs, [0]), allow_nan=False).encode("utf-8")
    body_length = 4 + len(header) + sum(len(b) for b in blobs)
    if body_length > MAX_MESSAGE_BYTES:
        raise WireError(f"message of {body_length} bytes exceeds the {MAX_MESSAGE_BYTES}-byte limit")
    return b"".join([_LENGTH.pack(body_length), struct.pack("<I", len(header)), header, *blobs])


def _decode_value(node, payload: memoryview, depth: int = 0):
    if depth > 64:
        raise WireError("message nested too deeply")
    if isinstance(node, str):
        return node[:MAX_STRING_CHARS]
    if node is None or isinstance(node, (bool, int, float)):
        return node
    if isinstance(node, list):
        return [_decode_value(v, payload, depth + 1) for v in node]
    if not isinstance(node, dict):
        raise WireError(f"unexpected JSON node {type(node).__name__}")
    if "__nd__" in node:
        dtype_str = node.get("dtype")
        if dtype_str not in ALLOWED_DTYPES:
            raise WireError(f"array dtype {dtype_str!r} is not allowed")
        start, nbytes = node["__nd__"]
        shape = tuple(int(s) for s in node["shape"])
        if any(s < 0 for s in shape) or not (start >= 0 and start + nbytes <= len(payload)):
            raise WireError("array header points outside the message")
        dtype = np.dtype(dtype_str)
        if math.prod(shape) * dtype.itemsize != nbytes:
            raise WireError("array size does not match its shape")
        return np.frombuffer(payload[start:start + nbytes], dtype=dtype).reshape(shape).copy()
    if "__float__" in node:
        text = node["__float__"]
        if text not in ("nan", "inf", "-inf"):
            raise WireError(f"bad float literal {text!r}")
        return float(text)
    if "__scalar__" in node:
        dtype_str = node.get("dtype")
        if dtype_str not in ALLOWED_DTYPES:
            raise WireError(f"scalar dtype {dtype_str!r} is not allowed")
        value = _decode_value(node["__scalar__"], payload, depth + 1)
        if not isinstance(value, (bool, int, float)):
            raise WireError("scalar payload is not a number")
        return np.dtype(dtype_str).type(value)
    if "__tuple__" in node:
        return tuple(_decode_value(v, payload, depth + 1) for v in node["__tuple__"])
    if "__unsupported__" in node:
        return Unsupported(node["__unsupported__"])
    if "__dict__" in node:
        node = node["__dict__"]
    return {str(k)[:200]: _decode_value(v, payload, depth + 1) for k, v in node.items()}


def decode(body: bytes):
    """Inverse of ``encode`` for a frame without its 8-byte length prefix."""
    if len(body) < 4:
        raise WireError("truncated message")
    (header_length,) = struct.unpack_from("<I", body, 0)
    if 4 + header_length > len(body):
        raise WireError("truncated message header")
    try:
        header = json.loads(bytes(body[4:4 + header_length]).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise WireError(f"message header is not JSON: {error}") from None
    payload = memoryview(body)[4 + header_length:]
    return _decode_value(header, payload)


def write_message(fd: int, message) -> None:
    """Encode ``message`` and write all of it to the file descriptor ``fd``."""
    data = memoryview(encode(message))
    while data:
        written = os.write(fd, data)
        data = data[written:]


def read_exactly(fd: int, n: int) -> bytes:
    """Read ``n`` bytes from ``fd`` (blocking); EOFError if the other side closed first."""
    chunks = []
    while n:
        chunk = os.read(fd, min(n, 1 << 20))
        if not chunk:
            raise EOFError("the other side closed the channel")
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def read_message(fd: int):
    """Blocking read of one message from ``fd``."""
    (body_length,) = _LENGTH.unpack(read_exactly(fd, _LENGTH.size))
    if body_length > MAX_MESSAGE_BYTES or body_length < 4:
        raise WireError(f"announced message size {body_length} is out of range")
    return decode(read_exactly(fd, body_length))
