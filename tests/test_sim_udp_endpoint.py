"""The simulator's UDP endpoint (PROTOCOL.md §2.3 and the UDP rows of §5): one request per
datagram, one answer datagram to its sender, rcode 6 for a datagram that is not exactly one
frame, rcode 1 for an undefined tcode (the endpoint keeps answering), its counters.  Request
bytes are built by hand from PROTOCOL.md §1.2; addresses are written out from §3."""
from __future__ import annotations

import socket
import struct
import time
from typing import Iterator, Optional

import pytest

from mmpfast.sim import Simulator

SCRATCH_INT32 = 0xF0D81000          # scratch pad int32 area 1 (PROTOCOL.md §3.5)
UPTIME = 0xF030010C                 # status: uptime in ms (uint32)
LAST_ERROR = 0xF030000C             # status: error code, tl, source_ID, error address (12 bytes)


def read_block(tl: int, address: int, n: int, source: int = 0) -> bytes:
    return bytes((0, 0, tl << 2, 0x50)) + source.to_bytes(2, "big") + b"\xFF\xFF" \
        + address.to_bytes(4, "big") + n.to_bytes(2, "big") + b"\x00\x00"


def read_quadlet(tl: int, address: int) -> bytes:
    return bytes((0, 0, tl << 2, 0x40, 0, 0, 0xFF, 0xFF)) + address.to_bytes(4, "big")


def write_block(tl: int, address: int, data: bytes, source: int = 0) -> bytes:
    return bytes((0, 0, tl << 2, 0x10)) + source.to_bytes(2, "big") + b"\xFF\xFF" \
        + address.to_bytes(4, "big") + len(data).to_bytes(2, "big") + b"\x00\x00" + data


def write_ack(tl: int, rcode: int = 0, source: int = 0) -> bytes:
    """tcode 2: 00 00 | tl<<2 | 0x20 | source | rcode<<4 00 | 00 00 00 00."""
    return bytes((0, 0, tl << 2, 0x20)) + source.to_bytes(2, "big") + bytes((rcode << 4, 0, 0, 0, 0, 0))


def block_answer(tl: int, data: bytes, rcode: int = 0, source: int = 0) -> bytes:
    return bytes((0, 0, tl << 2, 0x70)) + source.to_bytes(2, "big") + bytes((rcode << 4, 0, 0, 0, 0, 0)) \
        + len(data).to_bytes(2, "big") + b"\x00\x00" + data


def quadlet_answer(tl: int, data: bytes, rcode: int = 0) -> bytes:
    return bytes((0, 0, tl << 2, 0x60, 0, 0, rcode << 4, 0, 0, 0, 0, 0)) + data


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator() as s:
        yield s


def udp(sim: Simulator, timeout: float = 3.0) -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(timeout)
    s.connect(sim.address)
    return s


def nothing_within(s: socket.socket, seconds: float) -> Optional[bytes]:
    s.settimeout(seconds)
    try:
        return s.recv(70000)
    except socket.timeout:
        return None


def test_one_answer_per_datagram_and_counters(sim: Simulator) -> None:
    st = sim.stats
    with udp(sim) as u:
        u.send(write_block(1, SCRATCH_INT32, struct.pack(">i", -7)))
        assert u.recv(2048) == write_ack(1)
        u.send(read_block(2, SCRATCH_INT32, 4))
        assert u.recv(2048) == block_answer(2, struct.pack(">i", -7))
        u.send(read_quadlet(3, SCRATCH_INT32))
        assert u.recv(2048) == quadlet_answer(3, struct.pack(">i", -7))
        assert nothing_within(u, 0.1) is None
    assert (st.datagrams, st.datagrams_out, st.datagrams_dropped) == (3, 3, 0)
    assert (st.frames_in, st.frames_out, st.naks, st.connections) == (3, 3, 0, 0)
    assert st.by_tcode == {1: 1, 5: 1, 4: 1}


def test_two_frames_in_one_datagram_is_rcode_6_and_nothing_applied(sim: Simulator) -> None:
    with udp(sim) as u:
        two = write_block(4, SCRATCH_INT32, b"\x00\x00\x00\x05") + write_block(5, SCRATCH_INT32 + 4, b"\x00\x00\x00\x06")
        u.send(two)
        assert u.recv(2048) == write_ack(4, rcode=6)
        assert nothing_within(u, 0.15) is None                   # one answer, not two
        reads = read_block(6, SCRATCH_INT32, 8) + read_block(7, SCRATCH_INT32, 8)
        u.settimeout(3)
        u.send(reads)
        assert u.recv(2048) == block_answer(6, b"", rcode=6)
        assert nothing_within(u, 0.15) is None
    assert sim.memory.read(SCRATCH_INT32, 8) == bytes(8)
    assert (sim.stats.frames_in, sim.stats.naks, sim.stats.datagrams_out) == (2, 2, 2)


def test_truncated_frames_are_rcode_6(sim: Simulator) -> None:
    with udp(sim) as u:
        full = write_block(8, SCRATCH_INT32, b"\x01\x02\x03\x04")
        for cut in (4, 12, 14, 16, 19):                          # up to one byte short
            u.send(full[:cut])
            assert u.recv(2048) == write_ack(8, rcode=6), cut
        u.send(read_block(9, UPTIME, 4)[:13])                    # a read block without its length
        assert u.recv(2048) == block_answer(9, b"", rcode=6)
        u.send(read_quadlet(10, UPTIME)[:11])
        assert u.recv(2048) == quadlet_answer(10, bytes(4), rcode=6)
        u.send(read_quadlet(11, UPTIME) + b"\x00")               # one byte too many
        assert u.recv(2048) == quadlet_answer(11, bytes(4), rcode=6)
    assert sim.memory.read(SCRATCH_INT32, 4) == bytes(4)
    assert sim.stats.naks == 8 and sim.stats.datagrams_out == 8


