"""The simulator's read-and-clear, point configuration, SNAP PAC and custom areas over
a raw socket.  Request bytes are built here by hand from PROTOCOL.md §1.2 and the
addresses are written out as PROTOCOL.md §3.6-3.8 give them (not taken from mmpfast)."""
from __future__ import annotations

import socket
import struct
from typing import Iterator, Sequence, Tuple

import pytest

from mmpfast.sim import Simulator

PUC_REQUEST = bytes.fromhex("00 00 04 00 00 00 FF FF F0 38 00 00 00 00 00 01")   # PROTOCOL.md §1.2


def read_block(tl: int, address: int, n: int) -> bytes:
    """tcode 5: 00 00 | tl<<2 | 0x50 | source 00 00 | FF FF + address | length | 00 00."""
    return bytes((0, 0, tl << 2, 0x50, 0, 0, 0xFF, 0xFF)) + address.to_bytes(4, "big") \
        + n.to_bytes(2, "big") + b"\x00\x00"


def read_quadlet(tl: int, address: int) -> bytes:
    return bytes((0, 0, tl << 2, 0x40, 0, 0, 0xFF, 0xFF)) + address.to_bytes(4, "big")


def write_block(tl: int, address: int, data: bytes) -> bytes:
    return bytes((0, 0, tl << 2, 0x10, 0, 0, 0xFF, 0xFF)) + address.to_bytes(4, "big") \
        + len(data).to_bytes(2, "big") + b"\x00\x00" + data


def _recv(s: socket.socket, n: int) -> bytes:
    out = b""
    while len(out) < n:
        chunk = s.recv(n - len(out))
        assert chunk, "connection closed"
        out += chunk
    return out


class Raw:
    """One TCP connection; ``ask`` sends a request and returns (tcode, tl, rcode, data)."""

    def __init__(self, s: socket.socket) -> None:
        self.s = s
        self.tl = 0

    def ask(self, frame: bytes) -> Tuple[int, int, int, bytes]:
        self.s.sendall(frame)
        head = _recv(self.s, 12)
        tcode, tl, rcode = head[3] >> 4, head[2] >> 2, head[6] >> 4
        if tcode == 2:
            return tcode, tl, rcode, b""
        head += _recv(self.s, 4)
        if tcode == 6:
            return tcode, tl, rcode, head[12:16]
        n = int.from_bytes(head[12:14], "big")
        return tcode, tl, rcode, _recv(self.s, n)

    def _tl(self) -> int:
        self.tl = (self.tl + 1) % 64
        return self.tl

    def read(self, address: int, n: int) -> bytes:
        tl = self._tl()
        tcode, rtl, rcode, data = self.ask(read_block(tl, address, n))
        assert (tcode, rtl, rcode, len(data)) == (7, tl, 0, n), (hex(address), rcode)
        return data

    def read_nak(self, address: int, n: int) -> int:
        tl = self._tl()
        tcode, rtl, rcode, data = self.ask(read_block(tl, address, n))
        assert (tcode, rtl, data) == (7, tl, b"") and rcode != 0
        return rcode

    def write(self, address: int, data: bytes) -> int:
        tl = self._tl()
        tcode, rtl, rcode, _ = self.ask(write_block(tl, address, data))
        assert (tcode, rtl) == (2, tl)
        return rcode

    def u32(self, address: int) -> int:
        return int(struct.unpack(">I", self.read(address, 4))[0])

    def f32(self, address: int) -> float:
        return float(struct.unpack(">f", self.read(address, 4))[0])


def connect(sim: Simulator) -> Raw:
    s = socket.create_connection((sim.host, sim.port), timeout=3)
    return Raw(s)


@pytest.fixture
def epic() -> Iterator[Tuple[Simulator, Raw]]:
    with Simulator(modules=["di:32", "do:16", "ai:8", "ao:4", None, "di:4"]) as sim:
        raw = connect(sim)
        try:
            yield sim, raw
        finally:
            raw.s.close()


