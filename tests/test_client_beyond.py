"""Beyond the packed areas, client side: read-and-clear, point configuration,
SNAP PAC (``device="snap"``), the custom area (``prepare``) and their failure
rules.  Against the simulator (epic and snap profiles) on both clients, plus
raw-socket tests of the exact request bytes, whose addresses are written out
by hand from PROTOCOL.md §3.6-3.8 (not taken from mmpfast.memmap)."""
from __future__ import annotations

import struct
import time
from typing import Any, Iterator, List, Tuple

import pytest

import mmpfast
from mmpfast import (AsyncClient, Client, DigitalCounts, MmpConnectionError, MmpError, MmpNakError,
                     MmpTimeoutError, PointConfig, ScanPlan)
from mmpfast.records import AnalogChannel, DigitalChannel
from mmpfast.sim import Fault, FaultProxy, Simulator

from plans import scattered_plan
from scripted_server import AsyncAdapter, ScriptedServer

TCODE_WRITE = 1
TCODE_READ = 5
#: a rack the two devices share: SNAP points are channels 0..3 of each module
RACK = ["di:8", "do:8", "ai:4", "ao:4", "di:4", None, "di:4"]


def make_client(kind: str, host: str, port: int, **kw: Any) -> Any:
    kw.setdefault("timeout", 2.0)
    if kind == "blocking":
        return Client(host, port, **kw)
    return AsyncAdapter(AsyncClient(host, port, **kw))


