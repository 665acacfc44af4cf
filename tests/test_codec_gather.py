"""``codec.gather_be``: big-endian elements at scattered offsets, both codecs.

Also checks that ``ScanResult.values()`` (one ``codec.GatherLayout`` call)
gives what each point decodes to on its own (``res[name]``).
"""
from __future__ import annotations

import math
import struct
from array import array
from typing import Any, List, Optional, Sequence

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mmpfast import plan as plan_mod
from mmpfast.plan import ScanPlan

from conftest import load_codec

CODES = "iIfqQ?b"
WIDTH = {"i": 4, "I": 4, "f": 4, "q": 8, "Q": 8, "?": 4, "b": 4}


def key(v: Any) -> Any:
    """Comparable form of a value: floats by their bits (NaN == NaN), bools kept apart from ints."""
    if isinstance(v, float):
        return ("f", struct.pack(">d", v))
    return (type(v).__name__, v)


def keys(values: Sequence[Any]) -> List[Any]:
    return [key(v) for v in values]


def reference(buf: bytes, offsets: Sequence[int], codes: str, bits: Optional[Sequence[int]]) -> List[Any]:
    """What gather_be must return, element by element with ``struct``."""
    out: List[Any] = []
    for i, (o, c) in enumerate(zip(offsets, codes)):
        if c == "b":
            assert bits is not None
            out.append(bool((struct.unpack_from(">I", buf, o)[0] >> bits[i]) & 1))
        elif c == "?":
            out.append(struct.unpack_from(">I", buf, o)[0] != 0)
        else:
            out.append(struct.unpack_from(">" + c, buf, o)[0])
    return out


# --------------------------------------------------------------------------- values
def test_every_code_with_limits(codec: Any) -> None:
    buf = (struct.pack(">ii", -2**31, 2**31 - 1) + struct.pack(">II", 0, 2**32 - 1)
           + struct.pack(">qq", -2**63, 2**63 - 1) + struct.pack(">QQ", 0, 2**64 - 1)
           + bytes.fromhex("7fc00000 ffc00000 7f800001 7f800000 ff800000 80000000 00000001 3fc00000")
           + struct.pack(">III", 0, 1, 0x80000000))
    offsets = list(range(0, 16, 4)) + list(range(16, 48, 8)) + list(range(48, 92, 4))
    codes = "iiIIqqQQ" + "ffffffff" + "???"
    got = codec.gather_be(buf, offsets, codes)
    assert got[:8] == [-2**31, 2**31 - 1, 0, 2**32 - 1, -2**63, 2**63 - 1, 0, 2**64 - 1]
    assert all(type(v) is int for v in got[:8])
    f = got[8:16]
    assert all(type(v) is float for v in f)
    assert math.isnan(f[0]) and math.copysign(1.0, f[0]) == 1.0
    assert math.isnan(f[1]) and math.copysign(1.0, f[1]) == -1.0
    assert math.isnan(f[2])                                  # a signalling-NaN pattern is still NaN
    assert f[3] == math.inf and f[4] == -math.inf
    assert f[5] == 0.0 and math.copysign(1.0, f[5]) == -1.0  # -0.0 keeps its sign
    assert f[6] == struct.unpack(">f", bytes.fromhex("00000001"))[0] > 0   # smallest subnormal
    assert f[7] == 1.5
    assert got[16:] == [False, True, True] and all(type(v) is bool for v in got[16:])