def test_nak_on_udp_records_the_last_error(sim: Simulator) -> None:
    """PROTOCOL.md §5 "every NAK": error code, tl, source_ID and address stored at 0xF030000C."""
    with udp(sim) as u:
        u.send(read_block(33, SCRATCH_INT32, 4, source=0x1234)[:15])    # rcode 6
        assert u.recv(2048) == block_answer(33, b"", rcode=6, source=0x1234)
        assert sim.memory.read(LAST_ERROR, 12) == struct.pack(">IHHI", 0xE006, 33, 0x1234, SCRATCH_INT32)
        u.send(read_block(34, 0xF0000000, 4, source=0x0042))            # unmapped: rcode 5
        assert u.recv(2048) == block_answer(34, b"", rcode=5, source=0x0042)
        assert sim.memory.read(LAST_ERROR, 12) == struct.pack(">IHHI", 0xE005, 34, 0x0042, 0xF0000000)


def test_undefined_and_response_tcodes_answered_rcode_1_endpoint_stays(sim: Simulator) -> None:
    with udp(sim) as u:
        u.send(bytes((0, 0, 12 << 2, 0x30)) + bytes(12))                # tcode 3
        assert u.recv(2048) == write_ack(12, rcode=1)
        u.send(block_answer(13, b"\x00\x00\x00\x01"))                   # a response sent as a request
        assert u.recv(2048) == write_ack(13, rcode=1)
        u.send(read_block(14, SCRATCH_INT32, 4))
        assert u.recv(2048) == block_answer(14, bytes(4))
    assert sim.stats.by_tcode == {3: 1, 7: 1, 5: 1}


def test_datagram_too_short_for_a_tcode_is_not_answered(sim: Simulator) -> None:
    with udp(sim) as u:
        for junk in (b"", b"\x00", b"\x00\x00\x04"):
            u.send(junk)
        assert nothing_within(u, 0.2) is None
        u.settimeout(3)
        u.send(read_block(15, SCRATCH_INT32, 4))
        assert u.recv(2048) == block_answer(15, bytes(4))
    st = sim.stats
    assert (st.datagrams, st.datagrams_out, st.datagrams_dropped, st.frames_in) == (4, 1, 3, 1)


def test_each_answer_goes_to_its_sender(sim: Simulator) -> None:
    with udp(sim) as a, udp(sim) as b:
        sim.memory.write(SCRATCH_INT32, b"\x00\x00\x00\x2A")
        a.send(read_block(20, SCRATCH_INT32, 4))
        b.send(read_block(21, SCRATCH_INT32, 4))
        a.send(read_block(22, SCRATCH_INT32, 4))
        assert a.recv(2048) == block_answer(20, b"\x00\x00\x00\x2A")
        assert a.recv(2048) == block_answer(22, b"\x00\x00\x00\x2A")
        assert b.recv(2048) == block_answer(21, b"\x00\x00\x00\x2A")
        assert nothing_within(b, 0.1) is None


def test_power_up_clear_applies_on_udp() -> None:
    with Simulator(profile="snap") as sim, udp(sim) as u:
        u.send(read_block(1, SCRATCH_INT32, 4))
        assert u.recv(2048) == block_answer(1, b"", rcode=4)
        u.send(bytes.fromhex("00 00 08 00 00 00 FF FF F0 38 00 00 00 00 00 01"))   # PUC, tl 2
        assert u.recv(2048) == write_ack(2)
        u.send(read_block(3, SCRATCH_INT32, 4))
        assert u.recv(2048) == block_answer(3, bytes(4))


def test_read_answer_larger_than_a_datagram_is_rcode_6() -> None:
    """65507 bytes is the largest UDP payload: a read of 65491 bytes fits (16 + 65491), one byte
    more does not and is rcode 6 on UDP; the same read works on TCP."""
    with Simulator(max_block=0xFFFF) as sim, udp(sim) as u:
        u.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 18)
        start = 0xF01E0000                                       # EPIC digital read: 0x40000 bytes
        u.send(read_block(5, start, 65491))
        got = u.recv(70000)
        assert len(got) == 65507 and got[:16] == block_answer(5, b"")[:12] + (65491).to_bytes(2, "big") + b"\x00\x00"
        u.send(read_block(6, start, 65492))
        assert u.recv(70000) == block_answer(6, b"", rcode=6)
        with socket.create_connection(sim.address, timeout=3) as t:
            t.sendall(read_block(7, start, 65492))
            got = b""
            deadline = time.monotonic() + 5
            while len(got) < 16 + 65492 and time.monotonic() < deadline:
                chunk = t.recv(1 << 17)
                assert chunk
                got += chunk
            assert len(got) == 16 + 65492 and got[6] >> 4 == 0


def test_latency_paces_udp_answers_in_order() -> None:
    with Simulator(latency=0.02) as sim, udp(sim) as u:
        t0 = time.monotonic()
        for tl in range(5):
            u.send(read_block(tl, SCRATCH_INT32, 4))
        got = [u.recv(2048)[2] >> 2 for _ in range(5)]
        took = time.monotonic() - t0
        assert got == [0, 1, 2, 3, 4]
        assert took >= 5 * 0.02 * 0.9
    assert sim.stats.datagrams_out == 5
