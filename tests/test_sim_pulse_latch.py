"""``Simulator.set_latch`` and ``Simulator.pulse``: checked through the areas a client reads,
over a raw TCP socket.  Addresses are written out as PROTOCOL.md §3.6 and §3.7 give them
(not taken from mmpfast): EPIC digital read slot 0xF01E0000 + 0x1000·m + 0x40·c, EPIC
read-and-clear 0xF02E0000 + 0x600·m + 0x18·c, packed per-module words 0xF1001900 + 16·m,
SNAP digital point read 0xF0800000 + 0x40·p, SNAP bank 0xF0400000."""
from __future__ import annotations

import socket
import struct
import threading
from typing import Iterator, List, Tuple

import pytest

from mmpfast.sim import Simulator

PUC_REQUEST = bytes.fromhex("00 00 04 00 00 00 FF FF F0 38 00 00 00 00 00 01")   # PROTOCOL.md §1.2


def read_block(tl: int, address: int, n: int) -> bytes:
    """tcode 5 request, built by hand from PROTOCOL.md §1.2."""
    return bytes((0, 0, tl << 2, 0x50, 0, 0, 0xFF, 0xFF)) + address.to_bytes(4, "big") \
        + n.to_bytes(2, "big") + b"\x00\x00"


def _recv(s: socket.socket, n: int) -> bytes:
    out = b""
    while len(out) < n:
        chunk = s.recv(n - len(out))
        assert chunk, "connection closed"
        out += chunk
    return out


class Raw:
    def __init__(self, sim: Simulator) -> None:
        self.s = socket.create_connection((sim.host, sim.port), timeout=3)
        self.tl = 0

    def read(self, address: int, n: int) -> bytes:
        self.tl = (self.tl + 1) % 64
        self.s.sendall(read_block(self.tl, address, n))
        head = _recv(self.s, 16)
        assert (head[3] >> 4, head[2] >> 2, head[6] >> 4) == (7, self.tl, 0), hex(address)
        assert int.from_bytes(head[12:14], "big") == n
        return _recv(self.s, n)

    def slot(self, m: int, c: int) -> Tuple[int, ...]:
        """EPIC digital read slot: state, on-latch, off-latch, feature type, feature value, quality."""
        return struct.unpack(">6I", self.read(0xF01E0000 + 0x1000 * m + 0x40 * c, 24))

    def packed(self, m: int) -> Tuple[int, ...]:
        """Packed per-module words: states, quality, on-latches, off-latches."""
        return struct.unpack(">4I", self.read(0xF1001900 + 16 * m, 16))

    def close(self) -> None:
        self.s.close()


@pytest.fixture
def epic() -> Iterator[Tuple[Simulator, Raw]]:
    with Simulator(modules=["di:32", "do:16", "ai:8"]) as sim:
        raw = Raw(sim)
        try:
            yield sim, raw
        finally:
            raw.close()


# ============================================================================ set_latch
def test_set_latch_on_and_off(epic: Tuple[Simulator, Raw]) -> None:
    sim, raw = epic
    sim.set_latch(0, 5, "on")
    assert raw.slot(0, 5) == (0, 1, 0, 0, 0, 0)
    assert raw.packed(0) == (0, 0, 1 << 5, 0)
    sim.set_latch(0, 9, "off")
    assert raw.slot(0, 9) == (0, 0, 1, 0, 0, 0)
    assert raw.packed(0) == (0, 0, 1 << 5, 1 << 9)
    # the state and counter are untouched, even with the counter feature
    sim.set_feature(0, 7, 1)
    sim.set_digital(0, 7, True)
    assert raw.slot(0, 7) == (1, 1, 0, 1, 1, 0)
    raw.read(0xF02E0000 + 0x18 * 7, 12)                     # read-and-clear: count and latches 0
    sim.set_latch(0, 7, "off")
    sim.set_latch(0, 7, "on")
    assert raw.slot(0, 7) == (1, 1, 1, 1, 0, 0)
    assert sim.get_digital(0, 7) is True


