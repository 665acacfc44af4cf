"""ScanPlan / ScanResult, sans-I/O: planning rules, buffer layout, decoding."""
from __future__ import annotations

import math
import struct
import threading
from array import array
from typing import Any, Dict, List, Tuple

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mmpfast
from mmpfast import memmap, plan as plan_mod
from mmpfast.plan import DEFAULT_REQUEST_COST, STATUS_FIELDS, ScanPlan, ScanResult


@pytest.fixture(autouse=True)
def _both_codecs(codec: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test here runs once per codec implementation."""
    monkeypatch.setattr(plan_mod, "codec", codec)


class Memory:
    """A sparse device memory: explicit bytes, else a fixed pseudo-random pattern."""

    def __init__(self) -> None:
        self.data: Dict[int, int] = {}

    @staticmethod
    def pattern(a: int) -> int:
        return ((a * 2654435761) >> 13) & 0xFF

    def write(self, address: int, data: bytes) -> None:
        for i, b in enumerate(data):
            self.data[address + i] = b

    def read(self, address: int, length: int) -> bytes:
        return bytes(self.data.get(a, self.pattern(a)) for a in range(address, address + length))


def fill(plan: ScanPlan, mem: Memory) -> bytearray:
    """What a scan would put in the buffer: request i's data at offsets[i]."""
    buf = plan.new_buffer()
    for (a, n), off, ln in zip(plan.requests, plan.offsets, plan.lengths):
        assert n == ln
        buf[off:off + n] = mem.read(a, n)
    return buf


def same(a: Any, b: Any) -> bool:
    """Equality that treats NaN as equal to NaN (values from random memory)."""
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return bool(a == b)


def f32(x: float) -> float:
    return struct.unpack(">f", struct.pack(">f", x))[0]


# --------------------------------------------------------------------------- mapping
def test_full_rack_is_three_requests_over_packed_areas() -> None:
    p = ScanPlan()
    for m in range(16):
        for c in range(32):
            p.add_digital(m, c)
            p.add_analog(m, c)
    # packed values 0xF1001000..0xF10017FF and packed states 0xF1001800..0xF100183F are one area
    assert p.requests == ((0xF1001000, 1024), (0xF1001400, 1024), (0xF1001800, 64))
    assert list(p.offsets) == [0, 1024, 2048]
    assert list(p.lengths) == [1024, 1024, 64]
    assert p.buffer_size == 2112
    assert p.offsets.typecode == "q" and p.lengths.typecode == "q"


def test_point_sources() -> None:
    p = ScanPlan(request_cost=0)     # no gap merging: one request per source
    p.add_digital(1, 8)
    p.add_digital(2, 40)
    p.add_analog(3, 5)
    p.add_analog(4, 33)
    assert p.requests == (
        (0xF01E0000 + 0x1000 * 2 + 0x40 * 40, 4),    # digital slot state word
        (0xF0260000 + 0x1000 * 4 + 0x40 * 33, 4),    # analog slot value
        (0xF1001000 + 0x80 * 3 + 4 * 5, 4),          # packed analog value
        (0xF1001800 + 4 * 1, 4),                     # packed states of module 1
    )


def test_decode_points_from_device_bytes() -> None:
    mem = Memory()
    mem.write(memmap.packed_state_address(1), struct.pack(">I", (1 << 8) | (1 << 31)))
    mem.write(memmap.digital_read_address(2, 40), struct.pack(">I", 1))
    mem.write(memmap.digital_read_address(2, 41), struct.pack(">I", 0))
    mem.write(memmap.packed_value_address(3, 5), struct.pack(">f", -12.25))
    mem.write(memmap.analog_read_address(4, 33), struct.pack(">f", 1e6))
    mem.write(memmap.packed_value_address(5, 0), struct.pack(">I", 4000000000))
    mem.write(memmap.scratchpad_int32_address(7), struct.pack(">3i", -1, 2, -2147483648))
    mem.write(memmap.scratchpad_float_address(9), struct.pack(">f", 21.5))
    mem.write(memmap.scratchpad_int64_address(3), struct.pack(">2q", -(1 << 62), 5))
    mem.write(memmap.STATUS_UPTIME_MS, struct.pack(">I", 73882846))
    mem.write(memmap.STATUS_FIRMWARE_VERSION, bytes([3, 6, 2, 1]))
    mem.write(memmap.STATUS_PUC_FLAG, struct.pack(">I", 0))
    mem.write(memmap.STATUS_MAC_ETH0, bytes.fromhex("00A03D0A0DFE"))
    p = ScanPlan()
    names = [
        p.add_digital(1, 8), p.add_digital(1, 9), p.add_digital(1, 31, name="top"),
        p.add_digital(2, 40), p.add_digital(2, 41),
        p.add_analog(3, 5), p.add_analog(4, 33), p.add_digital_counter(5, 0),
        p.add_scratchpad_int32(7, 3), p.add_scratchpad_float(9, name="setpoint"),
        p.add_scratchpad_int64(3, 2), p.add_status("uptime_ms"), p.add_status("firmware"),
        p.add_status("powerup_clear_needed"), p.add_status("mac"),
        p.add_raw(memmap.STATUS_UPTIME_MS, 4, name="uptime_raw"),
    ]
    assert names[:3] == ["digital[1][8]", "digital[1][9]", "top"]
    assert names[8] == "scratchpad_int32[7:10]" and names[10] == "scratchpad_int64[3:5]"
    expected = {
        "digital[1][8]": True, "digital[1][9]": False, "top": True,
        "digital[2][40]": True, "digital[2][41]": False,
        "analog[3][5]": -12.25, "analog[4][33]": 1e6, "counter[5][0]": 4000000000,
        "scratchpad_int32[7:10]": [-1, 2, -2147483648], "setpoint": 21.5,
        "scratchpad_int64[3:5]": [-(1 << 62), 5], "uptime_ms": 73882846, "firmware": "R3.6b",
        "powerup_clear_needed": False, "mac": "00:A0:3D:0A:0D:FE",
        "uptime_raw": bytes.fromhex("04675CDE"),
    }
    res = p.result(fill(p, mem))
    assert res.values() == expected
    assert list(res.values()) == names          # insertion order
    for name, value in expected.items():
        assert res[name] == value
        assert type(res[name]) is type(value)
    assert res.get("nope", 7) == 7 and res.get("top") is True
    assert len(res) == len(names) and "top" in res and "nope" not in res
    assert list(res) == names
    with pytest.raises(KeyError):
        res["nope"]
    assert res.raw("setpoint") == struct.pack(">f", 21.5)
    assert isinstance(res.buffer, memoryview) and res.buffer.nbytes == p.buffer_size
    a = res.array("scratchpad_int32[7:10]")
    assert a.typecode == "i" and list(a) == [-1, 2, -2147483648]
    assert list(res.array("scratchpad_int64[3:5]")) == [-(1 << 62), 5]
    with pytest.raises(TypeError):
        res.array("top")


def test_whole_channels() -> None:
    mem = Memory()
    mem.write(memmap.digital_read_address(0, 3), struct.pack(">6I", 1, 0, 1, 1, 1234, 0))
    mem.write(memmap.analog_read_address(6, 2), struct.pack(">ffffI", 4.5, 0.0, -1.0, 9.0, 30))
    p = ScanPlan()
    d = p.add_digital_channel(0, 3)
    a = p.add_analog_channel(6, 2)
    assert (d, a) == ("digital_channel[0][3]", "analog_channel[6][2]")
    assert p.requests == ((memmap.digital_read_address(0, 3), 0x18), (memmap.analog_read_address(6, 2), 0x14))
    res = p.result(fill(p, mem))
    dc, ac = res[d], res[a]
    assert (dc.state, dc.on_latch, dc.off_latch, dc.feature_type, dc.feature_value, dc.quality) == \
        (True, False, True, 1, 1234, 0)
    assert (ac.value, ac.minimum, ac.maximum, ac.quality) == (4.5, -1.0, 9.0, 30)
    assert res.values() == {d: dc, a: ac}


def test_scratchpad_run_across_areas_and_numpy_dest() -> None:
    np = pytest.importorskip("numpy")
    mem = Memory()
    values = [f32(i * 0.5 - 3) for i in range(20)]
    for i, v in enumerate(values):
        mem.write(memmap.scratchpad_float_address(1014 + i), struct.pack(">f", v))
    p = ScanPlan()
    name = p.add_scratchpad_float(1014, 20)
    p.add_scratchpad_float(1030)
    # something between area 1 and area 2 in address order splits the run in the buffer
    p.add_raw(memmap.SCRATCHPAD_STRINGS, 2, name="between")
    res = p.result(fill(p, mem))
    assert len(p._by_name[name].segments) == 2
    assert res[name] == values
    assert list(res.array(name)) == values
    dest = np.zeros(20, dtype=np.float32)
    assert res.into(name, dest) == 20
    assert dest.tolist() == values
    assert res.values()[name] == values
    assert res["scratchpad_float[1030]"] == values[16]


def test_run_across_areas_contiguous_in_buffer() -> None:
    p = ScanPlan()
    name = p.add_scratchpad_int32(1000, 100)
    assert p.requests == ((0xF0D81000 + 4000, 96), (0xF0DA0000, 304))
    assert p._by_name[name].segments == ((0, 400),)


# --------------------------------------------------------------------------- rules
def test_never_merges_across_areas() -> None:
    p = ScanPlan()
    p.add_raw(0xF021FFFC, 4)      # last word of digital channel read
    p.add_raw(0xF0220000, 4)      # first word of digital channel write
    assert p.requests == ((0xF021FFFC, 4), (0xF0220000, 4))


def test_never_reads_unasked_read_and_clear_bytes() -> None:
    p = ScanPlan()
    p.add_raw(memmap.analog_read_clear_address(0, 0), 8)
    p.add_raw(memmap.analog_read_clear_address(0, 2), 12)   # whole record, reserved word too
    p.add_raw(memmap.analog_read_clear_address(0, 3), 8)    # touches channel 2's record
    p.add_raw(memmap.analog_read_clear_address(0, 5), 8)    # 0x3C: channel 4 in the gap
    base = memmap.analog_read_clear_address(0, 0)
    assert p.requests == ((base, 8), (base + 0x18, 0x14), (base + 0x3C, 8))


def test_gap_cost_decides() -> None:
    def two(cost: int, gap: int) -> Tuple[Tuple[int, int], ...]:
        p = ScanPlan(request_cost=cost)
        p.add_raw(0xF0D81000, 4)
        p.add_raw(0xF0D81004 + gap, 4)
        return p.requests
    assert two(100, 99) == ((0xF0D81000, 107),)
    assert two(100, 100) == ((0xF0D81000, 4), (0xF0D81004 + 100, 4))
    assert two(DEFAULT_REQUEST_COST, 1000) == ((0xF0D81000, 1008),)
    assert two(DEFAULT_REQUEST_COST, 1017) == ((0xF0D81000, 4), (0xF0D81004 + 1017, 4))  # > max_block


def test_split_at_max_block() -> None:
    mem = Memory()
    p = ScanPlan(max_block=100)
    name = p.add_scratchpad_float(0, 100)
    assert p.requests == tuple((0xF0D82000 + 100 * i, 100) for i in range(4))
    res = p.result(fill(p, mem))
    assert res.raw(name) == mem.read(0xF0D82000, 400)


def test_fill_up_to_max_block_when_it_saves_a_request() -> None:
    p = ScanPlan(max_block=100)
    p.add_raw(0xF0D81000, 10)
    p.add_raw(0xF0D81014, 180)            # 10-byte gap; alone it needs 2 requests
    assert p.requests == ((0xF0D81000, 100), (0xF0D81064, 100))


def test_argument_checks() -> None:
    p = ScanPlan()
    with pytest.raises(ValueError):
        p.add_digital(16, 0)
    with pytest.raises(ValueError):
        p.add_analog(0, 64)
    with pytest.raises(ValueError):
        p.add_digital(-1, 0)
    with pytest.raises(TypeError):
        p.add_digital("1", 0)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        p.add_analog(0, 1.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        p.add_scratchpad_int32(10239, 2)
    with pytest.raises(ValueError):
        p.add_scratchpad_int64(1024)
    with pytest.raises(ValueError):
        p.add_scratchpad_float(0, 0)
    with pytest.raises(TypeError):
        p.add_scratchpad_float(0, 1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        p.add_raw(0x10, 4)                            # not in the map
    with pytest.raises(ValueError):
        p.add_raw(0xF021FFFC, 8)                      # spans two areas
    with pytest.raises(ValueError):
        p.add_raw(0xF0D81000, 0)
    with pytest.raises(ValueError):
        p.add_raw(0xF0D81000, 65536)
    with pytest.raises(ValueError):
        p.add_status("nope")
    with pytest.raises(TypeError):
        p.add_digital(0, 0, name=5)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        ScanPlan(max_block=0)
    with pytest.raises(ValueError):
        ScanPlan(max_block=65536)
    assert len(p) == 0
    p.add_digital(0, 0)
    with pytest.raises(ValueError, match="duplicate"):
        p.add_digital(0, 0)
    with pytest.raises(ValueError, match="duplicate"):
        p.add_analog(1, 1, name="digital[0][0]")
    assert p.add_raw(0x10, 4, check_area=False) == "raw[0x00000010:4]"
    assert p.requests == ((0x10, 4), (0xF1001800, 4))


def test_freeze_and_immutability() -> None:
    p = ScanPlan()
    p.add_analog(0, 0)
    assert not p.frozen
    reqs = p.requests
    assert p.frozen and isinstance(reqs, tuple)
    with pytest.raises(RuntimeError):
        p.add_analog(0, 1)
    with pytest.raises(RuntimeError):
        p.add_status("uptime_ms")
    # offsets / lengths are built once at freeze: the same object on every access
    assert p.offsets is p.offsets and p.lengths is p.lengths and p.requests is reqs
    assert isinstance(p.offsets, array) and p.offsets.typecode == "q" and list(p.offsets) == [0]
    assert isinstance(p.lengths, array) and p.lengths.typecode == "q" and list(p.lengths) == [4]
    assert p.requests == reqs and len(p) == 1


def test_freeze_on_first_result() -> None:
    p = ScanPlan()
    p.add_analog(0, 0)
    p.result(bytearray(4))
    with pytest.raises(RuntimeError):
        p.add_analog(0, 1)
    with pytest.raises(ValueError):
        p.result(bytearray(3))


def test_concurrent_freeze_plans_once() -> None:
    p = ScanPlan()
    for c in range(32):
        p.add_analog(0, c)
    got: List[Any] = []
    threads = [threading.Thread(target=lambda: got.append(p.requests)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    assert len(got) == 8 and all(g is got[0] for g in got)


def test_result_accepts_buffers() -> None:
    p = ScanPlan()
    p.add_scratchpad_int32(0, 2)
    buf = array("i", [0, 0, 0])            # larger, non-byte buffer
    mv = memoryview(buf).cast("B")
    mv[:8] = struct.pack(">2i", 5, -6)
    res = p.result(buf)
    assert res.buffer.nbytes == 8 and res["scratchpad_int32[0:2]"] == [5, -6]


def test_exported_from_package() -> None:
    assert mmpfast.ScanPlan is ScanPlan and mmpfast.ScanResult is ScanResult


# --------------------------------------------------------------------------- properties
_AREAS = [a for a in memmap.AREAS if a.last - a.first >= 64]


@st.composite
def raw_ranges(draw: Any) -> Tuple[int, int]:
    area = draw(st.sampled_from(_AREAS))
    span = min(area.last - area.first + 1, 6000)
    start = area.first + draw(st.integers(0, span - 1))
    length = draw(st.integers(1, min(area.last - start + 1, 3000)))
    return start, length


def check_plan(p: ScanPlan) -> None:
    reqs = p.requests
    mb, cost = p.max_block, p.request_cost
    needed = set()
    for pt in p._points:
        for a, n in pt.ranges:
            needed.update(range(a, a + n))
    covered: Dict[int, int] = {}
    for a, n in reqs:
        assert 0 < n <= mb
        for x in range(a, a + n):
            covered[x] = covered.get(x, 0) + 1
        assert memmap.find_area(a, n) is not None
    # plain requests first, then the ones that change the device (read-and-clear), each part sorted
    cf = p.clear_from
    plain, clearing = list(reqs[:cf]), list(reqs[cf:])
    assert p.side_effects == tuple(i >= cf for i in range(len(reqs)))
    assert not any(memmap.read_has_side_effects(a, n) for a, n in plain)
    assert all(memmap.read_has_side_effects(a, n) for a, n in clearing)
    for part in (plain, clearing):
        assert part == sorted(part)
        assert all(a1 + n1 <= a2 for (a1, n1), (a2, _) in zip(part, part[1:]))   # no overlap
    reqs = tuple(sorted(reqs))
    assert all(a1 + n1 <= a2 for (a1, n1), (a2, _) in zip(reqs, reqs[1:]))       # no overlap
    assert all(covered.get(x) == 1 for x in needed)                                 # exactly once
    # every unwanted run inside a request is cheaper than a request and harmless to read
    for a, n in reqs:
        x = a
        while x < a + n:
            if x in needed:
                x += 1
                continue
            g = x
            while x < a + n and x not in needed:
                x += 1
            assert x - g < cost and not memmap.read_has_side_effects(g, x - g)
        assert a in needed and (a + n - 1) in needed          # requests start/end on wanted bytes
    # no missed merge: two neighbours in one area with a cheap, harmless gap that fit together
    for part in (plain, clearing):
        for (a1, n1), (a2, n2) in zip(part, part[1:]):
            gap = a2 - (a1 + n1)
            if memmap.find_area(a1, 1) == memmap.find_area(a2, 1) and gap < cost \
                    and not memmap.read_has_side_effects(a1 + n1, gap):
                assert a2 + n2 - a1 > mb
    # buffer layout: the requests back to back
    reqs = p.requests
    assert list(p.offsets) == [sum(n for _, n in reqs[:i]) for i in range(len(reqs))]
    assert list(p.lengths) == [n for _, n in reqs]
    assert p.buffer_size == sum(n for _, n in reqs)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ranges=st.lists(raw_ranges(), min_size=1, max_size=25),
       mb=st.sampled_from([4, 16, 100, 1024, 1500]),
       cost=st.sampled_from([0, 1, 16, 300, DEFAULT_REQUEST_COST]))
def test_property_raw_ranges(ranges: List[Tuple[int, int]], mb: int, cost: int) -> None:
    p = ScanPlan(max_block=mb, request_cost=cost)
    for i, (a, n) in enumerate(ranges):
        p.add_raw(a, n, name=f"r{i}")
    check_plan(p)
    mem = Memory()
    res = p.result(fill(p, mem))
    for i, (a, n) in enumerate(ranges):
        assert res[f"r{i}"] == mem.read(a, n)


point_specs = st.one_of(
    st.tuples(st.just("digital"), st.integers(0, 15), st.integers(0, 63)),
    st.tuples(st.just("analog"), st.integers(0, 15), st.integers(0, 63)),
    st.tuples(st.just("counter"), st.integers(0, 15), st.integers(0, 63)),
    st.tuples(st.just("int32"), st.integers(0, 10200), st.integers(1, 40)),
    st.tuples(st.just("float"), st.integers(1000, 1030), st.integers(1, 40)),
    st.tuples(st.just("int64"), st.integers(0, 1000), st.integers(1, 20)),
    st.tuples(st.just("status"), st.sampled_from(sorted(STATUS_FIELDS)), st.just(0)),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(specs=st.lists(point_specs, min_size=1, max_size=40),
       mb=st.sampled_from([8, 64, 1024]),
       cost=st.sampled_from([0, 64, DEFAULT_REQUEST_COST]))
def test_property_points_decode_like_alone(specs: List[Tuple[str, Any, int]], mb: int, cost: int) -> None:
    """The planned, merged read decodes every point exactly as a plan holding it alone."""
    p = ScanPlan(max_block=mb, request_cost=cost)
    added = []
    for kind, a, b in specs:
        try:
            if kind == "digital":
                name = p.add_digital(a, b)
            elif kind == "analog":
                name = p.add_analog(a, b)
            elif kind == "counter":
                name = p.add_digital_counter(a, b)
            elif kind == "status":
                name = p.add_status(a)
            else:
                name = getattr(p, f"add_scratchpad_{kind}")(a, b)
        except ValueError:      # duplicate name: the same point twice
            continue
        added.append((name, kind, a, b))
    check_plan(p)
    mem = Memory()
    res = p.result(fill(p, mem))
    everything = res.values()
    assert list(everything) == [n for n, *_ in added]
    for name, kind, a, b in added:
        alone = ScanPlan(request_cost=0)
        if kind == "digital":
            alone.add_digital(a, b, name=name)
        elif kind == "analog":
            alone.add_analog(a, b, name=name)
        elif kind == "counter":
            alone.add_digital_counter(a, b, name=name)
        elif kind == "status":
            alone.add_status(a, name=name)
        else:
            getattr(alone, f"add_scratchpad_{kind}")(a, b, name=name)
        want = alone.result(fill(alone, mem))[name]
        assert same(res[name], want)
        assert same(everything[name], want)
        if kind in ("int32", "float", "int64"):
            arr = res.array(name)
            assert same(arr.tolist(), want if isinstance(want, list) else [want])


def test_a_raw_range_that_runs_into_a_read_and_clear_area_is_read_last_as_a_whole() -> None:
    """Found by the property test: 0xF1809449 + 3000 bytes ends inside the read-and-clear
    latches at 0xF180A000.  Every request it is cut into is a clearing read (sent after the
    plain ones, never repeated), and its bytes come back whole."""
    a, n = 4_051_735_625, 3000
    assert memmap.read_has_side_effects(a, n) and not memmap.read_has_side_effects(a, 0xF180A000 - a)
    p = ScanPlan(max_block=1024)
    plain_name = p.add_raw(0xF0D81000, 8)
    name = p.add_raw(a, n)
    p.freeze()
    assert p.requests[0] == (0xF0D81000, 8)
    assert p.clear_from == 1 and all(p.side_effects[1:]) and not p.side_effects[0]
    assert sum(length for _, length in p.requests[1:]) == n
    buf = bytearray(p.buffer_size)
    for (addr, length), off in zip(p.requests, p.offsets):
        for i in range(length):
            buf[off + i] = (addr + i) & 0xFF         # each byte says where it was read
    res = p.result(buf)
    assert res[name] == bytes((a + i) & 0xFF for i in range(n))
    assert res[plain_name] == bytes((0xF0D81000 + i) & 0xFF for i in range(8))
