"""Bulk big-endian helpers: unpack_be, pack_be, unpack_be_into, pack_be_from."""
from __future__ import annotations

import math
import struct
from array import array
from typing import Any, List

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

FIXTURE_OK = settings(suppress_health_check=[HealthCheck.function_scoped_fixture],
                      deadline=None, max_examples=80)

LIMITS = {"i": (-(2 ** 31), 2 ** 31 - 1), "I": (0, 2 ** 32 - 1),
          "q": (-(2 ** 63), 2 ** 63 - 1), "Q": (0, 2 ** 64 - 1)}
NP = {"i": np.int32, "I": np.uint32, "f": np.float32, "q": np.int64, "Q": np.uint64}


@pytest.mark.parametrize("tc", ["i", "I", "q", "Q"])
def test_int_limits_roundtrip(codec: Any, tc: str) -> None:
    lo, hi = LIMITS[tc]
    vals = [lo, hi, 0, 1, hi // 3]
    raw = codec.pack_be(vals, tc)
    assert raw == struct.pack(f">5{tc}", *vals)
    assert codec.unpack_be(raw, tc) == vals
    with pytest.raises(ValueError):
        codec.pack_be([hi + 1], tc)
    with pytest.raises(ValueError):
        codec.pack_be(lo - 1, tc)
    with pytest.raises(ValueError):
        codec.pack_be([2 ** 200], tc)


def test_known_bytes(codec: Any) -> None:
    assert codec.pack_be(-123456, "i") == bytes.fromhex("FFFE1DC0")
    assert codec.unpack_be(bytes.fromhex("FFFE1DC0"), "i") == [-123456]
    assert codec.unpack_be(bytes.fromhex("FFFE1DC0"), "I") == [0xFFFE1DC0]
    assert codec.pack_be([1.5, -2.25, 0.0], "f") == bytes.fromhex("3FC00000C010000000000000")
    assert codec.unpack_be(bytes.fromhex("41780000"), "f") == [15.5]
    assert codec.pack_be(1, "Q") == bytes(7) + b"\x01"
    assert codec.pack_be((), "q") == b""
    assert codec.unpack_be(b"", "f") == []


def test_float32_limits(codec: Any) -> None:
    fmax = struct.unpack(">f", bytes.fromhex("7F7FFFFF"))[0]
    assert codec.pack_be(fmax, "f") == bytes.fromhex("7F7FFFFF")
    assert codec.pack_be([math.inf, -math.inf], "f") == bytes.fromhex("7F800000FF800000")
    nan = codec.unpack_be(codec.pack_be(math.nan, "f"), "f")[0]
    assert math.isnan(nan)
    for big in (3.5e38, -1e39, 1e300, 10 ** 400):
        with pytest.raises(ValueError):
            codec.pack_be([big], "f")
    assert codec.pack_be([1, True, np.float32(2.5), np.int64(3)], "f") == struct.pack(">4f", 1, 1, 2.5, 3)


@pytest.mark.parametrize("tc", ["i", "I", "q", "Q", "f"])
def test_wrong_types(codec: Any, tc: str) -> None:
    for bad in ("1", b"1", None, [[1]], object()):
        with pytest.raises(TypeError):
            codec.pack_be([bad], tc)
    if tc != "f":
        with pytest.raises(TypeError):
            codec.pack_be([1.0], tc)
    with pytest.raises(ValueError):
        codec.unpack_be(b"\x00" * 3, tc)                       # not whole elements
    with pytest.raises(ValueError):
        codec.pack_be_from(b"\x00" * 5, tc)
    with pytest.raises(TypeError):
        codec.unpack_be(memoryview(bytes(16))[::2], tc)


@pytest.mark.parametrize("bad", ["d", "b", "", None, 4, ["i"]])
def test_bad_typecode(codec: Any, bad: Any) -> None:
    with pytest.raises(ValueError):
        codec.unpack_be(bytes(8), bad)
    with pytest.raises(ValueError):
        codec.pack_be([1], bad)
    with pytest.raises(ValueError):
        codec.unpack_be_into(bytes(8), bytearray(8), bad)
    with pytest.raises(ValueError):
        codec.pack_be_from(bytes(8), bad)


@pytest.mark.parametrize("tc", ["i", "I", "q", "Q", "f"])
def test_into_and_from_arrays_and_numpy(codec: Any, tc: str) -> None:
    vals: List[Any] = [1.5, -2.0, 1e-3, 3e38] if tc == "f" else [LIMITS[tc][0], 7, LIMITS[tc][1], 0]
    raw = codec.pack_be(vals, tc)
    arr = array(tc, [0] * 4)
    assert codec.unpack_be_into(raw, arr, tc) == 4
    nat = np.zeros(4, dtype=NP[tc])
    assert codec.unpack_be_into(memoryview(raw), nat, tc) == 4
    big = np.frombuffer(raw, dtype=np.dtype(NP[tc]).newbyteorder(">"))
    assert nat.tolist() == big.tolist() == arr.tolist()
    if tc == "f":
        assert arr.tolist() == [struct.unpack("f", struct.pack("f", v))[0] for v in vals]
    else:
        assert arr.tolist() == vals
    assert codec.pack_be_from(arr, tc) == raw
    assert codec.pack_be_from(nat, tc) == raw
    assert codec.pack_be(nat, tc) == raw                     # numpy scalars as values
    assert codec.unpack_be(big, tc) == big.tolist()           # any buffer as input
    # bigger dest: only the first bytes change; too small: ValueError, untouched
    dest = bytearray(b"\xAB" * (len(raw) + 3))
    assert codec.unpack_be_into(raw, dest, tc) == 4
    assert dest[len(raw):] == b"\xAB" * 3
    small = bytearray(len(raw) - 1)
    with pytest.raises(ValueError):
        codec.unpack_be_into(raw, small, tc)
    assert small == bytearray(len(raw) - 1)
    with pytest.raises(TypeError):
        codec.unpack_be_into(raw, bytes(len(raw)), tc)        # read-only dest
    with pytest.raises(TypeError):
        codec.unpack_be_into(raw, memoryview(bytearray(len(raw))).toreadonly(), tc)


def test_unpack_into_in_place(codec: Any) -> None:
    buf = bytearray(codec.pack_be([1, 2, 3], "I"))
    assert codec.unpack_be_into(buf, buf, "I") == 3
    assert array("I", bytes(buf)).tolist() == [1, 2, 3]


@FIXTURE_OK
@given(vals=st.lists(st.floats(width=32), max_size=50))
def test_float_roundtrip(codec: Any, vals: List[float]) -> None:
    raw = codec.pack_be(vals, "f")
    assert raw == struct.pack(f">{len(vals)}f", *vals)
    back = codec.unpack_be(raw, "f")
    assert struct.pack(f">{len(back)}f", *back) == raw


@FIXTURE_OK
@given(tc=st.sampled_from(["i", "I", "q", "Q"]), data=st.data())
def test_int_roundtrip(codec: Any, tc: str, data: st.DataObject) -> None:
    lo, hi = LIMITS[tc]
    vals = data.draw(st.lists(st.integers(lo, hi), max_size=40))
    raw = codec.pack_be(vals, tc)
    assert raw == struct.pack(f">{len(vals)}{tc}", *vals)
    assert codec.unpack_be(raw, tc) == vals
    assert codec.unpack_be(codec.pack_be_from(array(tc, vals), tc), tc) == vals