def pulses(sim: Simulator, m: int, c: int, n: int) -> None:
    for _ in range(n):
        sim.set_digital(m, c, True)
        sim.set_digital(m, c, False)


# ============================================================================ EPIC read-and-clear
def test_epic_digital_read_and_clear(epic: Tuple[Simulator, Raw]) -> None:
    sim, raw = epic
    sim.set_feature(0, 2, 1)
    pulses(sim, 0, 2, 5)
    rec = 0xF02E0000 + 0x600 * 0 + 0x18 * 2                   # 0xF02E0030
    assert raw.read(rec, 12) == struct.pack(">III", 5, 1, 1)
    assert raw.read(rec, 12) == bytes(12)                      # returned, then cleared
    # the digital read slot 0xF01E0000 + 0x40*2 agrees: state 0, latches 0, feature 1, count 0
    assert struct.unpack(">IIIII", raw.read(0xF01E0080, 20)) == (0, 0, 0, 1, 0)
    # a read quadlet of the on-latch alone clears only the on-latch
    pulses(sim, 0, 2, 2)
    tcode, tl, rcode, data = raw.ask(read_quadlet(9, rec + 4))
    assert (tcode, tl, rcode, data) == (6, 9, 0, b"\x00\x00\x00\x01")
    assert raw.read(rec, 12) == struct.pack(">III", 2, 0, 1)
    # module 5 channel 3 (di:4): 0xF02E0000 + 0x600*5 + 0x18*3
    sim.set_digital(5, 3, True)
    assert raw.read(0xF02E1E48, 12) == struct.pack(">III", 0, 1, 0)
    assert raw.read(0xF02E1E48, 12) == bytes(12)
    assert sim.get_digital(5, 3) is True                       # the state is not cleared


def test_epic_analog_minmax_read_and_clear(epic: Tuple[Simulator, Raw]) -> None:
    sim, raw = epic
    for v in (9.0, -1.0, 2.0):
        sim.set_analog(2, 6, v)
    rec = 0xF01D4000 + 0x300 * 2 + 0x0C * 6                   # 0xF01D4648
    assert struct.unpack(">ff", raw.read(rec, 8)) == (-1.0, 9.0)
    assert struct.unpack(">ff", raw.read(rec, 8)) == (2.0, 2.0)   # reset to the current value
    # the analog read slot 0xF0260000 + 0x2000 + 0x180 shows min/max at +8/+0xC
    assert struct.unpack(">ff", raw.read(0xF0262188, 8)) == (2.0, 2.0)
    sim.set_analog(2, 6, 5.5)
    assert raw.f32(rec + 4) == 5.5                             # max only
    assert struct.unpack(">ff", raw.read(0xF0262188, 8)) == (2.0, 5.5)
    sim.set_analog(2, 6, 1.0)
    assert raw.read_nak(rec, 0) == 6                           # a NAK'd read clears nothing
    assert raw.read_nak(rec, 2000) == 6                        # above max_block
    assert struct.unpack(">ff", raw.read(rec, 8)) == (1.0, 5.5)


# ============================================================================ point configuration
def pc(m: int, c: int) -> int:
    return 0xF0100000 + 0x3000 * m + 0xC0 * c


PC_FIELDS = struct.Struct(">IIIffff4xffI")    # +0x00 .. +0x2B per PROTOCOL.md §3.6


def test_point_config_from_the_rack(epic: Tuple[Simulator, Raw]) -> None:
    sim, raw = epic
    di = PC_FIELDS.unpack(raw.read(pc(0, 0), 0x2C))
    assert di == (0x01000020, 0x100, 0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0)
    do = PC_FIELDS.unpack(raw.read(pc(1, 15), 0x2C))
    assert do[:3] == (0x01800010, 0x180, 0)
    ai = PC_FIELDS.unpack(raw.read(pc(2, 7), 0x2C))
    assert ai == (0x02000008, 0x200, 0, 0.0, 1.0, 10.0, -10.0, 0.0, 0.0, 0)
    assert raw.u32(pc(3, 1)) == 0x02800004 and raw.u32(pc(3, 1) + 4) == 0x280
    assert raw.read(pc(4, 0), 0xC0) == bytes(0xC0)             # empty slot
    assert raw.read(pc(2, 8), 0xC0) == bytes(0xC0)             # beyond the module's 8 channels
    assert raw.read(pc(0, 0) + 0x30, 51) == bytes(51)          # no name


