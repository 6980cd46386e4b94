"""The plain-data format: round trips, and refusal of anything that is not plain data."""
import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from grader.isolation import wire

DTYPES = st.sampled_from(["float64", "float32", "int64", "int32", "uint8", "bool", "float16"])
arrays = DTYPES.flatmap(lambda dtype: hnp.arrays(dtype, hnp.array_shapes(min_dims=0, max_dims=3,
                                                                          max_side=5)))
leaves = st.one_of(st.none(), st.booleans(), st.integers(-2 ** 62, 2 ** 62),
                   st.floats(allow_nan=False), st.text(max_size=20), arrays)
values = st.recursive(leaves, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.tuples(inner, inner),
    st.dictionaries(st.text(max_size=8), inner, max_size=4)), max_leaves=12)


def same(a, b) -> bool:
    if isinstance(a, np.ndarray):
        return (isinstance(b, np.ndarray) and a.dtype == b.dtype and a.shape == b.shape
                and np.array_equal(a, b, equal_nan=a.dtype.kind == "f"))
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(map(same, a, b))
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return a == b and type(a) is type(b)


@settings(derandomize=True, max_examples=200, deadline=None)
@given(values)
def test_round_trip(value):
    assert same(wire.decode(wire.encode(value)[8:]), value)


def test_special_floats_and_numpy_scalars_survive():
    message = {"nan": float("nan"), "inf": float("-inf"), "scalar": np.float32(2.5),
               "__nd__": 1}  # a key that looks like a tag must stay a plain key
    decoded = wire.decode(wire.encode(message)[8:])
    assert np.isnan(decoded["nan"]) and decoded["inf"] == float("-inf")
    assert isinstance(decoded["scalar"], np.float32) and decoded["scalar"] == 2.5
    assert decoded["__nd__"] == 1


def test_objects_never_travel():
    class Evil:
        def __reduce__(self):
            raise AssertionError("must not be pickled")

    decoded = wire.decode(wire.encode({"a": Evil(), "b": np.array([object()], dtype=object),
                                       "c": {1: 2}})[8:])
    assert all(isinstance(decoded[k], wire.Unsupported) for k in "abc")
    assert "Evil" in decoded["a"].description and "object" in decoded["b"].description


def forged(header: dict, payload: bytes = b"") -> bytes:
    import json
    text = json.dumps(header).encode()
    return struct.pack("<I", len(text)) + text + payload


@pytest.mark.parametrize("header, payload, words", [
    ({"__nd__": [0, 8], "dtype": "|O", "shape": [1]}, b"\0" * 8, "not allowed"),
    ({"__nd__": [0, 16], "dtype": "<f8", "shape": [1]}, b"\0" * 8, "outside"),
    ({"__nd__": [0, 8], "dtype": "<f8", "shape": [2]}, b"\0" * 8, "does not match"),
    ({"__float__": "__import__('os')"}, b"", "bad float"),
    ({"__scalar__": "x", "dtype": "<f8"}, b"", "not a number"),
])
def test_forged_messages_are_refused(header, payload, words):
    with pytest.raises(wire.WireError, match=words):
        wire.decode(forged(header, payload))


def test_truncated_and_oversized_messages_are_refused():
    with pytest.raises(wire.WireError):
        wire.decode(b"\x10\x00")
    with pytest.raises(wire.WireError):
        wire.decode(struct.pack("<I", 100) + b"{}")
    with pytest.raises(wire.WireError, match="exceeds"):
        original = wire.MAX_MESSAGE_BYTES
        wire.MAX_MESSAGE_BYTES = 100
        try:
            wire.encode(np.zeros(100))
        finally:
            wire.MAX_MESSAGE_BYTES = original


@pytest.mark.parametrize("header", [
    b'{"__nd__": "start", "dtype": "<f8", "shape": "wide"}',    # wrongly typed array header
    b'{"__nd__": [0, 8], "dtype": "<f8", "shape": [true]}',     # a boolean for a dimension
    b'{"__nd__": [0, 8], "dtype": "<f8"}',                      # no shape
    b'{"__nd__": [-8, 8], "dtype": "<f8", "shape": [1]}',       # negative offset
    b'{"__nd__": [0, 8], "dtype": ["<f8"], "shape": [1]}',      # an unhashable dtype
    b"[" + b"1" * 5000 + b"]",                                  # a 5,000-digit integer
    b"[" * 100_000 + b"]" * 100_000,                            # nesting past the JSON parser
    b"[" * 70 + b"]" * 70,                                      # nesting past MAX_DEPTH
    b'{"__scalar__": 100000, "dtype": "|i1"}',                  # out of the dtype's range
    b'{"__tuple__": 5}', b'{"__dict__": [1]}', b"\xff\xfe",     # tags of the wrong type, not UTF-8
])
def test_any_malformed_header_is_a_wire_error(header):
    # Seen: a wrongly typed header, a 5,000-digit integer and deep nesting escaped the decoder.
    with pytest.raises(wire.WireError):
        wire.decode(struct.pack("<I", len(header)) + header + b"\0" * 8)


def test_a_message_starts_with_its_id():
    frame = wire.encode({"id": "0123abcd", "ok": True, "value": np.zeros(3)})
    header = frame[12:]
    assert header.startswith(wire.id_prefix("0123abcd"))
    assert not header.startswith(wire.id_prefix("0123abc"))