def test_set_latch_is_cleared_by_read_and_clear(epic: Tuple[Simulator, Raw]) -> None:
    sim, raw = epic
    sim.set_latch(1, 3, "on")          # an output channel's latch too (do:16 in slot 1)
    sim.set_latch(1, 3, "off")
    rec = 0xF02E0000 + 0x600 * 1 + 0x18 * 3
    assert raw.read(rec, 12) == struct.pack(">III", 0, 1, 1)
    assert raw.read(rec, 12) == bytes(12)
    assert raw.slot(1, 3) == (0, 0, 0, 0, 0, 0)


def test_set_latch_argument_errors(epic: Tuple[Simulator, Raw]) -> None:
    sim, raw = epic
    with pytest.raises(ValueError, match="'on' or 'off'"):
        sim.set_latch(0, 0, "both")
    with pytest.raises(ValueError, match="'on' or 'off'"):
        sim.set_latch(0, 0, "ON")
    with pytest.raises(TypeError):
        sim.set_latch(0, 0, True)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        sim.set_latch(2, 0, "on")          # analog module
    with pytest.raises(ValueError):
        sim.set_latch(1, 16, "on")         # do:16 has no channel 16
    with pytest.raises(ValueError):
        sim.set_latch(3, 0, "on")          # empty slot
    with pytest.raises(ValueError):
        sim.set_latch(16, 0, "on")         # no module 16
    assert raw.packed(0) == (0, 0, 0, 0) and raw.packed(1) == (0, 0, 0, 0)   # nothing applied


# ============================================================================ pulse
def test_pulse_counts_with_the_counter_feature(epic: Tuple[Simulator, Raw]) -> None:
    sim, raw = epic
    sim.set_feature(0, 2, 1)
    sim.pulse(0, 2)
    assert raw.slot(0, 2) == (0, 1, 1, 1, 1, 0)
    sim.pulse(0, 2, n=4)
    assert raw.slot(0, 2) == (0, 1, 1, 1, 5, 0)
    # packed values area 0xF1001000 + 0x80·m + 4·c shows the counter
    assert raw.read(0xF1001000 + 4 * 2, 4) == struct.pack(">I", 5)
    assert raw.read(0xF02E0000 + 0x18 * 2, 12) == struct.pack(">III", 5, 1, 1)
    assert raw.slot(0, 2) == (0, 0, 0, 1, 0, 0)


def test_pulse_keeps_the_state_and_counts_rising_edges_from_on(epic: Tuple[Simulator, Raw]) -> None:
    sim, raw = epic
    sim.set_feature(0, 4, 1)
    sim.set_digital(0, 4, True)                            # one rising edge: count 1
    raw.read(0xF02E0000 + 0x18 * 4, 12)                    # cleared
    sim.pulse(0, 4, 3)                                     # off, on; x3: three rising edges
    assert raw.slot(0, 4) == (1, 1, 1, 1, 3, 0)
    assert sim.get_digital(0, 4) is True
    assert raw.packed(0) == (1 << 4, 0, 1 << 4, 1 << 4)


def test_pulse_without_counter_feature_sets_latches_only(epic: Tuple[Simulator, Raw]) -> None:
    sim, raw = epic
    sim.pulse(0, 31, 7)
    assert raw.slot(0, 31) == (0, 1, 1, 0, 0, 0)
    assert raw.packed(0) == (0, 0, 1 << 31, 1 << 31)


def test_pulse_same_as_edges_by_hand(epic: Tuple[Simulator, Raw]) -> None:
    """n pulses leave every area exactly as n set_digital on/off pairs do."""
    sim, raw = epic
    for c in (10, 11):
        sim.set_feature(0, c, 1)
    sim.pulse(0, 10, 6)
    for _ in range(6):
        sim.set_digital(0, 11, True)
        sim.set_digital(0, 11, False)
    assert raw.slot(0, 10) == raw.slot(0, 11) == (0, 1, 1, 1, 6, 0)
    assert raw.read(0xF02E0000 + 0x18 * 10, 12) == raw.read(0xF02E0000 + 0x18 * 11, 12)


