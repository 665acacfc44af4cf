"""Point kinds (mmpfast.points) and the one decode path they share on both codecs."""
from __future__ import annotations

import ast
import math
import random
import struct
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List

import pytest

from mmpfast import memmap, plan as plan_mod, points
from mmpfast.plan import STATUS_FIELDS, ScanPlan
from mmpfast.records import AnalogChannel, DigitalChannel, DigitalCounts

from conftest import load_codec

PKG = Path(plan_mod.__file__).resolve().parent


def same(a: Any, b: Any) -> bool:
    """Equal, NaN == NaN, and of the same type (a bool is not an int here)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or a == b
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, DigitalCounts):
        return all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, (DigitalChannel, AnalogChannel)):
        return all(same(x, y) for x, y in zip(vars(a).values(), vars(b).values()))
    return bool(a == b)


def every_kind() -> ScanPlan:
    """One point of every kind the planner makes, status fields included."""
    p = ScanPlan(max_block=512)
    p.add_digital(0, 5)                          # Bit (packed states)
    p.add_digital(1, 40)                         # Flag (read slot state)
    p.add_analog(2, 3)                           # Scalar f (packed values)
    p.add_analog(2, 50)                          # Scalar f (read slot)
    p.add_digital_counter(3, 7)                  # Scalar I
    p.add_digital_channel(4, 1)                  # DigitalChannelPoint
    p.add_analog_channel(5, 2)                   # AnalogChannelPoint
    p.add_scratchpad_int32(1020, 10)             # Run across the area 1 / area 2 border
    p.add_scratchpad_float(7)                    # Run of one: a number
    p.add_scratchpad_int64(2, 3)                 # Run q
    p.add_raw(0xF0300000, 6)                     # Raw
    for field in STATUS_FIELDS:                  # Scalar i/I/Q, Flag, Formatted
        p.add_status(field)
    return p


def random_buffer(p: ScanPlan, seed: int) -> bytearray:
    rng = random.Random(seed)
    return bytearray(rng.getrandbits(8) for _ in range(p.buffer_size))


def plan_with(impl: str, monkeypatch: pytest.MonkeyPatch) -> ScanPlan:
    monkeypatch.setattr(plan_mod, "codec", load_codec(impl))
    return every_kind().freeze()


def test_kinds_are_objects_of_their_own() -> None:
    p = every_kind().freeze()
    kinds = {n: type(p._by_name[n]).__name__ for n in p.names}
    assert kinds["digital[0][5]"] == "Bit" and kinds["digital[1][40]"] == "Flag"
    assert kinds["analog[2][3]"] == "Scalar" and kinds["counter[3][7]"] == "Scalar"
    assert kinds["digital_channel[4][1]"] == "DigitalChannelPoint"
    assert kinds["analog_channel[5][2]"] == "AnalogChannelPoint"
    assert kinds["scratchpad_int32[1020:1030]"] == "Run" and kinds["raw[0xF0300000:6]"] == "Raw"
    assert kinds["firmware"] == "Formatted" and kinds["busy"] == "Flag" and kinds["uptime_ms_64"] == "Scalar"
    bit = p._by_name["digital[0][5]"]
    assert bit.ranges == ((memmap.packed_state_address(0), 4),) and bit.fields() == (None, (("b", 0, 5),))
    run = p._by_name["scratchpad_int32[1020:1030]"]
    assert run.ranges == ((memmap.SCRATCHPAD_INT32_AREA1 + 4 * 1020, 16), (memmap.SCRATCHPAD_INT32_AREA2, 24))
    maker, fields = run.fields()
    assert maker is list and fields == tuple(("i", 4 * k, 0) for k in range(10))
    dig = p._by_name["digital_channel[4][1]"]
    assert dig.fields()[0] is DigitalChannel and dig.ranges == ((memmap.digital_read_address(4, 1), 24),)


def test_placed_fields_follow_the_buffer(monkeypatch: pytest.MonkeyPatch) -> None:
    p = plan_with("python", monkeypatch)
    run = p._by_name["scratchpad_int32[1020:1030]"]
    (a0, b0), (a1, b1) = run.segments              # the two areas are apart in the buffer
    maker, codes, offsets, args = run.placed()
    assert codes == "i" * 10 and offsets == [a0, a0 + 4, a0 + 8, a0 + 12] + [a1 + 4 * k for k in range(6)]
    raw = p._by_name["raw[0xF0300000:6]"]
    assert raw.placed() == (None, "y", [raw.segments[0][0]], [6])


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_both_codecs_decode_every_kind_alike(monkeypatch: pytest.MonkeyPatch, seed: int) -> None:
    got: Dict[str, Dict[str, Any]] = {}
    single: Dict[str, Dict[str, Any]] = {}
    for impl in ("cython", "python"):
        p = plan_with(impl, monkeypatch)
        res = p.result(random_buffer(p, seed))
        got[impl] = res.values()
        single[impl] = {n: res[n] for n in p.names}
        assert list(got[impl]) == list(p.names)
    for n in got["python"]:
        assert same(got["cython"][n], got["python"][n]), n
        assert same(single["cython"][n], got["python"][n]), n
        assert same(single["python"][n], got["python"][n]), n


def test_values_against_the_bytes(codec: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(plan_mod, "codec", codec)
    p = every_kind().freeze()
    buf = random_buffer(p, 7)
    by = p._by_name

    def at(name: str, k: int = 0) -> int:
        return by[name].segments[k][0]

    o = at("digital_channel[4][1]")
    struct.pack_into(">IIIIII", buf, o, 1, 0, 5, 2, 1234, 30)
    o = at("analog_channel[5][2]")
    struct.pack_into(">ffffI", buf, o, 1.5, 0.0, -2.0, 8.0, 0)
    struct.pack_into(">I", buf, at("digital[0][5]"), 1 << 5)
    struct.pack_into(">I", buf, at("digital[1][40]"), 0)
    struct.pack_into(">I", buf, at("powerup_clear_needed"), 7)
    buf[at("firmware"):at("firmware") + 4] = bytes([3, 6, 2, 0])
    buf[at("ip"):at("ip") + 4] = bytes([10, 0, 0, 9])
    struct.pack_into(">Q", buf, at("uptime_ms_64"), (1 << 64) - 2)
    struct.pack_into(">i", buf, at("last_error"), -5)
    struct.pack_into(">4i", buf, at("scratchpad_int32[1020:1030]", 0), 1, -2, 3, -4)
    struct.pack_into(">6i", buf, at("scratchpad_int32[1020:1030]", 1), 5, 6, 7, 8, 9, -10)
    buf[at("raw[0xF0300000:6]"):at("raw[0xF0300000:6]") + 6] = b"abcdef"
    res = p.result(buf)
    v = res.values()
    assert v["digital_channel[4][1]"] == DigitalChannel(True, False, True, 2, 1234, 30)
    assert v["analog_channel[5][2]"] == AnalogChannel(1.5, -2.0, 8.0, 0)
    assert v["digital[0][5]"] is True and v["digital[1][40]"] is False
    assert v["powerup_clear_needed"] is True
    assert v["firmware"] == memmap.format_firmware(bytes([3, 6, 2, 0])) and v["ip"] == "10.0.0.9"
    assert v["uptime_ms_64"] == (1 << 64) - 2 and v["last_error"] == -5
    assert v["scratchpad_int32[1020:1030]"] == [1, -2, 3, -4, 5, 6, 7, 8, 9, -10]
    assert res.array("scratchpad_int32[1020:1030]").tolist() == [1, -2, 3, -4, 5, 6, 7, 8, 9, -10]
    assert v["raw[0xF0300000:6]"] == b"abcdef" == res.raw("raw[0xF0300000:6]")
    assert isinstance(v["scratchpad_float[7]"], float)
    for n in p.names:
        assert same(res[n], v[n]) and same(res.get(n), v[n]), n


def test_offsets_and_lengths_are_built_once() -> None:
    p = every_kind()
    got: List[Any] = []
    threads = [threading.Thread(target=lambda: got.append((p.offsets, p.lengths))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    assert len(got) == 8
    offs, lens = got[0]
    assert all(o is offs and n is lens for o, n in got)
    assert p.offsets is offs and p.lengths is lens and p._layout is p._layout
    assert list(lens) == [n for _, n in p.requests]
    assert list(offs) == [sum(lens[:i]) for i in range(len(lens))]
    for impl in ("cython", "python"):                      # accepted as they are by both codecs
        c = load_codec(impl)
        stream = b"".join(c.encode_read_block_response(i, bytes([i + 1]) * n) for i, n in enumerate(lens))
        dest = p.new_buffer()
        assert c.scatter_read_responses(stream, dest, p.offsets, p.lengths, 0) == len(stream)
        assert all(dest[o] == i + 1 for i, o in enumerate(offs))


def test_a_new_kind_plugs_in(codec: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A record kind of its own: only its fields are declared, planner and result unchanged."""
    monkeypatch.setattr(plan_mod, "codec", codec)

    @dataclass(frozen=True)
    class Counts:
        feature_value: int
        on_latch: bool
        off_latch: bool

    class CountsPoint(points.RecordPoint):
        __slots__ = ()
        LENGTH = 12
        RECORD = Counts
        FIELDS = (("I", 0, 0), ("?", 4, 0), ("?", 8, 0))

    p = ScanPlan()
    p.add_digital(0, 0)
    assert p._add(CountsPoint("counts", memmap.digital_read_address(0, 2) + memmap.DIG_FEATURE_VALUE - 8)) == "counts"
    buf = p.new_buffer()
    o = p._by_name["counts"].segments[0][0]
    struct.pack_into(">III", buf, o, 77, 1, 0)
    res = p.result(buf)
    assert res["counts"] == Counts(77, True, False) == res.values()["counts"]


