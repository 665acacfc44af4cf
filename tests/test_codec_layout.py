"""``codec.GatherLayout``: a precomputed many-values decode, identical on both codecs."""
from __future__ import annotations

import struct
from array import array
from typing import Any, Callable, List, Optional, Sequence

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mmpfast.records import AnalogChannel, DigitalChannel

from conftest import load_codec

WIDTH = {"i": 4, "I": 4, "f": 4, "q": 8, "Q": 8, "?": 4, "b": 4}


def key(v: Any) -> Any:
    """Comparable form: floats by their bits (NaN == NaN), bools apart from ints, containers by items."""
    if isinstance(v, float):
        return ("f", struct.pack(">d", v))
    if isinstance(v, (list, tuple)):
        return (type(v).__name__, [key(x) for x in v])
    if isinstance(v, (DigitalChannel, AnalogChannel)):
        return (type(v).__name__, [key(x) for x in vars(v).values()])
    return (type(v).__name__, v)


def field(buf: bytes, code: str, offset: int, arg: int) -> Any:
    """One field decoded with ``struct`` (the reference)."""
    if code == "y":
        return bytes(buf[offset:offset + arg])
    if code == "b":
        return bool((struct.unpack_from(">I", buf, offset)[0] >> arg) & 1)
    if code == "?":
        return struct.unpack_from(">I", buf, offset)[0] != 0
    return struct.unpack_from(">" + code, buf, offset)[0]


def reference(buf: bytes, keys: Sequence[Any], codes: str, offsets: Sequence[int], args: Sequence[int],
              counts: Sequence[int], makers: Sequence[Optional[Callable[..., Any]]]) -> List[Any]:
    out: List[Any] = []
    j = 0
    for n, mk in zip(counts, makers):
        vals = [field(buf, codes[j + t], offsets[j + t], args[j + t]) for t in range(n)]
        out.append(vals[0] if mk is None else list(vals) if mk is list else mk(*vals))
        j += n
    return out


BUF = bytes(range(1, 41))


def test_every_code_and_value(codec: Any) -> None:
    buf = struct.pack(">iIfqQII", -2, 0xFFFFFFFF, 1.5, -(1 << 63), (1 << 64) - 1, 0, 0x80000001) + b"xyz"
    layout = codec.GatherLayout(list("abcdefghij"), "iIfqQ?bb?y", [0, 4, 8, 12, 20, 28, 32, 32, 32, 36],
                                [0, 0, 0, 0, 0, 0, 31, 1, 0, 3])
    got = layout.decode(buf)
    assert list(got) == list("abcdefghij")
    assert [key(v) for v in got.values()] == [key(v) for v in [
        -2, 0xFFFFFFFF, 1.5, -(1 << 63), (1 << 64) - 1, False, True, False, True, b"xyz"]]
    assert layout.decode_list(buf) == list(got.values())
    assert layout.size == 39 and len(layout) == 10 and layout.keys == tuple("abcdefghij")


def test_items_single_list_and_maker(codec: Any) -> None:
    slot = struct.pack(">IIIIII", 1, 0, 7, 3, 99, 30)
    ana = struct.pack(">ffffI", 2.5, 0.0, -1.0, 4.0, 0)
    buf = slot + ana
    layout = codec.GatherLayout(
        ["dig", "ana", "run", "one", "fmt"],
        "???III" + "fffI" + "II" + "I" + "y",
        [0, 4, 8, 12, 16, 20, 24, 32, 36, 40, 16, 20, 16, 8],
        [0] * 13 + [4],
        [6, 4, 2, 1, 1],
        [DigitalChannel, AnalogChannel, list, None, lambda b: b.hex()])
    got = layout.decode(buf)
    assert got == {"dig": DigitalChannel(True, False, True, 3, 99, 30),
                   "ana": AnalogChannel(2.5, -1.0, 4.0, 0),
                   "run": [99, 30], "one": 99, "fmt": "00000007"}
    assert layout.decode_list(buf) == list(got.values())


def test_results_are_new_and_buf_untouched(codec: Any) -> None:
    buf = bytearray(BUF)
    layout = codec.GatherLayout(["a", "b"], "Iy", [0, 4], [0, 4], None, [list, None])
    a, b = layout.decode(buf), layout.decode(buf)
    assert a == b and a is not b and a["a"] is not b["a"]
    assert layout.decode_list(buf) is not layout.decode_list(buf)
    assert buf == BUF


def test_buffers_of_any_kind(codec: Any) -> None:
    layout = codec.GatherLayout(["x"], "I", [4])
    want = struct.unpack_from(">I", BUF, 4)[0]
    for buf in (BUF, bytearray(BUF), memoryview(BUF), array("B", BUF), memoryview(array("I", BUF)).cast("B")):
        assert layout.decode(buf) == {"x": want}
    assert codec.GatherLayout(["x"], "I", [0]).decode(array("I", [0x01000000])) == {"x": 1}


def test_empty_layout(codec: Any) -> None:
    layout = codec.GatherLayout([], "", [])
    assert layout.decode(b"") == {} and layout.decode_list(b"") == [] and layout.size == 0


def test_short_and_bad_buffers(codec: Any) -> None:
    layout = codec.GatherLayout(["x"], "q", [4])
    assert layout.size == 12
    with pytest.raises(ValueError, match="buf holds 11 bytes, the layout needs 12"):
        layout.decode(bytes(11))
    with pytest.raises(ValueError):
        layout.decode_list(bytes(11))
    with pytest.raises(TypeError):
        layout.decode("not bytes")
    with pytest.raises(TypeError):
        layout.decode(memoryview(bytes(24))[::2])       # not contiguous