def test_matches_unpack_be_on_runs(codec: Any) -> None:
    buf = bytes(range(7, 7 + 64))
    for c in "iIfqQ":
        w = WIDTH[c]
        got = codec.gather_be(buf, range(0, 64, w), c * (64 // w))
        assert keys(got) == keys(codec.unpack_be(buf, c))


@pytest.mark.parametrize("bit", range(32))
def test_bit_tests_for_every_bit(codec: Any, bit: int) -> None:
    word = struct.pack(">I", 1 << bit)
    inverse = struct.pack(">I", ~(1 << bit) & 0xFFFFFFFF)
    buf = word + inverse
    got = codec.gather_be(buf, [0] * 32 + [4] * 32, "b" * 64, list(range(32)) * 2)
    assert got[:32] == [i == bit for i in range(32)]
    assert got[32:] == [i != bit for i in range(32)]
    assert all(type(v) is bool for v in got)


def test_bits_may_mix_with_other_codes(codec: Any) -> None:
    buf = struct.pack(">If", 0b1010, 2.5)
    got = codec.gather_be(buf, [0, 4, 0, 0, 0], "bfb?I", [1, 0, 2, 0, 0])
    assert got == [True, 2.5, False, True, 0b1010]


def test_odd_offsets(codec: Any) -> None:
    for pad in (1, 2, 3, 5, 7):
        buf = b"\xAA" * pad + struct.pack(">ifqQI", -7, -0.25, -3, 2**64 - 2, 1 << 5)
        o = pad
        offsets = [o, o + 4, o + 8, o + 16, o + 24, o + 24]
        got = codec.gather_be(buf, offsets, "ifqQ?b", [0, 0, 0, 0, 0, 5])
        assert got == [-7, -0.25, -3, 2**64 - 2, True, True]


def test_overlapping_and_repeated_offsets(codec: Any) -> None:
    buf = bytes.fromhex("0102030405060708090a")
    got = codec.gather_be(buf, [0, 1, 2, 1, 0, 2], "IIIIqQ")
    assert got == [0x01020304, 0x02030405, 0x03040506, 0x02030405, 0x0102030405060708, 0x030405060708090A]


def test_end_of_buffer_and_empty(codec: Any) -> None:
    buf = bytes(range(1, 13))
    assert codec.gather_be(buf, [8], "I") == [0x090A0B0C]
    assert codec.gather_be(buf, [4], "Q") == [0x05060708090A0B0C]
    assert codec.gather_be(buf, [], "") == []
    assert codec.gather_be(b"", [], b"", []) == []
    assert codec.gather_be(b"", (), "", None) == []


@pytest.mark.parametrize("kind", ["list", "tuple", "array_q", "array_i", "array_B", "array_Q",
                                  "memoryview", "numpy_int64", "numpy_int32", "numpy_uint16"])
def test_offset_and_bit_containers(codec: Any, kind: str) -> None:
    buf = struct.pack(">IfI", 0x80000001, 1.25, 7)
    offsets = [0, 4, 8, 8, 0]
    bits = [31, 0, 0, 1, 1]

    def make(values: List[int]) -> Any:
        if kind == "list":
            return list(values)
        if kind == "tuple":
            return tuple(values)
        if kind.startswith("array_"):
            return array(kind[-1], values)
        if kind == "memoryview":
            return memoryview(array("q", values))
        np = pytest.importorskip("numpy")
        return np.array(values, dtype=kind.split("_")[1])
    got = codec.gather_be(buf, make(offsets), "bfIbb", make(bits))
    assert got == [True, 1.25, 7, True, False]
    assert codec.gather_be(buf, range(0, 12, 4), b"Ifi") == [0x80000001, 1.25, 7]


def test_codes_as_str_or_bytes(codec: Any) -> None:
    buf = struct.pack(">iI", -1, 5)
    assert codec.gather_be(buf, [0, 4], "iI") == codec.gather_be(buf, [0, 4], b"iI") == [-1, 5]
    assert codec.gather_be(bytearray(buf), array("q", [0, 0]), "Ii") == [2**32 - 1, -1]
    assert codec.gather_be(memoryview(buf), [4], "?") == [True]
    assert codec.gather_be(array("I", [0, 0]), [0], "?") == [False]


def test_buf_is_not_written_and_result_is_new(codec: Any) -> None:
    buf = bytearray(struct.pack(">I", 9))
    a = codec.gather_be(buf, [0], "I")
    b = codec.gather_be(buf, [0], "I")
    assert a == b == [9] and a is not b and buf == struct.pack(">I", 9)


# --------------------------------------------------------------------------- errors
BUF12 = bytes(12)


@pytest.mark.parametrize("args, exc", [
    ((BUF12, [0, 4], "I"), ValueError),                 # fewer codes than offsets
    ((BUF12, [0], "II"), ValueError),                   # more codes than offsets
    ((BUF12, [0, 4], "bb", [1]), ValueError),           # bits length mismatch
    ((BUF12, [0], "I", [1, 2]), ValueError),            # bits length mismatch (no "b" needed)
    ((BUF12, [0, 4], "Ib"), ValueError),                # "b" without bits
    ((BUF12, [9], "I"), ValueError),                    # past the end by one byte
    ((BUF12, [5], "q"), ValueError),                    # 8-byte element past the end
    ((BUF12, [5], "Q"), ValueError),
    ((BUF12, [12], "?"), ValueError),
    ((BUF12, [0, -1], "II"), ValueError),               # negative offset
    ((BUF12, [-4], "b", [0]), ValueError),
    ((BUF12, [2**63 - 1], "I"), ValueError),            # huge offsets
    ((BUF12, [2**64], "I"), ValueError),
    ((BUF12, [-2**70], "I"), ValueError),
    ((b"", [0], "I"), ValueError),
    ((BUF12, [0], "b", [32]), ValueError),              # bit outside 0..31
    ((BUF12, [0], "b", [-1]), ValueError),
    ((BUF12, [0, 0], "Ib", [99, 0]), ValueError),       # every bits entry is checked
    ((BUF12, [0], "b", [2**80]), ValueError),
    ((BUF12, [0], "x"), ValueError),                    # unknown codes
    ((BUF12, [0], "d"), ValueError),
    ((BUF12, [0], "B"), ValueError),
    ((BUF12, [0], "\u00e9"), ValueError),
    ((BUF12, [0], "\U0001F600"), ValueError),
    ((BUF12, [0], b"\xff"), ValueError),
    ((BUF12, [0], b"\x00"), ValueError),
    ((BUF12, [0, 4], "I "), ValueError),
    ((12, [0], "I"), TypeError),                        # buf not a buffer
    (("abcd", [0], "I"), TypeError),
    ((None, [0], "I"), TypeError),
    ((BUF12, [0], 73), TypeError),                      # codes not str/bytes
    ((BUF12, [0], ["I"]), TypeError),
    ((BUF12, [0], bytearray(b"I")), TypeError),
    ((BUF12, [0], None), TypeError),
    ((BUF12, None, "I"), TypeError),                    # offsets not ints
    ((BUF12, 5, "I"), TypeError),
    ((BUF12, [0.0], "I"), TypeError),
    ((BUF12, ["0"], "I"), TypeError),
    ((BUF12, [None], "I"), TypeError),
    ((BUF12, array("d", [0.0]), "I"), TypeError),
    ((BUF12, [0], "b", 3), TypeError),                  # bits not ints
    ((BUF12, [0], "b", [1.0]), TypeError),
    ((BUF12, [0], "b", "1"), TypeError),
])
def test_errors(codec: Any, args: tuple, exc: type) -> None:
    with pytest.raises(exc):
        codec.gather_be(*args)


def test_error_checks_come_before_any_work(codec: Any) -> None:
    """A bad last element fails the whole call, whatever precedes it."""
    n = 1000
    offsets = list(range(0, 4 * n, 4))
    buf = bytes(4 * n)
    with pytest.raises(ValueError):
        codec.gather_be(buf, offsets[:-1] + [4 * n - 3], "f" * n)
    with pytest.raises(ValueError):
        codec.gather_be(buf, offsets, "f" * (n - 1) + "z")
    with pytest.raises(ValueError):
        codec.gather_be(buf, offsets, "b" * n, [0] * (n - 1) + [32])


def test_non_contiguous_buf(codec: Any) -> None:
    mv = memoryview(bytes(16))[::2]
    with pytest.raises(TypeError):
        codec.gather_be(mv, [0], "I")


def test_numpy_float_offsets_refused(codec: Any) -> None:
    np = pytest.importorskip("numpy")
    with pytest.raises(TypeError):
        codec.gather_be(BUF12, np.array([0.0]), "I")
    assert codec.gather_be(struct.pack(">I", 3), np.array([0], dtype=np.int64), "I") == [3]


@pytest.mark.parametrize("args", [
    (BUF12, [0, 4], "I"), (BUF12, [0], "I", [1, 2]), (BUF12, [0, 4], "Ib"), (BUF12, [9], "I"),
    (BUF12, [5], "q"), (BUF12, [0, -1], "II"), (BUF12, [0], "b", [32]), (BUF12, [0], "x"),
    (BUF12, [0], b"\xff"), (BUF12, [0], "\u00e9"), (BUF12, [0], 73), (BUF12, [0.5], "I"),
    (BUF12, [0, 99, 0], "Ixb", [40, 0, 0]),
])
def test_same_error_in_both_codecs(codec_pair: Any, args: tuple) -> None:
    a, b = codec_pair
    with pytest.raises(Exception) as ea:
        a.gather_be(*args)
    with pytest.raises(Exception) as eb:
        b.gather_be(*args)
    assert type(ea.value) is type(eb.value)
    assert type(ea.value) in (ValueError, TypeError)
    assert str(ea.value) == str(eb.value)


# --------------------------------------------------------------------------- properties
@st.composite
def gathers(draw: Any) -> tuple:
    buf = draw(st.binary(min_size=0, max_size=64))
    n = draw(st.integers(0, 40))
    codes = ""
    offsets = []
    for _ in range(n):
        c = draw(st.sampled_from([c for c in CODES if WIDTH[c] <= len(buf)] or ["I"]))
        if WIDTH[c] > len(buf):
            break
        codes += c
        offsets.append(draw(st.integers(0, len(buf) - WIDTH[c])))
    bits = draw(st.none() | st.lists(st.integers(0, 31), min_size=len(offsets), max_size=len(offsets)))
    if bits is None and "b" in codes:
        bits = [draw(st.integers(0, 31)) for _ in offsets]
    as_bytes = draw(st.booleans())
    return buf, offsets, codes.encode() if as_bytes else codes, bits


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(gathers())
def test_property_both_codecs_agree(case: tuple) -> None:
    buf, offsets, codes, bits = case
    got = {name: load_codec(name).gather_be(buf, offsets, codes, bits) for name in ("cython", "python")}
    text = codes.decode() if isinstance(codes, bytes) else codes
    want = keys(reference(buf, offsets, text, bits))
    assert keys(got["python"]) == want
    assert keys(got["cython"]) == want


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(buf=st.binary(max_size=24),
       offsets=st.lists(st.integers(-3, 30), max_size=6),
       codes=st.text(alphabet="iIfqQ?bxZ\u00e9", max_size=7),
       bits=st.none() | st.lists(st.integers(-2, 40), max_size=7))
def test_property_any_input_same_outcome(buf: bytes, offsets: List[int], codes: str,
                                         bits: Optional[List[int]]) -> None:
    outcomes = []
    for name in ("cython", "python"):
        try:
            outcomes.append(("ok", keys(load_codec(name).gather_be(buf, offsets, codes, bits))))
        except (ValueError, TypeError) as exc:
            outcomes.append((type(exc).__name__, str(exc)))
    assert outcomes[0] == outcomes[1]


# --------------------------------------------------------------------------- scan decoding
def mixed_plan() -> ScanPlan:
    """Gatherable and other points interleaved, several element types."""
    p = ScanPlan()
    p.add_digital(0, 3)
    p.add_scratchpad_int32(5, 3)                 # multi-element run: not gathered
    p.add_analog(1, 2)
    p.add_status("uptime_ms_64")                 # "Q" scalar
    p.add_status("powerup_clear_needed")         # "?"
    p.add_digital(0, 31)
    p.add_digital(2, 40)                         # channel >= 32: a "bool" point
    p.add_status("firmware")                     # fmt
    p.add_scratchpad_int64(3)                    # count-1 run, "q"
    p.add_scratchpad_float(9)                    # count-1 run, "f"
    p.add_scratchpad_int32(10)                   # count-1 run, "i"
    p.add_digital_counter(3, 1)
    p.add_analog_channel(1, 4)
    p.add_digital_channel(0, 5)
    p.add_raw(0xF0300000, 6)
    p.add_analog(15, 31, name="last")
    return p.freeze()


def random_buffer(p: ScanPlan, seed: int) -> bytearray:
    import random
    rng = random.Random(seed)
    return bytearray(rng.getrandbits(8) for _ in range(p.buffer_size))


def same(a: Any, b: Any) -> bool:
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, float) or isinstance(b, float):
        return key(a) == key(b)
    return type(a) is type(b) and bool(a == b)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_values_match_single_point_decoding(codec: Any, monkeypatch: pytest.MonkeyPatch, seed: int) -> None:
    monkeypatch.setattr(plan_mod, "codec", codec)
    p = mixed_plan()
    assert type(p._layout).__module__ == codec.__name__      # built with the codec loaded at freeze
    res = p.result(random_buffer(p, seed))
    single = {n: res[n] for n in p.names}
    got = res.values()
    assert list(got) == list(p.names)
    for n in p.names:
        assert same(got[n], single[n]), n


class SpyCodec:
    """A codec whose layouts count their decode calls (the real layouts do the work)."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.layouts: List["SpyLayout"] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def GatherLayout(self, *args: Any) -> "SpyLayout":
        layout = SpyLayout(self.real.GatherLayout(*args))
        self.layouts.append(layout)
        return layout


class SpyLayout:
    def __init__(self, real: Any) -> None:
        self.real = real
        self.calls: List[str] = []

    def decode(self, buf: Any) -> Any:
        self.calls.append("decode")
        return self.real.decode(buf)

    def decode_list(self, buf: Any) -> Any:
        self.calls.append("decode_list")
        return self.real.decode_list(buf)


@pytest.mark.parametrize("impl", ["cython", "python"])
def test_layouts_built_once_and_values_is_one_call(impl: str, monkeypatch: pytest.MonkeyPatch) -> None:
    spy = SpyCodec(load_codec(impl))
    monkeypatch.setattr(plan_mod, "codec", spy)
    p = mixed_plan()
    assert len(spy.layouts) == len(p.names) + 1            # one per point, one for the plan
    whole = p._layout
    assert isinstance(whole, SpyLayout) and len(whole.real) == len(p.names)
    buf = random_buffer(p, 9)
    for _ in range(3):
        p.result(buf).values()
    assert len(spy.layouts) == len(p.names) + 1            # nothing rebuilt per pass
    assert whole.calls == ["decode"] * 3
    assert all(not lay.calls for lay in spy.layouts if lay is not whole)
    p.result(buf)["last"]
    assert p._by_name["last"].layout.calls == ["decode_list"]
    assert whole.calls == ["decode"] * 3


def test_all_gatherable_plan(codec: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(plan_mod, "codec", codec)
    p = ScanPlan()
    for m in range(16):
        for c in range(32):
            p.add_digital(m, c)
            p.add_analog(m, c)
    p.freeze()
    buf = random_buffer(p, 5)
    res = p.result(buf)
    got = res.values()
    assert len(got) == 1024
    for m in (0, 7, 15):
        word = struct.unpack_from(">I", buf, 2048 + 4 * m)[0]
        for c in (0, 13, 31):
            assert got[f"digital[{m}][{c}]"] is bool((word >> c) & 1)
            v = struct.unpack_from(">f", buf, 128 * m + 4 * c)[0]
            assert key(got[f"analog[{m}][{c}]"]) == key(v)
    assert all(same(got[n], res[n]) for n in p.names)