@pytest.fixture(params=["blocking", "asyncio"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(params=["epic", "snap"])
def rig(request: pytest.FixtureRequest, kind: str) -> Iterator[Tuple[Simulator, Any]]:
    device = str(request.param)
    with Simulator(port=0, profile=device, modules=RACK) as sim:
        c = make_client(kind, sim.host, sim.port, device=device)
        try:
            if device == "snap":
                c.powerup_clear()
            yield sim, c
        finally:
            c.close()


def pulses(sim: Simulator, m: int, ch: int, n: int) -> None:
    for _ in range(n):
        sim.set_digital(m, ch, True)
        sim.set_digital(m, ch, False)


def frames_in(sim: Simulator) -> int:
    return sim.stats.frames_in


def drop_connection(c: Any) -> None:
    """Close the client's connection, keeping the client (and an adapter's loop) usable."""
    if isinstance(c, AsyncAdapter):
        c.__getattr__("close")()
    else:
        c.close()


# =============================================================================
# every call on both devices, both clients
# =============================================================================
def test_device_property_and_checks(kind: str) -> None:
    for device in ("epic", "snap"):
        c = make_client(kind, "127.0.0.1", 2001, device=device)
        assert c.device == device
        c.close()
    c = make_client(kind, "127.0.0.1", 2001)
    assert c.device == "epic"
    c.close()
    with pytest.raises(ValueError):
        Client("127.0.0.1", device="pac")
    with pytest.raises(TypeError):
        AsyncClient("127.0.0.1", device=1)  # type: ignore[arg-type]


def test_read_clear_digital_returns_then_clears(rig: Tuple[Simulator, Any]) -> None:
    sim, c = rig
    c.write_point_feature(0, 2, 1)                   # the counter feature, through the client
    assert c.read_point_config(0, 2).feature == 1
    assert c.read_digital_channel(0, 2).feature_type == 1    # EPIC feature type / SNAP counter active
    pulses(sim, 0, 2, 5)
    assert c.read_clear_digital(0, 2) == DigitalCounts(5, True, True)
    assert c.read_clear_digital(0, 2) == DigitalCounts(0, False, False)
    sim.set_digital(0, 2, True)
    got = c.read_clear_digital(0, 2)
    assert isinstance(got, DigitalCounts) and got == (1, True, False)
    assert c.read_digital(0, 2) is True                     # the state is not cleared
    c.write_point_feature(0, 2, 0)
    pulses(sim, 0, 2, 3)
    assert c.read_clear_digital(0, 2) == (0, True, True)    # no counting without the feature
    assert c.read_point_config(0, 2).feature == 0


def test_read_clear_analog_minmax_returns_then_resets(rig: Tuple[Simulator, Any]) -> None:
    sim, c = rig
    for v in (4.0, -2.5, 1.5):
        sim.set_analog(2, 1, v)
    assert c.read_clear_analog_minmax(2, 1) == (-2.5, 4.0)
    assert c.read_clear_analog_minmax(2, 1) == (1.5, 1.5)    # reset to the present value
    sim.set_analog(2, 1, 3.25)
    assert c.read_clear_analog_minmax(2, 1) == (1.5, 3.25)
    ch = c.read_analog_channel(2, 1)
    assert isinstance(ch, AnalogChannel) and ch.value == 3.25 and ch.quality == 0


def test_point_config_of_the_rack(rig: Tuple[Simulator, Any]) -> None:
    sim, c = rig
    for m, (kind_, n, ptype) in {0: ("di", 8, 0x100), 1: ("do", 8, 0x180), 2: ("ai", 4, 0x200),
                                 3: ("ao", 4, 0x280)}.items():
        cfg = c.read_point_config(m, 3)
        assert isinstance(cfg, PointConfig)
        assert cfg.module_type == ptype << 16 | n and cfg.point_type == ptype, kind_
        assert cfg.gain == 1.0 and cfg.name == "" and cfg.watchdog_enabled is False
        analog = kind_ in ("ai", "ao")
        assert (cfg.high_scale, cfg.low_scale) == ((10.0, -10.0) if analog else (0.0, 0.0))
    # the name field, +0x30 of the record (EPIC 0xF0100000 + 0xC0*1, SNAP 0xF0C00000 + 0x40*1)
    c.write(0xF01000F0 if c.device == "epic" else 0xF0C00070, b"PUMP 1\0")
    assert c.read_point_config(0, 1).name == "PUMP 1"
    empty = c.read_point_config(5, 0)                       # an empty slot reads as zeros
    assert empty == PointConfig(0, 0, 0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, False, "")


def test_digital_and_analog_points(rig: Tuple[Simulator, Any]) -> None:
    sim, c = rig
    c.write_digital(1, 3, True)
    assert sim.get_digital(1, 3) is True and c.read_digital(1, 3) is True
    c.write_digital(1, 3, False)
    assert sim.get_digital(1, 3) is False and c.read_digital(1, 3) is False
    sim.set_digital(4, 1, True)
    ch = c.read_digital_channel(4, 1)
    assert isinstance(ch, DigitalChannel)
    assert (ch.state, ch.on_latch, ch.quality) == (True, True, 0)
    c.write_analog(3, 2, -7.5)
    assert sim.get_analog(3, 2) == -7.5 and c.read_analog(3, 2) == -7.5
    sim.set_analog(2, 0, 12.0)
    assert c.read_analog(2, 0) == 12.0


def test_bad_points_send_nothing(rig: Tuple[Simulator, Any]) -> None:
    sim, c = rig
    c.uptime_ms()                                           # connected
    before = frames_in(sim)
    top = 3 if c.device == "snap" else 63
    for call in (c.read_digital, c.read_analog, c.read_digital_channel, c.read_analog_channel,
                 c.read_clear_digital, c.read_clear_analog_minmax, c.read_point_config):
        with pytest.raises(ValueError):
            call(0, top + 1)
        with pytest.raises(ValueError):
            call(16, 0)
        with pytest.raises(TypeError):
            call(0, True)
    with pytest.raises(ValueError):
        c.write_point_feature(0, 0, -1)
    with pytest.raises(ValueError):
        c.write_point_feature(0, 0, 1 << 32)
    with pytest.raises(TypeError):
        c.write_point_feature(0, 0, 1.0)
    with pytest.raises(ValueError):
        c.write_digital(0, top + 1, True)
    with pytest.raises(ValueError):
        c.write_analog(0, top + 1, 1.0)
    assert frames_in(sim) == before


def test_snap_channel_4_is_not_a_point(kind: str) -> None:
    with Simulator(port=0, profile="snap", modules=RACK) as sim:
        c = make_client(kind, sim.host, sim.port, device="snap")
        try:
            c.powerup_clear()
            with pytest.raises(ValueError, match="channel 4 out of range 0..3"):
                c.read_digital(0, 4)
            sim.set_digital(0, 4, True)         # module 0's channel 4 has no SNAP point
            assert [c.read_digital(0, ch) for ch in range(4)] == [False] * 4
        finally:
            c.close()


def test_scan_of_another_device_is_value_error(rig: Tuple[Simulator, Any]) -> None:
    sim, c = rig
    other = "epic" if c.device == "snap" else "snap"
    p = ScanPlan(device=other)
    p.add_digital(0, 1)
    c.uptime_ms()
    before = frames_in(sim)
    with pytest.raises(ValueError, match="device"):
        c.scan(p)
    with pytest.raises(ValueError, match="device"):
        c.scan_into(p, p.new_buffer())
    with pytest.raises(ValueError, match="device"):
        c.prepare(p)
    assert frames_in(sim) == before
    same = ScanPlan(device=c.device)
    same.add_digital(0, 1)
    sim.set_digital(0, 1, True)
    assert c.scan(same)["digital[0][1]"] is True


def test_scan_with_clear_digital_on_both_devices(rig: Tuple[Simulator, Any]) -> None:
    sim, c = rig
    c.write_point_feature(4, 0, 1)
    pulses(sim, 4, 0, 3)
    p = ScanPlan(device=c.device)
    p.add_digital(4, 0)
    p.add_clear_digital(4, 0)
    p.add_analog(2, 0)
    sim.set_analog(2, 0, 2.5)
    r = c.scan(p)
    assert r["clear_digital[4][0]"] == (3, True, True) and r["analog[2][0]"] == 2.5
    assert c.scan(p)["clear_digital[4][0]"] == (0, False, False)


# =============================================================================
# read-and-clear is never repeated (frames counted at the proxy)
# =============================================================================
@pytest.fixture
def proxied(kind: str) -> Iterator[Tuple[Simulator, FaultProxy, Any]]:
    with Simulator(port=0, modules=RACK) as sim, FaultProxy(sim.host, sim.port) as proxy:
        c = make_client(kind, proxy.host, proxy.port, timeout=0.6)
        try:
            yield sim, proxy, c
        finally:
            c.close()


@pytest.mark.parametrize("fault", [Fault.cut_data(), Fault.reset(), Fault.close()],
                         ids=["cut_data", "reset", "close"])
def test_dropped_connection_during_read_clear_digital_is_not_retried(
        proxied: Tuple[Simulator, FaultProxy, Any], fault: Fault) -> None:
    sim, proxy, c = proxied
    sim.set_feature(0, 1, 1)
    pulses(sim, 0, 1, 4)
    assert c.uptime_ms() > 0
    proxy.up_by_tcode.clear()
    proxy.next_response(fault)
    with pytest.raises(MmpConnectionError):
        c.read_clear_digital(0, 1)
    assert proxy.up_by_tcode == {TCODE_READ: 1}         # sent once, never again
    assert c.read_clear_digital(0, 1) == (0, False, False)  # the device cleared them: gone
    assert proxy.up_by_tcode == {TCODE_READ: 2}


def test_lost_answer_of_read_clear_is_timeout_not_retried(proxied: Tuple[Simulator, FaultProxy, Any]) -> None:
    sim, proxy, c = proxied
    assert c.uptime_ms() > 0
    proxy.up_by_tcode.clear()
    proxy.next_response(Fault.drop())
    with pytest.raises(MmpTimeoutError):
        c.read_clear_analog_minmax(2, 0)
    assert proxy.up_by_tcode == {TCODE_READ: 1}


def test_connect_failure_before_a_read_clear_sends_nothing(kind: str) -> None:
    with Simulator(port=0) as sim:
        port = sim.port
    c = make_client(kind, "127.0.0.1", port, timeout=0.5)
    try:
        with pytest.raises(MmpConnectionError):
            c.read_clear_digital(0, 0)
    finally:
        c.close()


def test_scan_repeats_the_plain_part_but_never_the_clearing_part(
        kind: str, proxied: Tuple[Simulator, FaultProxy, Any]) -> None:
    sim, proxy, _ = proxied
    c = make_client(kind, proxy.host, proxy.port, timeout=1.0, pipeline=8)
    try:
        sim.set_feature(0, 1, 1)
        pulses(sim, 0, 1, 2)
        sim.set_digital(0, 3, True)
        p = ScanPlan()
        p.add_digital(0, 3)
        p.add_status("serial")
        p.add_clear_digital(0, 1)
        plain = p.clear_from
        assert plain == 2 and len(p.requests) == 3
        assert c.uptime_ms() > 0
        # the plain window's connection drops: repeated on a new one, the clear read sent once
        proxy.up_by_tcode.clear()
        proxy.next_response(Fault.cut_data())
        r = c.scan(p)
        assert r["clear_digital[0][1]"] == (2, True, True) and r["digital[0][3]"] is True
        assert proxy.up_by_tcode == {TCODE_READ: 2 * plain + 1}
        # a NAK in the plain window: the clear read is not sent at all, the counts stay
        pulses(sim, 0, 1, 3)
        proxy.up_by_tcode.clear()
        proxy.queue_faults([None, Fault.corrupt(6, 0x50)])      # second plain answer: rcode 5
        with pytest.raises(MmpNakError):
            c.scan(p)
        assert proxy.up_by_tcode == {TCODE_READ: plain}
        # the clearing answer lost: an error, never repeated, the counts are gone
        proxy.up_by_tcode.clear()
        proxy.queue_faults([None, None, Fault.cut_data()])
        with pytest.raises(MmpConnectionError):
            c.scan(p)
        assert proxy.up_by_tcode == {TCODE_READ: plain + 1}
        assert c.read_clear_digital(0, 1) == (0, False, False)
    finally:
        c.close()


# =============================================================================
# the custom area: prepare, then scan
# =============================================================================


def test_custom_area_scan_needs_fewer_requests_after_prepare(kind: str) -> None:
    with Simulator(port=0, modules=RACK) as sim:
        c = make_client(kind, sim.host, sim.port, timeout=5.0)
        try:
            ints = [(-1) ** k * (1000 * k + 7) for k in range(100)]
            floats = [k / 8 - 3.0 for k in range(100)]
            for k in range(100):
                c.write_scratchpad_int32(1024 + 90 * k, ints[k])
                c.write_scratchpad_float(1024 + 90 * k, floats[k])
            sim.set_digital(0, 2, True)
            sim.set_analog(2, 3, 6.5)
            plain, gathered = scattered_plan(False), scattered_plan(True)
            assert len(gathered.custom_addresses) >= 200
            assert len(gathered.requests) < len(plain.requests)

            before = sim.stats.by_tcode.get(TCODE_READ, 0)
            want = c.scan(plain)
            plain_reads = sim.stats.by_tcode.get(TCODE_READ, 0) - before
            writes = sim.stats.by_tcode.get(TCODE_WRITE, 0)
            c.prepare(gathered)
            assert sim.stats.by_tcode.get(TCODE_WRITE, 0) - writes == len(gathered.custom_writes)
            before = sim.stats.by_tcode.get(TCODE_READ, 0)
            got = c.scan(gathered)
            gathered_reads = sim.stats.by_tcode.get(TCODE_READ, 0) - before
            assert (plain_reads, gathered_reads) == (len(plain.requests), len(gathered.requests))
            assert gathered_reads < plain_reads
            assert got.values() == want.values()
            assert [got[f"scratchpad_int32[{1024 + 90 * k}]"] for k in range(100)] == ints
            assert [got[f"scratchpad_float[{1024 + 90 * k}]"] for k in range(100)] == floats
            assert got["digital[0][2]"] is True and got["analog[2][3]"] == 6.5
            buf = gathered.new_buffer()
            c.scan_into(gathered, buf)
            assert gathered.result(buf).values() == want.values()
        finally:
            c.close()


def test_custom_plan_not_prepared_is_mmp_error_before_sending(kind: str) -> None:
    with Simulator(port=0, modules=RACK) as sim:
        c = make_client(kind, sim.host, sim.port, timeout=5.0)
        try:
            gathered = scattered_plan(True)
            c.uptime_ms()
            sent = frames_in(sim)
            with pytest.raises(MmpError, match="prepare"):
                c.scan(gathered)
            with pytest.raises(MmpError, match="prepare"):
                c.scan_into(gathered, gathered.new_buffer())
            assert frames_in(sim) == sent and c.connected     # nothing sent, connection kept
            c.prepare(gathered)
            c.scan(gathered)
            # a reconnect forgets the list
            drop_connection(c)
            assert not c.connected
            with pytest.raises(MmpError, match="prepare"):
                c.scan(gathered)
            c.prepare(gathered)
            c.scan(gathered)
            # another plan's list replaces it
            other = ScanPlan(custom_area=True)
            for k in range(60):
                other.add_scratchpad_int32(2000 + 50 * k)
            assert other.custom_addresses and other.custom_addresses != gathered.custom_addresses
            c.prepare(other)
            with pytest.raises(MmpError, match="prepare"):
                c.scan(gathered)
            c.scan(other)
            # a raw write over the address list forgets it too
            c.write(0xF0D50000, b"\0\0\0\0")
            with pytest.raises(MmpError, match="prepare"):
                c.scan(other)
            # a plan that needs no list, and preparing it, send nothing
            simple = ScanPlan(custom_area=True)
            simple.add_scratchpad_int32(5, 3)
            assert simple.custom_addresses == () and simple.custom_writes == ()
            sent = frames_in(sim)
            c.prepare(simple)
            assert frames_in(sim) == sent
            assert c.scan(simple)["scratchpad_int32[5:8]"] == [0, 0, 0]
        finally:
            c.close()


def test_custom_scan_is_not_repeated_on_a_new_connection(proxied: Tuple[Simulator, FaultProxy, Any]) -> None:
    sim, proxy, c = proxied
    gathered = scattered_plan(True)
    c.prepare(gathered)
    proxy.up_by_tcode.clear()
    proxy.next_response(Fault.cut_data())
    with pytest.raises(MmpConnectionError):
        c.scan(gathered)
    assert proxy.up_by_tcode == {TCODE_READ: 1}
    connections = proxy.connections
    with pytest.raises(MmpError, match="prepare"):
        c.scan(gathered)
    assert proxy.connections == connections and not c.connected    # raised before connecting


# =============================================================================
# exact request bytes (addresses by hand from PROTOCOL.md)
# =============================================================================
def read_request(tl: int, address: int, length: int) -> bytes:
    """tcode 5 block read: 00 00 | tl<<2 | 0x50 | 00 00 | FF FF + address | length | 00 00."""
    return bytes([0, 0, tl << 2, 0x50, 0, 0, 0xFF, 0xFF]) + address.to_bytes(4, "big") \
        + length.to_bytes(2, "big") + b"\0\0"


def write_request(tl: int, address: int, data: bytes) -> bytes:
    """tcode 1 block write: as the read, byte 3 0x10, then the data."""
    return bytes([0, 0, tl << 2, 0x10, 0, 0, 0xFF, 0xFF]) + address.to_bytes(4, "big") \
        + len(data).to_bytes(2, "big") + b"\0\0" + data


def sent(server: ScriptedServer, n: int) -> List[bytes]:
    end = time.monotonic() + 2.0
    while len(server.frames) < n and time.monotonic() < end:
        time.sleep(0.002)
    return list(server.frames)


@pytest.fixture
def scripted() -> Iterator[ScriptedServer]:
    with ScriptedServer() as s:
        yield s


EPIC_BYTES = [
    # read_clear_digital(2, 3): 0xF02E0000 + 0x600*2 + 0x18*3 = 0xF02E0C48, 12 bytes
    ("read_clear_digital", (2, 3), [("r", 0xF02E0C48, 12)]),
    # read_clear_analog_minmax(5, 7): 0xF01D4000 + 0x300*5 + 0x0C*7 = 0xF01D4F54, 8 bytes
    ("read_clear_analog_minmax", (5, 7), [("r", 0xF01D4F54, 8)]),
    # read_point_config(3, 9): 0xF0100000 + 0x3000*3 + 0xC0*9 = 0xF01096C0, 0x30 + 51 bytes
    ("read_point_config", (3, 9), [("r", 0xF01096C0, 0x63)]),
    # write_point_feature(1, 2, 8): +0x08 of 0xF0103180
    ("write_point_feature", (1, 2, 8), [("w", 0xF0103188, b"\0\0\0\x08")]),
    ("read_digital", (1, 2), [("r", 0xF01E1080, 4)]),
    ("write_digital", (1, 2, True), [("w", 0xF0221080, b"\0\0\0\x01")]),
    ("read_analog", (2, 1), [("r", 0xF0262040, 4)]),
]
SNAP_BYTES = [
    # p = 4*m + c; read_clear_digital(2, 3): p 11: 0xF0F00000 + 4*11, + 0x100, + 0x200
    ("read_clear_digital", (2, 3), [("r", 0xF0F0002C, 4), ("r", 0xF0F0012C, 4), ("r", 0xF0F0022C, 4)]),
    # read_clear_analog_minmax(15, 3): p 63: 0xF0F80000 + 0xFC, + 0x100
    ("read_clear_analog_minmax", (15, 3), [("r", 0xF0F800FC, 4), ("r", 0xF0F801FC, 4)]),
    # read_point_config(1, 1): p 5: 0xF0C00000 + 0x40*5, 0x30 + 16 bytes
    ("read_point_config", (1, 1), [("r", 0xF0C00140, 0x40)]),
    ("write_point_feature", (1, 1, 1), [("w", 0xF0C00148, b"\0\0\0\x01")]),
    # digital point read 0xF0800000 + 0x40*p, write 0xF0900000 + 0x40*p (+0 on, +4 off)
    ("read_digital", (0, 3), [("r", 0xF08000C0, 4)]),
    ("write_digital", (0, 3, True), [("w", 0xF09000C0, b"\0\0\0\x01")]),
    ("write_digital", (0, 3, False), [("w", 0xF09000C4, b"\0\0\0\x01")]),
    ("read_digital_channel", (1, 0), [("r", 0xF0800100, 0x14)]),
    # analog point read 0xF0A00000 + 0x40*p, write 0xF0B00000 + 0x40*p
    ("read_analog", (3, 2), [("r", 0xF0A00380, 4)]),
    ("write_analog", (3, 2, 1.5), [("w", 0xF0B00380, b"\x3f\xc0\0\0")]),
    ("read_analog_channel", (3, 2), [("r", 0xF0A00380, 0x10)]),
]


@pytest.mark.parametrize("device,name,args,expected",
                         [("epic", *row) for row in EPIC_BYTES] + [("snap", *row) for row in SNAP_BYTES],
                         ids=[f"epic-{r[0]}{r[1]}" for r in EPIC_BYTES] + [f"snap-{r[0]}{r[1]}" for r in SNAP_BYTES])
def test_exact_request_bytes(scripted: ScriptedServer, kind: str, device: str, name: str, args: Any,
                             expected: List[Any]) -> None:
    c = make_client(kind, scripted.host, scripted.port, device=device)
    try:
        getattr(c, name)(*args)
        want = [read_request(tl, a, n) if op == "r" else write_request(tl, a, n)
                for tl, (op, a, n) in enumerate(expected)]
        assert sent(scripted, len(want)) == want
    finally:
        c.close()


def test_prepare_sends_the_address_list(scripted: ScriptedServer, kind: str) -> None:
    p = scattered_plan(True)
    addresses = p.custom_addresses
    c = make_client(kind, scripted.host, scripted.port, max_block=512)
    try:
        c.prepare(p)
        data = struct.pack(f">{len(addresses)}I", *addresses)
        want = [write_request(i, 0xF0D50000 + k, data[k:k + 512]) for i, k in enumerate(range(0, len(data), 512))]
        assert sent(scripted, len(want)) == want
        assert addresses[:2] != (0, 0) and all(0xF0000000 <= a < 0xF2000000 for a in addresses)
        scripted.clear()
        c.scan(p)
        reqs = [mmpfast.codec.decode_frame(f) for f in sent(scripted, len(p.requests))]
        spans = [(f.address & 0xFFFFFFFF, f.data_length) for f in reqs]
        gathered = [(a, n) for a, n in spans if 0xF0D60000 <= a < 0xF0D61000]
        assert gathered and gathered[0][0] == 0xF0D60000
        assert sum(n for _, n in gathered) == 4 * len(addresses)
    finally:
        c.close()