def test_point_config_feature_write_counts(epic: Tuple[Simulator, Raw]) -> None:
    sim, raw = epic
    assert raw.write(pc(0, 5) + 8, b"\x00\x00\x00\x01") == 0   # 0xF01003C8: counter
    pulses(sim, 0, 5, 3)
    slot = 0xF01E0000 + 0x40 * 5
    assert struct.unpack(">II", raw.read(slot + 0x0C, 8)) == (1, 3)
    assert raw.read(0xF02E0000 + 0x18 * 5, 4) == struct.pack(">I", 3)
    assert raw.write(pc(0, 5) + 8, bytes(4)) == 0               # feature none: no more counting
    pulses(sim, 0, 5, 2)
    assert struct.unpack(">II", raw.read(slot + 0x0C, 8)) == (0, 0)
    # set_feature shows in the configuration word
    sim.set_feature(0, 6, 1)
    assert raw.u32(pc(0, 6) + 8) == 1


def test_point_config_writes_stored_module_type_kept(epic: Tuple[Simulator, Raw]) -> None:
    sim, raw = epic
    rec = pc(2, 3)
    body = struct.pack(">IIIffff4xffI", 0xDEADBEEF, 0x200, 0, 0.5, 2.0, 20.0, -5.0, 0.25, 4.0, 1)
    assert raw.write(rec, body) == 0
    assert PC_FIELDS.unpack(raw.read(rec, 0x2C)) == (0x02000008, 0x200, 0, 0.5, 2.0, 20.0, -5.0,
                                                      0.25, 4.0, 1)
    name = b"Tank level\x00"
    assert raw.write(rec + 0x30, name) == 0
    assert raw.read(rec + 0x30, 51) == name + bytes(51 - len(name))
    # an analog channel's feature word is only stored
    assert raw.write(rec + 8, b"\x00\x00\x00\x01") == 0
    assert raw.u32(rec + 8) == 1
    # writing the whole record of an empty slot stores it but keeps module type 0
    assert raw.write(pc(4, 0), b"\xff" * 0xC0) == 0
    assert raw.read(pc(4, 0), 8) == bytes(4) + b"\xff" * 4


# ============================================================================ SNAP PAC (§3.7)
@pytest.fixture
def snap() -> Iterator[Tuple[Simulator, Raw]]:
    with Simulator(profile="snap", modules=["di:4", "do:4", "ai:4", "ao:4", "di:8"]) as sim:
        raw = connect(sim)
        try:
            assert raw.read_nak(0xF0800000, 4) == 4                # power-up clear expected
            assert raw.ask(PUC_REQUEST) == (2, 1, 0, b"")
            yield sim, raw
        finally:
            raw.s.close()


def masks(raw: Raw) -> Tuple[int, ...]:
    """state, on-latch, off-latch, active-counter, pulse-complete masks of the digital bank."""
    return tuple(struct.unpack(">5Q", raw.read(0xF0400000, 40)))