def test_pulse_counter_wraps_at_32_bits(epic: Tuple[Simulator, Raw]) -> None:
    sim, raw = epic
    sim.set_feature(0, 1, 1)
    sim.pulse(0, 1, 0xFFFFFFFF)
    assert raw.slot(0, 1)[4] == 0xFFFFFFFF
    sim.pulse(0, 1, 3)
    assert raw.slot(0, 1)[4] == 2


def test_pulse_argument_errors(epic: Tuple[Simulator, Raw]) -> None:
    sim, raw = epic
    sim.set_feature(0, 0, 1)
    for bad in (0, -1):
        with pytest.raises(ValueError, match="n must be >= 1"):
            sim.pulse(0, 0, bad)
    for wrong in (1.0, True, "2"):
        with pytest.raises(TypeError):
            sim.pulse(0, 0, wrong)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        sim.pulse(2, 0)                    # analog module
    with pytest.raises(ValueError):
        sim.pulse(0, 32)                   # di:32 has no channel 32
    with pytest.raises(TypeError):
        sim.pulse("0", 0)  # type: ignore[arg-type]
    assert raw.slot(0, 0) == (0, 0, 0, 1, 0, 0)            # nothing applied


def test_pulse_is_atomic_for_readers(epic: Tuple[Simulator, Raw]) -> None:
    """A reader never sees a pulse half done: the state it reads is always the resting state
    and the counter always moves by whole pulses of n."""
    sim, raw = epic
    sim.set_feature(0, 6, 1)
    seen: List[Tuple[int, ...]] = []
    stop = threading.Event()

    def pulser() -> None:
        for _ in range(200):
            sim.pulse(0, 6, 5)
        stop.set()

    t = threading.Thread(target=pulser)
    t.start()
    try:
        while not stop.is_set():
            seen.append(raw.slot(0, 6))
    finally:
        t.join(10)
    seen.append(raw.slot(0, 6))
    assert seen[-1] == (0, 1, 1, 1, 1000, 0)
    assert all(s[0] == 0 and s[4] % 5 == 0 for s in seen)


# ============================================================================ SNAP areas
def test_pulse_and_latch_on_snap_areas() -> None:
    with Simulator(profile="snap", modules=["di:4", "do:4"]) as sim:
        raw = Raw(sim)
        try:
            raw.s.sendall(PUC_REQUEST)
            assert _recv(raw.s, 12)[6] >> 4 == 0
            sim.set_feature(0, 3, 1)
            sim.pulse(0, 3, 2)                   # point p = 4·0 + 3
            sim.set_latch(1, 1, "off")           # point p = 4·1 + 1 = 5
            # digital point read: state, on-latch, off-latch, counter active, feature value
            assert struct.unpack(">5I", raw.read(0xF0800000 + 0x40 * 3, 20)) == (0, 1, 1, 1, 2)
            assert struct.unpack(">5I", raw.read(0xF0800000 + 0x40 * 5, 20)) == (0, 0, 1, 0, 0)
            # bank: state, on-latch, off-latch, active-counter masks (8 bytes each)
            assert struct.unpack(">4Q", raw.read(0xF0400000, 32)) == (0, 1 << 3, (1 << 3) | (1 << 5), 1 << 3)
            assert raw.read(0xF0400000 + 0x100 + 4 * 3, 4) == struct.pack(">I", 2)
            # read-and-clear: counts, on-latch and off-latch arrays
            assert raw.read(0xF0F00000 + 4 * 3, 4) == struct.pack(">I", 2)
            assert raw.read(0xF0F00200 + 4 * 5, 4) == struct.pack(">I", 1)
            assert raw.read(0xF0F00200 + 4 * 5, 4) == bytes(4)
        finally:
            raw.close()
