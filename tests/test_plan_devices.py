"""ScanPlan beyond the packed areas: SNAP PAC plans, read-and-clear points, the
custom scatter-gather area (sans-I/O; every test runs on both codecs).

Addresses expected here are worked out by hand from PROTOCOL.md §3.6-3.8.
"""
from __future__ import annotations

import math
import struct
from typing import Any, Dict, List, Tuple

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mmpfast import coverage, memmap, plan as plan_mod
from mmpfast.plan import DEFAULT_REQUEST_COST, ScanPlan
from mmpfast.records import AnalogChannel, DigitalChannel, DigitalCounts

from plans import scattered_plan

CUSTOM_LIST = 0xF0D50000      # §3.8 address list, entry i at + 4*i
CUSTOM_DATA = 0xF0D60000      # §3.8 gathered data, entry i at + 4*i


@pytest.fixture(autouse=True)
def _both_codecs(codec: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test here runs once per codec implementation."""
    monkeypatch.setattr(plan_mod, "codec", codec)


class Device:
    """A sparse device memory with the §3.8 custom area: explicit bytes, else a
    fixed pseudo-random pattern; a read of the custom data area returns the 4
    bytes at each listed address."""

    def __init__(self) -> None:
        self.data: Dict[int, int] = {}
        self.custom: Dict[int, int] = {}     # entry -> address
        self.reads: List[Tuple[int, int]] = []

    @staticmethod
    def pattern(a: int) -> int:
        return ((a * 2654435761) >> 13) & 0xFF

    def byte(self, a: int) -> int:
        return self.data.get(a, self.pattern(a))

    def write(self, address: int, data: bytes) -> None:
        if CUSTOM_LIST <= address < CUSTOM_LIST + 4096:
            assert address % 4 == 0 and len(data) % 4 == 0
            for k in range(len(data) // 4):
                self.custom[(address - CUSTOM_LIST) // 4 + k] = struct.unpack_from(">I", data, 4 * k)[0]
            return
        for i, b in enumerate(data):
            self.data[address + i] = b

    def read(self, address: int, length: int) -> bytes:
        self.reads.append((address, length))
        out = bytearray()
        for x in range(address, address + length):
            if CUSTOM_DATA <= x < CUSTOM_DATA + 4096:
                entry, k = divmod(x - CUSTOM_DATA, 4)
                out.append(self.byte(self.custom[entry] + k))
            else:
                out.append(self.byte(x))
        return bytes(out)

    def prepare(self, plan: ScanPlan) -> None:
        for address, data in plan.custom_writes:
            self.write(address, data)

    def scan(self, plan: ScanPlan) -> Dict[str, Any]:
        buf = plan.new_buffer()
        for (a, n), off, ln in zip(plan.requests, plan.offsets, plan.lengths):
            assert n == ln
            buf[off:off + n] = self.read(a, n)
        res = plan.result(buf)
        values = res.values()
        for name in plan.names:
            assert same(res[name], values[name]), name
        return values


def same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or a == b
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and bool(a == b)


# --------------------------------------------------------------------------- SNAP PAC
def test_snap_digital_states_come_from_the_bank_mask() -> None:
    p = ScanPlan(device="snap")
    assert p.device == "snap" and ScanPlan().device == "epic"
    for m, c in ((0, 0), (7, 3), (8, 0), (15, 3), (2, 3)):
        p.add_digital(m, c)
    assert p.requests == ((0xF0400000, 8),)          # one 8-byte state mask
    dev = Device()
    # points 63, 32, 11 and 0 on; 31 off: 0x80000001 (63..32) then 0x00000801 (31..0)
    dev.write(0xF0400000, bytes.fromhex("80000001" "00000801"))
    assert dev.scan(p) == {"digital[0][0]": True, "digital[7][3]": False, "digital[8][0]": True,
                           "digital[15][3]": True, "digital[2][3]": True}


def test_snap_points_map_to_the_point_and_bank_areas() -> None:
    merged = ScanPlan(device="snap")
    merged.add_digital(0, 1)
    merged.add_digital_counter(2, 3)
    assert merged.requests == ((0xF0400004, 0x12C),)   # one area: the gap is cheaper than a request
    p = ScanPlan(device="snap", request_cost=0)
    p.add_analog(2, 3)                 # 0xF0600000 + 4*11
    p.add_digital_counter(2, 3)        # 0xF0400100 + 4*11
    p.add_digital_channel(2, 3)        # 0xF0800000 + 0x40*11, 0x14 bytes
    p.add_analog_channel(2, 3)         # 0xF0A00000 + 0x40*11, 0x10 bytes
    p.add_digital(0, 1)                # state mask word +4 (points 31..0)
    assert sorted(p.requests) == [(0xF0400004, 4), (0xF040012C, 4), (0xF060002C, 4),
                                  (0xF08002C0, 0x14), (0xF0A002C0, 0x10)]
    assert p.clear_from == len(p.requests) and not any(p.side_effects)
    dev = Device()
    dev.write(0xF060002C, bytes.fromhex("41200000"))                          # 10.0
    dev.write(0xF040012C, bytes.fromhex("00012345"))
    dev.write(0xF08002C0, bytes.fromhex("00000001" "00000000" "00000001" "00000001" "00000007"))
    dev.write(0xF0A002C0, bytes.fromhex("3FC00000" "44800000" "BF800000" "40000000"))  # 1.5, 1024, -1, 2
    dev.write(0xF0400004, bytes.fromhex("00000002"))
    assert dev.scan(p) == {
        "analog[2][3]": 10.0, "counter[2][3]": 0x12345,
        "digital_channel[2][3]": DigitalChannel(True, False, True, 1, 7, 0),
        "analog_channel[2][3]": AnalogChannel(1.5, -1.0, 2.0, 0),
        "digital[0][1]": True}


@pytest.mark.parametrize("call", [
    lambda p: p.add_digital(0, 4), lambda p: p.add_analog(16, 0), lambda p: p.add_digital_counter(0, 63),
    lambda p: p.add_digital_channel(0, 4), lambda p: p.add_analog_channel(-1, 0),
    lambda p: p.add_clear_digital(0, 4),
])
def test_snap_ranges(call: Any) -> None:
    with pytest.raises(ValueError, match="out of range 0..(3|15)"):
        call(ScanPlan(device="snap"))


def test_device_and_flag_arguments() -> None:
    ScanPlan().add_digital(15, 63)                 # EPIC: channel 0..63
    with pytest.raises(ValueError):
        ScanPlan(device="pac")
    with pytest.raises(TypeError):
        ScanPlan(device=None)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        ScanPlan(custom_area=1)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        ScanPlan().add_digital(True, 0)
    with pytest.raises(TypeError):
        ScanPlan(device="snap").add_clear_digital(0, 1.0)  # type: ignore[arg-type]
    assert "snap" in repr(ScanPlan(device="snap"))


# --------------------------------------------------------------------------- read-and-clear
def test_clear_requests_go_last_and_are_never_merged() -> None:
    p = ScanPlan(4096, request_cost=1 << 30)      # merging would always pay if allowed
    p.add_clear_digital(1, 2)                     # 0xF02E0630, 12 bytes
    p.add_digital(0, 1)                           # 0xF1001800 (above the clear area)
    p.add_clear_digital(1, 3)                     # 0xF02E0648: 12 reserved bytes between, never read
    p.add_clear_digital(1, 2, name="again")       # the same counts: read once, both names see them
    p.add_analog(0, 0)                            # 0xF1001000
    assert p.requests == ((0xF1001000, 0x804), (0xF02E0630, 12), (0xF02E0648, 12))
    assert p.clear_from == 1 and p.side_effects == (False, True, True)
    dev = Device()
    dev.write(0xF02E0630, bytes.fromhex("00000007" "00000001" "00000000"))
    dev.write(0xF02E0648, bytes.fromhex("FFFFFFFE" "00000000" "00000005"))
    dev.write(0xF1001800, bytes.fromhex("00000002"))
    dev.write(0xF1001000, bytes.fromhex("C1200000"))
    values = dev.scan(p)
    assert values == {"clear_digital[1][2]": DigitalCounts(7, True, False), "digital[0][1]": True,
                      "clear_digital[1][3]": DigitalCounts(0xFFFFFFFE, False, True),
                      "again": DigitalCounts(7, True, False), "analog[0][0]": -10.0}
    assert type(values["again"]) is DigitalCounts
    assert dev.reads == list(p.requests)          # each clear record read exactly once


def test_snap_clear_reads_only_its_own_words() -> None:
    p = ScanPlan(device="snap")
    p.add_clear_digital(2, 3)      # p = 11: 0xF0F0002C, +0x100, +0x200
    p.add_clear_digital(3, 0)      # p = 12: the next words, touching: one request each
    p.add_clear_digital(5, 0)      # p = 20: 28 bytes further: never merged
    p.add_status("uptime_ms")
    assert p.requests == ((0xF030010C, 4),
                          (0xF0F0002C, 8), (0xF0F00050, 4), (0xF0F0012C, 8), (0xF0F00150, 4),
                          (0xF0F0022C, 8), (0xF0F00250, 4))
    assert p.clear_from == 1
    dev = Device()
    for base, words in ((0xF0F0002C, "0000000A" "0000000B"), (0xF0F0012C, "00000001" "00000000"),
                        (0xF0F0022C, "00000000" "00000001"), (0xF0F00050, "00000003"),
                        (0xF0F00150, "00000000"), (0xF0F00250, "00000000")):
        dev.write(base, bytes.fromhex(words))
    v = dev.scan(p)
    assert (v["clear_digital[2][3]"], v["clear_digital[3][0]"], v["clear_digital[5][0]"]) == (
        (10, True, False), (11, False, True), (3, False, False))


def test_raw_reads_in_read_and_clear_areas_count_as_clearing() -> None:
    p = ScanPlan(request_cost=1 << 30)
    p.add_raw(0xF0F80000, 4)               # SNAP analog read-and-clear
    p.add_raw(0xF0F80008, 4)               # never merged over the 4 bytes between
    p.add_raw(0xF0D81000, 4)
    assert p.requests == ((0xF0D81000, 4), (0xF0F80000, 4), (0xF0F80008, 4))
    assert p.side_effects == (False, True, True)


# --------------------------------------------------------------------------- custom area


def test_custom_area_needs_fewer_requests_for_scattered_points() -> None:
    plain, gathered = scattered_plan(False), scattered_plan(True)
    # without: 34 + 34 scratch-pad requests, 1 status, 1 packed values, 1 packed states word
    assert len(plain.requests) == 71 and plain.custom_addresses == () and plain.custom_writes == ()
    # with: 200 + 4 + 32 + 1 = 237 words, 948 bytes: one gather read of the data area
    assert gathered.requests == ((0xF0D60000, 948),)
    assert len(gathered.custom_addresses) == 237 == len(set(gathered.custom_addresses))
    assert len(gathered.requests) < len(plain.requests)
    assert coverage.requests_cost(gathered.requests, DEFAULT_REQUEST_COST) < \
        coverage.requests_cost(plain.requests, DEFAULT_REQUEST_COST)
    dev = Device()
    dev.write(0xF0DA0000 + 4 * 90, struct.pack(">i", -123456))        # int32 index 1114
    dev.write(0xF0300004, bytes(4))                                  # powerup clear done
    dev.prepare(gathered)
    want = dev.scan(plain)
    got = dev.scan(gathered)
    assert list(got) == list(want) and all(same(got[n], want[n]) for n in want)
    assert got["scratchpad_int32[1114]"] == -123456 and got["powerup_clear_needed"] is False
    assert dev.reads[-1] == (0xF0D60000, 948)


def test_custom_addresses_and_writes_exact() -> None:
    p = ScanPlan(custom_area=True)
    p.add_scratchpad_float(9000)          # 0xF0DC0000 + 4*(9000-1024) = 0xF0DC7CA0
    p.add_status("serial")                # 0xF030014C
    p.add_scratchpad_int32(5000)          # 0xF0DA0000 + 4*(5000-1024) = 0xF0DA3E20
    p.add_status("uptime_ms")             # 0xF030010C
    p.add_status("uptime_ms_64")          # 0xF0300228: 8 bytes, two entries
    assert p.custom_addresses == (0xF030010C, 0xF030014C, 0xF0300228, 0xF030022C, 0xF0DA3E20, 0xF0DC7CA0)
    assert p.custom_writes == ((0xF0D50000, bytes.fromhex(
        "F030010C" "F030014C" "F0300228" "F030022C" "F0DA3E20" "F0DC7CA0")),)
    assert p.requests == ((0xF0D60000, 24),)
    dev = Device()
    dev.write(0xF0300228, bytes.fromhex("0000000100000002"))
    dev.write(0xF0DC7CA0, bytes.fromhex("40490FDB"))
    dev.prepare(p)
    v = dev.scan(p)
    assert v["uptime_ms_64"] == (1 << 32) + 2 and v["scratchpad_float[9000]"] == struct.unpack(">f", bytes.fromhex(
        "40490FDB"))[0]


def test_custom_area_unused_when_it_gains_nothing() -> None:
    one = ScanPlan(custom_area=True)
    one.add_status("uptime_ms")                       # one word: a request either way
    assert one.requests == ((0xF030010C, 4),) and one.custom_addresses == () and one.custom_writes == ()
    run = ScanPlan(custom_area=True)
    run.add_scratchpad_int32(0, 256)                  # one full block read already
    assert run.requests == ((0xF0D81000, 1024),) and run.custom_addresses == ()
    small = ScanPlan(2, custom_area=True)             # a block cannot hold one entry
    small.add_status("uptime_ms")
    small.add_scratchpad_int32(5000)
    assert small.custom_addresses == () and len(small.requests) == 4
    own = ScanPlan(custom_area=True)                  # the plan reads the custom area itself
    own.add_raw(0xF0D60000, 8)
    own.add_status("uptime_ms")
    own.add_scratchpad_int32(5000)
    assert own.custom_addresses == () and len(own.requests) == 3


def test_two_scattered_words_share_one_gather_read() -> None:
    p = ScanPlan(custom_area=True)
    p.add_status("uptime_ms")
    p.add_scratchpad_int32(5000)
    p.add_digital(3, 4, name="packed bit")
    p.add_digital(3, 9, name="same word")     # shares the packed word's entry
    assert p.custom_addresses == (0xF030010C, 0xF0DA3E20, 0xF100180C) and p.requests == ((0xF0D60000, 12),)
    dev = Device()
    dev.write(0xF100180C, struct.pack(">I", 1 << 9))
    dev.prepare(p)
    v = dev.scan(p)
    assert v["packed bit"] is False and v["same word"] is True


def test_clear_points_are_never_gathered() -> None:
    p = ScanPlan(custom_area=True)
    for k in range(20):
        p.add_scratchpad_int32(1024 + 300 * k)
    p.add_clear_digital(0, 0)
    p.add_clear_digital(0, 5)
    assert p.requests[p.clear_from:] == ((0xF02E0000, 12), (0xF02E0078, 12))
    assert p.requests[:p.clear_from] == ((0xF0D60000, 80),)
    assert not any(memmap.read_has_side_effects(a, 4) for a in p.custom_addresses)
    dev = Device()
    dev.write(0xF02E0078, bytes.fromhex("00000009" "00000001" "00000001"))
    dev.prepare(p)
    assert dev.scan(p)["clear_digital[0][5]"] == (9, True, True)


def test_at_most_1024_entries_and_256_per_read() -> None:
    p = ScanPlan(4096, custom_area=True)
    for k in range(1100):                       # 1100 scattered words, 4 KiB blocks allowed
        p.add_scratchpad_int32(k * 9)
    n = len(p.custom_addresses)
    assert 0 < n <= 1024
    custom = [(a, ln) for a, ln in p.requests if 0xF0D60000 <= a < 0xF0D61000]
    assert all(ln <= 1024 for _, ln in custom) and sum(ln for _, ln in custom) == 4 * n
    assert all(len(data) <= 1024 for _, data in p.custom_writes)
    assert b"".join(d for _, d in p.custom_writes) == struct.pack(f">{n}I", *p.custom_addresses)
    plain = ScanPlan(4096)
    for k in range(1100):
        plain.add_scratchpad_int32(k * 9)
    assert len(p.requests) < len(plain.requests)
    dev = Device()
    dev.prepare(p)
    got, want = dev.scan(p), dev.scan(plain)
    assert all(got[n] == want[n] for n in want)


# --------------------------------------------------------------------------- property
@st.composite
def scattered(draw: Any) -> List[Tuple[str, int, int]]:
    kinds = st.sampled_from(["int32", "float", "int64", "status", "digital", "analog", "counter",
                             "dchannel", "clear", "raw"])
    return draw(st.lists(st.tuples(kinds, st.integers(0, 10239), st.integers(1, 3)), min_size=1, max_size=40))


def build(items: List[Tuple[str, int, int]], custom: bool, device: str, mb: int, cost: int) -> ScanPlan:
    p = ScanPlan(mb, device=device, custom_area=custom, request_cost=cost)
    fields = ["uptime_ms", "serial", "last_error", "firmware", "mac", "uptime_ms_64", "busy"]
    chans = 4 if device == "snap" else 64
    for i, (kind, x, n) in enumerate(items):
        name = f"p{i}"
        if kind == "int32":
            p.add_scratchpad_int32(min(x, 10240 - n), n, name=name)
        elif kind == "float":
            p.add_scratchpad_float(x, name=name)
        elif kind == "int64":
            p.add_scratchpad_int64(x % 1024, name=name)
        elif kind == "status":
            p.add_status(fields[x % len(fields)], name=name)
        elif kind == "digital":
            p.add_digital(x % 16, x % chans, name=name)
        elif kind == "analog":
            p.add_analog(x % 16, x % chans, name=name)
        elif kind == "counter":
            p.add_digital_counter(x % 16, x % chans, name=name)
        elif kind == "dchannel":
            p.add_digital_channel(x % 16, x % chans, name=name)
        elif kind == "clear":
            p.add_clear_digital(x % 16, x % chans, name=name)
        else:
            p.add_raw(0xF0D82000 + 4 * (x % 1000), 4 * n, name=name)
    return p


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(items=scattered(), device=st.sampled_from(["epic", "snap"]), mb=st.sampled_from([16, 256, 1024]),
       cost=st.sampled_from([0, 64, DEFAULT_REQUEST_COST]))
def test_property_custom_area_never_costs_more_and_decodes_alike(
        items: List[Tuple[str, int, int]], device: str, mb: int, cost: int) -> None:
    plain, gathered = build(items, False, device, mb, cost), build(items, True, device, mb, cost)
    cp, cg = coverage.requests_cost(plain.requests, cost), coverage.requests_cost(gathered.requests, cost)
    if gathered.custom_addresses:
        assert cg < cp
    else:
        assert gathered.requests == plain.requests
    assert all(0 < n <= mb for _, n in gathered.requests)
    assert gathered.requests[gathered.clear_from:] == plain.requests[plain.clear_from:]
    for a in gathered.custom_addresses:
        assert a % 4 == 0 and memmap.find_area(a, 4) is not None and not memmap.read_has_side_effects(a, 4)
    dev = Device()
    dev.prepare(gathered)
    want = dev.scan(plain)
    got = dev.scan(gathered)
    assert all(same(got[n], want[n]) for n in want)


def test_the_choice_is_per_point() -> None:
    p = ScanPlan(custom_area=True)
    p.add_status("mac")                   # 0xF030002E, 6 bytes: not whole words, never gathered
    p.add_status("ip")                    # 0xF0300034: touches the MAC, 4 more bytes in its read
    p.add_status("serial")                # 0xF030014C: 280 bytes further, cheaper gathered
    p.add_scratchpad_int32(5000)          # 0xF0DA3E20, alone
    p.add_scratchpad_float(9000)          # 0xF0DC7CA0, alone
    plain = ScanPlan()
    for f in ("mac", "ip", "serial"):
        plain.add_status(f)
    plain.add_scratchpad_int32(5000)
    plain.add_scratchpad_float(9000)
    assert plain.requests == ((0xF030002E, 0x122), (0xF0DA3E20, 4), (0xF0DC7CA0, 4))
    assert p.custom_addresses == (0xF030014C, 0xF0DA3E20, 0xF0DC7CA0)
    assert p.requests == ((0xF030002E, 10), (0xF0D60000, 12))
    dev = Device()
    dev.write(0xF030002E, bytes.fromhex("00A03D0A0DFE" "0A000009"))
    dev.prepare(p)
    got, want = dev.scan(p), dev.scan(plain)
    assert got == want and got["ip"] == "10.0.0.9" and got["mac"] == "00:A0:3D:0A:0D:FE"