def test_snap_digital_point_and_bank_read(snap: Tuple[Simulator, Raw]) -> None:
    sim, raw = snap
    sim.set_feature(0, 1, 1)
    pulses(sim, 0, 1, 4)                     # point 1: counter 4, both latches
    sim.set_digital(0, 2, True)              # point 2
    sim.set_digital(4, 3, True)              # point 19
    sim.set_digital(4, 6, True)              # module 4 channel 6: no legacy point
    # digital point read 0xF0800000 + 0x40*p: state, on, off, counter active, feature value
    assert struct.unpack(">5I", raw.read(0xF0800040, 20)) == (0, 1, 1, 1, 4)
    assert struct.unpack(">5I", raw.read(0xF0800080, 20)) == (1, 1, 0, 0, 0)
    assert struct.unpack(">5I", raw.read(0xF08004C0, 20)) == (1, 1, 0, 0, 0)
    assert masks(raw) == ((1 << 2) | (1 << 19), (1 << 1) | (1 << 2) | (1 << 19), 1 << 1, 1 << 1, 0)
    assert struct.unpack(">I", raw.read(0xF0400100 + 4 * 1, 4))[0] == 4
    # the bank masks are the stream area's masks (0xF1000200)
    assert raw.read(0xF1000200, 32) == raw.read(0xF0400000, 32)


def test_snap_digital_point_write_commands(snap: Tuple[Simulator, Raw]) -> None:
    sim, raw = snap
    on, off = 0xF0900000 + 0x40 * 5, 0xF0900000 + 0x40 * 5 + 4          # point 5 = module 1 ch 1
    assert raw.write(on, b"\x00\x00\x00\x01") == 0
    assert sim.get_digital(1, 1) is True
    assert raw.read(on, 16) == bytes(16)                                   # commands read back 0
    assert raw.write(off, b"\x00\x00\x00\x07") == 0
    assert sim.get_digital(1, 1) is False
    assert struct.unpack(">3I", raw.read(0xF0800140, 12)) == (0, 1, 1)
    # turn on of an input point has no effect
    assert raw.write(0xF0900000, b"\x00\x00\x00\x01") == 0
    assert sim.get_digital(0, 0) is False
    # activate / deactivate the counter of point 0 (an input)
    assert raw.write(0xF0900008, b"\x00\x00\x00\x01") == 0
    pulses(sim, 0, 0, 3)
    assert struct.unpack(">II", raw.read(0xF080000C, 8)) == (1, 3)
    assert raw.u32(0xF0100000 + 8) == 1                  # the EPIC point configuration agrees
    assert raw.u32(0xF0C00000 + 8) == 1                  # and the SNAP one
    assert raw.write(0xF090000C, b"\x00\x00\x00\x01") == 0
    pulses(sim, 0, 0, 1)
    assert struct.unpack(">II", raw.read(0xF080000C, 8)) == (0, 3)


def test_snap_digital_bank_write_masks(snap: Tuple[Simulator, Raw]) -> None:
    sim, raw = snap
    turn_on = (1 << 4) | (1 << 6) | (1 << 0)             # points 4, 6 (do module 1) and 0 (input)
    assert raw.write(0xF0500000, struct.pack(">Q", turn_on)) == 0
    assert [sim.get_digital(1, c) for c in range(4)] == [True, False, True, False]
    assert sim.get_digital(0, 0) is False
    assert raw.read(0xF0500000, 32) == bytes(32)
    assert masks(raw)[0] == (1 << 4) | (1 << 6)
    assert raw.write(0xF0500008, struct.pack(">Q", 1 << 6)) == 0          # turn off point 6
    assert [sim.get_digital(1, c) for c in range(4)] == [True, False, False, False]
    assert raw.write(0xF0500010, struct.pack(">Q", 1 << 3)) == 0          # activate counter, point 3
    pulses(sim, 0, 3, 2)
    assert masks(raw)[3] == 1 << 3
    assert raw.read(0xF0400100 + 4 * 3, 4) == struct.pack(">I", 2)