def test_maker_errors_propagate(codec: Any) -> None:
    def boom(*_: Any) -> Any:
        raise ZeroDivisionError("maker")
    layout = codec.GatherLayout(["x"], "I", [0], None, None, [boom])
    with pytest.raises(ZeroDivisionError):
        layout.decode(BUF)


def test_immutable(codec: Any) -> None:
    layout = codec.GatherLayout(["x"], "I", [0])
    with pytest.raises(TypeError):
        layout.__init__(["y"], "I", [4])
    assert layout.decode(BUF) == {"x": 0x01020304}


BAD = [
    (([], 7, []), TypeError),                                   # codes not str/bytes
    ((["a"], "I", [0, 4]), ValueError),                          # offsets count
    ((["a"], "I", [0], [0, 0]), ValueError),                     # args count
    ((["a"], "I", ["0"]), TypeError),                           # offset not an int
    ((["a"], "I", 5), TypeError),                               # offsets not a sequence
    ((["a"], "I", [-1]), ValueError),
    ((["a"], "I", [1 << 63]), ValueError),
    ((["a"], "x", [0]), ValueError),                            # unknown code
    ((["a"], "\u00e9", [0]), ValueError),
    ((["a"], "b", [0], [32]), ValueError),                      # bit out of range
    ((["a"], "b", [0], [-1]), ValueError),
    ((["a"], "y", [0], [-1]), ValueError),
    ((["a", "b"], "I", [0]), ValueError),                        # counts add up wrong
    ((["a"], "II", [0, 4]), ValueError),                         # two fields, no maker
    ((["a"], "II", [0, 4], None, [2]), ValueError),
    ((["a"], "I", [0], None, [0, 1]), ValueError),               # counts length
    ((["a"], "I", [0], None, [0]), ValueError),                  # count 0
    ((["a"], "I", [0], None, None, [None, None]), ValueError),   # makers length
    ((["a"], "I", [0], None, None, [5]), TypeError),             # maker not callable
    ((["a"], "I", [0], None, None, 5), TypeError),               # makers not a sequence
    ((5, "I", [0]), TypeError),                                  # keys not a sequence
]


@pytest.mark.parametrize("args,exc", BAD)
def test_bad_descriptions_same_error_in_both_codecs(args: tuple, exc: type) -> None:
    errors = []
    for name in ("cython", "python"):
        with pytest.raises(exc) as e:
            load_codec(name).GatherLayout(*args)
        errors.append(str(e.value))
    assert errors[0] == errors[1]


# --------------------------------------------------------------------------- properties
def as_tuple(*values: Any) -> tuple:
    return values


MAKERS: List[Any] = [list, as_tuple, lambda *v: [key(x) for x in v]]


@st.composite
def layouts(draw: Any) -> tuple:
    buf = draw(st.binary(min_size=8, max_size=64))
    keys: List[str] = []
    codes = ""
    offsets: List[int] = []
    args: List[int] = []
    counts: List[int] = []
    makers: List[Any] = []
    for i in range(draw(st.integers(0, 12))):
        n = draw(st.integers(1, 4))
        for _ in range(n):
            c = draw(st.sampled_from("iIfqQ?by"))
            if c == "y":
                length = draw(st.integers(0, len(buf)))
                offsets.append(draw(st.integers(0, len(buf) - length)))
                args.append(length)
            else:
                offsets.append(draw(st.integers(0, len(buf) - WIDTH[c])))
                args.append(draw(st.integers(0, 31)) if c == "b" else 0)
            codes += c
        keys.append(f"k{i}")
        counts.append(n)
        makers.append(draw(st.sampled_from(MAKERS)) if n > 1 else draw(st.sampled_from([None] + MAKERS)))
    as_bytes = draw(st.booleans())
    return buf, keys, codes.encode() if as_bytes else codes, offsets, args, counts, makers


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(layouts())
def test_property_both_codecs_match_struct(case: tuple) -> None:
    buf, keys, codes, offsets, args, counts, makers = case
    text = codes.decode() if isinstance(codes, bytes) else codes
    want = [key(v) for v in reference(buf, keys, text, offsets, args, counts, makers)]
    for name in ("cython", "python"):
        layout = load_codec(name).GatherLayout(keys, codes, offsets, args, counts, makers)
        got = layout.decode(buf)
        assert list(got) == keys
        assert [key(v) for v in got.values()] == want, name
        assert [key(v) for v in layout.decode_list(buf)] == want, name


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(buf=st.binary(max_size=24),
       offsets=st.lists(st.integers(-3, 30), max_size=6),
       codes=st.text(alphabet="iIfqQ?byxZ", max_size=6),
       args=st.none() | st.lists(st.integers(-2, 40), max_size=6),
       counts=st.none() | st.lists(st.integers(0, 3), max_size=4))
def test_property_any_input_same_outcome(buf: bytes, offsets: List[int], codes: str,
                                         args: Optional[List[int]], counts: Optional[List[int]]) -> None:
    keys = [f"k{i}" for i in range(len(counts) if counts is not None else len(codes))]
    makers = None if counts is None else [list] * len(counts)
    outcomes = []
    for name in ("cython", "python"):
        try:
            layout = load_codec(name).GatherLayout(keys, codes, offsets, args, counts, makers)
            outcomes.append(("ok", [key(v) for v in layout.decode_list(buf)]))
        except (ValueError, TypeError) as exc:
            outcomes.append((type(exc).__name__, str(exc)))
    assert outcomes[0] == outcomes[1]
