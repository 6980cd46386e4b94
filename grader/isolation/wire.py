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

import hashlib
import json
import math
import os
import struct

import numpy as np

MAX_MESSAGE_BYTES = 512 * 1024 * 1024
"""The largest message either side accepts; a bigger one is refused before it is read."""

MAX_DEPTH = 64
"""The deepest nesting of lists, dicts and tags that is decoded."""

MAX_STRING_CHARS = 20_000
"""Strings from the student side longer than this are cut, so a message cannot flood a report."""

ALLOWED_DTYPES = frozenset(
    np.dtype(name).str
    for name in ("bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32",
                 "uint64", "float16", "float32", "float64")
)

MAX_INPUT_ARRAYS = 256
"""At most this many arrays of one request's inputs are digested (see ``array_leaves``): the
evidence a reply carries about its inputs stays a few KiB whatever the request holds."""

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
        # (the keys keep their order: a reply starts with its "id", see id_prefix)
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


def id_prefix(request_id: str) -> bytes:
    """How the JSON of every message about request ``request_id`` starts (a dict whose first
    key is ``"id"``; see ``encode``). The grader reads this much of a message to tell whether
    it belongs to the current request before it reads or decodes the rest."""
    return b'{"id": ' + json.dumps(request_id).encode("utf-8")


def _integer(value, what: str) -> int:
    if type(value) is not int or not 0 <= value < 2 ** 63:
        raise WireError(f"{what} is not a non-negative integer")
    return value


def _decode_array(node: dict, payload: memoryview) -> np.ndarray:
    dtype_str = node.get("dtype")
    if not isinstance(dtype_str, str) or dtype_str not in ALLOWED_DTYPES:
        raise WireError(f"array dtype {str(dtype_str)[:40]!r} is not allowed")
    place, shape = node["__nd__"], node.get("shape")
    if not (isinstance(place, list) and len(place) == 2 and isinstance(shape, list)
            and len(shape) <= MAX_DEPTH):
        raise WireError("array header of the wrong form")
    start, nbytes = (_integer(v, "array offset") for v in place)
    shape = tuple(_integer(s, "array dimension") for s in shape)
    if start + nbytes > len(payload):
        raise WireError("array header points outside the message")
    dtype = np.dtype(dtype_str)
    if math.prod(shape) * dtype.itemsize != nbytes:
        raise WireError("array size does not match its shape")
    return np.frombuffer(payload[start:start + nbytes], dtype=dtype).reshape(shape).copy()


def _decode_value(node, payload: memoryview, depth: int = 0):
    if depth > MAX_DEPTH:
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
        return _decode_array(node, payload)
    if "__float__" in node:
        text = node["__float__"]
        if text not in ("nan", "inf", "-inf"):
            raise WireError(f"bad float literal {text!r}")
        return float(text)
    if "__scalar__" in node:
        dtype_str = node.get("dtype")
        if not isinstance(dtype_str, str) or dtype_str not in ALLOWED_DTYPES:
            raise WireError(f"scalar dtype {str(dtype_str)[:40]!r} is not allowed")
        value = _decode_value(node["__scalar__"], payload, depth + 1)
        if not isinstance(value, (bool, int, float)):
            raise WireError("scalar payload is not a number")
        return np.dtype(dtype_str).type(value)
    if "__tuple__" in node:
        if not isinstance(node["__tuple__"], list):
            raise WireError("a tuple that is not a list")
        return tuple(_decode_value(v, payload, depth + 1) for v in node["__tuple__"])
    if "__unsupported__" in node:
        return Unsupported(node["__unsupported__"])
    if "__dict__" in node:
        node = node["__dict__"]
        if not isinstance(node, dict):
            raise WireError("a tagged dict that is not a dict")
    return {str(k)[:200]: _decode_value(v, payload, depth + 1) for k, v in node.items()}


def decode(body: bytes):
    """Inverse of ``encode`` for a frame without its 8-byte length prefix."""
    if len(body) < 4:
        raise WireError("truncated message")
    (header_length,) = struct.unpack_from("<I", body, 0)
    if 4 + header_length > len(body):
        raise WireError("truncated message header")
    view = memoryview(body)
    return decode_parts(view[4:4 + header_length], view[4 + header_length:])


def decode_parts(header: bytes, payload: bytes):
    """Decode a message from its JSON header and the array bytes after it. Whatever the bytes,
    the only exception is WireError: a wrongly typed tag, a number too long to convert, nesting
    deeper than the JSON parser's recursion limit all end here."""
    try:
        return _decode_value(json.loads(bytes(header).decode("utf-8")), memoryview(payload))
    except WireError:
        raise
    except (ValueError, TypeError, KeyError, IndexError, OverflowError, RecursionError,
            MemoryError) as error:   # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise WireError(f"undecodable message: {type(error).__name__}: {str(error)[:200]}") from None


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


def array_leaves(value, path: tuple = ()) -> list[tuple[tuple, np.ndarray]]:
    """The numpy arrays inside ``value`` with their paths (list and tuple indices, dict keys),
    in a fixed order: lists and tuples in order, dicts in their key order (which the wire
    keeps). At most ``MAX_INPUT_ARRAYS`` arrays, nesting at most ``MAX_DEPTH``. The grader and
    the worker walk the same request fields with it, so their paths name the same arrays."""
    found: list[tuple[tuple, np.ndarray]] = []

    def walk(node, where: tuple) -> None:
        if len(found) >= MAX_INPUT_ARRAYS or len(where) > MAX_DEPTH:
            return
        if isinstance(node, np.ndarray):
            found.append((where, node))
        elif isinstance(node, (list, tuple)):
            for index, item in enumerate(node):
                walk(item, (*where, index))
        elif isinstance(node, dict):
            for key, item in node.items():
                if isinstance(key, str):
                    walk(item, (*where, key))

    walk(value, tuple(path))
    return found


def array_digest(array: np.ndarray) -> str:
    """A digest of an array's dtype, shape and values, as the wire carries them (little-endian,
    C order): equal for an array before encoding and after decoding, different after any change
    to a value, the shape or the dtype."""
    canonical = array.astype(array.dtype.newbyteorder("<"), copy=False)
    digest = hashlib.blake2b(digest_size=16)
    digest.update(f"{canonical.dtype.str}{canonical.shape}".encode())
    digest.update(canonical.tobytes(order="C"))
    return digest.hexdigest()