def test_snap_analog_points_and_banks(snap: Tuple[Simulator, Raw]) -> None:
    sim, raw = snap
    for v in (4.0, -2.0, 1.5):
        sim.set_analog(2, 1, v)                          # point 9
    assert struct.unpack(">4f", raw.read(0xF0A00000 + 0x40 * 9, 16)) == (1.5, 0.0, -2.0, 4.0)
    assert raw.f32(0xF0600000 + 4 * 9) == 1.5
    assert raw.f32(0xF0600200 + 4 * 9) == -2.0 and raw.f32(0xF0600300 + 4 * 9) == 4.0
    # analog point write (point 12 = ao module 3 ch 0) and analog bank write (point 13)
    assert raw.write(0xF0B00000 + 0x40 * 12, struct.pack(">f", 7.25)) == 0
    assert sim.get_analog(3, 0) == 7.25
    assert raw.write(0xF0700000 + 4 * 13, struct.pack(">f", -3.5)) == 0
    assert sim.get_analog(3, 1) == -3.5
    assert raw.read(0xF0700000 + 4 * 13, 4) == struct.pack(">f", -3.5)    # reads back as written
    assert raw.f32(0xF0600000 + 4 * 13) == -3.5
    assert raw.f32(0xF0260000 + 0x3000 + 0x40) == -3.5                     # the EPIC slot agrees
    # a write to an input's point write record changes nothing
    assert raw.write(0xF0B00000 + 0x40 * 9, struct.pack(">f", 99.0)) == 0
    assert sim.get_analog(2, 1) == 1.5
    # read-only areas refuse writes
    assert raw.write(0xF0600000, bytes(4)) == 5 and raw.write(0xF0800000, bytes(4)) == 5


def test_snap_read_and_clear(snap: Tuple[Simulator, Raw]) -> None:
    sim, raw = snap
    sim.set_feature(0, 3, 1)
    pulses(sim, 0, 3, 6)
    # 0xF0F00000 + 4*p counts, +0x100 on-latch, +0x200 off-latch
    assert raw.u32(0xF0F00000 + 4 * 3) == 6
    assert raw.u32(0xF0F00000 + 4 * 3) == 0
    assert raw.u32(0xF0F00100 + 4 * 3) == 1                  # on-latch still set, now cleared
    assert struct.unpack(">3I", raw.read(0xF0800000 + 0x40 * 3, 12)) == (0, 0, 1)
    assert raw.u32(0xF0F00200 + 4 * 3) == 1
    assert struct.unpack(">5Q", raw.read(0xF0400000, 40))[1:3] == (0, 0)
    # analog 0xF0F80000 + 4*p min, +0x100 max
    for v in (8.0, -4.0, 0.5):
        sim.set_analog(2, 2, v)                              # point 10
    assert raw.f32(0xF0F80000 + 4 * 10) == -4.0
    assert raw.f32(0xF0F80100 + 4 * 10) == 8.0
    assert struct.unpack(">2f", raw.read(0xF0A00000 + 0x40 * 10 + 8, 8)) == (0.5, 0.5)


def test_snap_point_config(snap: Tuple[Simulator, Raw]) -> None:
    sim, raw = snap
    # 0xF0C00000 + 0x40*p: module type, point type, feature
    assert struct.unpack(">3I", raw.read(0xF0C00000 + 0x40 * 5, 12)) == (0x01800004, 0x180, 0)
    assert struct.unpack(">3I", raw.read(0xF0C00000 + 0x40 * 17, 12)) == (0x01000008, 0x100, 0)
    assert raw.write(0xF0C00000 + 0x40 * 17 + 8, b"\x00\x00\x00\x01") == 0   # point 17 = module 4 ch 1
    pulses(sim, 4, 1, 2)
    assert raw.u32(0xF0800000 + 0x40 * 17 + 0x10) == 2
    assert raw.write(0xF0C00000 + 0x40 * 17 + 0x30, b"Pump\x00") == 0
    assert raw.read(0xF0C00000 + 0x40 * 17 + 0x30, 16) == b"Pump" + bytes(12)


def test_epic_profile_leaves_the_legacy_areas_alone(epic: Tuple[Simulator, Raw]) -> None:
    sim, raw = epic
    sim.set_digital(0, 1, True)
    assert raw.read(0xF0400000, 8) == bytes(8)               # not modelled on EPIC [INF]
    assert raw.read(0xF1000200, 8) == struct.pack(">Q", 1 << 1)   # the stream area is