def test_point_base_and_add_checks() -> None:
    with pytest.raises(NotImplementedError):
        points.Point("x", ((0, 4),)).fields()
    p = ScanPlan()
    with pytest.raises(TypeError):
        p._add("not a point")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        p.add_analog(0, 0, name=5)  # type: ignore[arg-type]
    assert points.element_size("q") == 8 and points.element_size("f") == 4


FORBIDDEN = {"socket", "select", "asyncio", "time", "selectors", "threading_timer"}
CLIENT_SIDE = {"client", "aio", "requests", "engine", "scanloop", "transport", "transports", "stream"}


@pytest.mark.parametrize("module", ["plan.py", "result.py", "points.py", "records.py", "coverage.py", "memmap.py"])
def test_planner_imports_no_io_and_no_client(module: str) -> None:
    tree = ast.parse((PKG / module).read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            names.add(base)
            if node.level:                         # from . import x / from .x import y
                names.update(f"{base}.{a.name}".lstrip(".") for a in node.names)
    tops = {n.split(".")[0] for n in names if n}
    assert not tops & FORBIDDEN, tops
    assert not {n.split(".")[-1] for n in names if n} & CLIENT_SIDE, names
    assert not any(n.split(".")[0] in CLIENT_SIDE for n in names if n), names


def snap_every_kind() -> ScanPlan:
    """One point of every kind a SNAP PAC plan makes, read-and-clear included."""
    p = ScanPlan(device="snap")
    p.add_digital(9, 2)                          # Bit of the bank state mask (p = 38: word +0, bit 6)
    p.add_analog(1, 1)                           # Scalar f, analog bank
    p.add_digital_counter(1, 2)                  # Scalar I, bank counters
    p.add_digital_channel(3, 3)                  # SnapDigitalChannelPoint
    p.add_analog_channel(4, 0)                   # SnapAnalogChannelPoint
    p.add_clear_digital(5, 1)                    # ClearDigitalPoint, three words
    p.add_clear_digital(5, 2, name="epic-like")  # the next point: touching words
    return p


def test_new_kinds_are_objects_of_their_own() -> None:
    p = snap_every_kind().freeze()
    kinds = {n: type(p._by_name[n]).__name__ for n in p.names}
    assert kinds == {"digital[9][2]": "Bit", "analog[1][1]": "Scalar", "counter[1][2]": "Scalar",
                     "digital_channel[3][3]": "SnapDigitalChannelPoint",
                     "analog_channel[4][0]": "SnapAnalogChannelPoint",
                     "clear_digital[5][1]": "ClearDigitalPoint", "epic-like": "ClearDigitalPoint"}
    bit = p._by_name["digital[9][2]"]
    assert bit.ranges == ((0xF0400000, 4),) and bit.fields() == (None, (("b", 0, 6),))
    clear = p._by_name["clear_digital[5][1]"]
    assert clear.side_effects is True and points.Point.side_effects is False
    assert clear.ranges == ((0xF0F00054, 4), (0xF0F00154, 4), (0xF0F00254, 4))   # p = 21
    assert clear.fields() == (DigitalCounts, (("I", 0, 0), ("?", 4, 0), ("?", 8, 0)))
    epic = ScanPlan()
    epic.add_clear_digital(2, 1)
    assert epic._by_name["clear_digital[2][1]"].ranges == ((0xF02E0C18, 12),)     # 0xF02E0000 + 0xC00 + 0x18


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_both_codecs_decode_the_new_kinds_alike(monkeypatch: pytest.MonkeyPatch, seed: int) -> None:
    got: Dict[str, Dict[str, Any]] = {}
    for impl in ("cython", "python"):
        monkeypatch.setattr(plan_mod, "codec", load_codec(impl))
        p = snap_every_kind().freeze()
        buf = random_buffer(p, seed)
        by = p._by_name
        struct.pack_into(">IIIII", buf, by["digital_channel[3][3]"].segments[0][0], 0, 1, 0, 1, 99)
        for k, (a, _) in enumerate(by["clear_digital[5][1]"].segments):
            struct.pack_into(">I", buf, a, (41, 0, 3)[k])
        res = p.result(buf)
        got[impl] = res.values()
        assert all(same(res[n], got[impl][n]) for n in p.names)
        assert got[impl]["digital_channel[3][3]"] == DigitalChannel(False, True, False, 1, 99, 0)
        assert got[impl]["clear_digital[5][1]"] == DigitalCounts(41, False, True)
        assert type(got[impl]["epic-like"]) is DigitalCounts
        assert type(got[impl]["analog_channel[4][0]"]) is AnalogChannel
    for n in got["python"]:
        assert same(got["cython"][n], got["python"][n]), n


def test_a_side_effect_kind_must_read_a_side_effect_area() -> None:
    p = ScanPlan()
    with pytest.raises(ValueError, match="changes the device"):
        p._add(points.ClearDigitalPoint("bad", ((memmap.scratchpad_int32_address(0), 12),)))
    assert p._add(points.ClearDigitalPoint("ok", ((0xF02E0000, 12),))) == "ok"
    assert p.requests == ((0xF02E0000, 12),) and p.clear_from == 0 and p.side_effects == (True,)