# ============================================================================ custom area (§3.8)
def test_custom_area_gathers_scattered_addresses(epic: Tuple[Simulator, Raw]) -> None:
    sim, raw = epic
    sim.set_feature(0, 2, 1)
    pulses(sim, 0, 2, 3)
    sim.set_digital(0, 7, True)
    sim.set_analog(2, 4, 6.5)
    assert raw.write(0xF0D81000 + 4 * 40, struct.pack(">i", -12345)) == 0     # int32 scratch pad 40
    assert raw.write(0xF0D82000 + 4 * 3, struct.pack(">f", 0.75)) == 0        # float scratch pad 3
    addresses: Sequence[int] = (
        0xF0D81000 + 4 * 40,            # int32 scratch pad
        0xF01E0000 + 0x40 * 7,          # digital state of (0, 7)
        0xF0260000 + 0x2000 + 0x40 * 4,  # analog value of (2, 4)
        0xF02E0000 + 0x18 * 2,          # read-and-clear counter of (0, 2)
        0xF0D82000 + 4 * 3,             # float scratch pad
        0xF0300004,                     # PUC flag
        0xF02E0000 + 0x18 * 2,          # the same read-and-clear counter again
    )
    assert raw.write(0xF0D50000, b"".join(a.to_bytes(4, "big") for a in addresses)) == 0
    data = raw.read(0xF0D60000, 4 * len(addresses))
    assert struct.unpack(">iIfIfII", data) == (-12345, 1, 6.5, 3, 0.75, 0, 0)
    # the counter was read and cleared by the gather
    assert raw.u32(0xF01E0000 + 0x40 * 2 + 0x10) == 0
    pulses(sim, 0, 2, 2)
    # a partial read returns the bytes asked for (entry 2's last two, entry 3's first)
    assert raw.read(0xF0D60000 + 4 * 2 + 2, 3) == struct.pack(">f", 6.5)[2:] + b"\x00"
    assert raw.u32(0xF02E0000 + 0x18 * 2) == 0          # entry 3 was gathered whole: cleared
    # one entry: a read quadlet works too
    tcode, tl, rcode, q = raw.ask(read_quadlet(3, 0xF0D60000 + 4 * 4))
    assert (tcode, tl, rcode, q) == (6, 3, 0, struct.pack(">f", 0.75))


def test_custom_area_refusals_change_nothing(epic: Tuple[Simulator, Raw]) -> None:
    sim, raw = epic
    sim.set_feature(0, 2, 1)
    pulses(sim, 0, 2, 4)
    counter = 0xF02E0000 + 0x18 * 2
    assert raw.write(0xF0D50000, struct.pack(">III", counter, 0xF0000000, 0xF0D60000)) == 0
    assert raw.read_nak(0xF0D60000, 8) == 5             # entry 1 is not mapped
    assert raw.read_nak(0xF0D60008, 4) == 5             # entry 2 points into the data area
    assert raw.read_nak(0xF0D6000C, 4) == 5             # entry 3 was never written (address 0)
    assert raw.u32(0xF01E0000 + 0x40 * 2 + 0x10) == 4  # nothing was cleared
    assert raw.write(0xF0D60000, bytes(4)) == 5          # the data area is not writable
    assert raw.read(0xF0D60000, 4) == struct.pack(">I", 4)
    assert raw.read(0xF0D50000, 12) == struct.pack(">III", counter, 0xF0000000, 0xF0D60000)
    # an entry whose 4 bytes straddle the end of an area is unreadable
    assert raw.write(0xF0D50004, struct.pack(">I", 0xF030024E)) == 0
    assert raw.read_nak(0xF0D60004, 4) == 5
    # the last error record names the data address (0xF030000C: code, tl, source, address)
    code, _, _, address = struct.unpack(">iHHI", raw.read(0xF030000C, 12))
    assert (code, address) == (0xE005, 0xF0D60004)
