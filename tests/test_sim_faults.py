"""The fault-injecting proxy, driven with raw sockets."""
from __future__ import annotations

import socket
import struct
import time
from typing import Iterator, Tuple

import pytest
from conftest import recv_exact


def recv_short(sock: socket.socket, n: int, timeout: float = 3.0) -> bytes:
    return recv_exact(sock, n, timeout, allow_short=True)

from mmpfast import codec, memmap
from mmpfast.sim import Fault, FaultProxy, Simulator

UPTIME = codec.encode_read_block(1, memmap.STATUS_UPTIME_MS, 4)


@pytest.fixture
def setup() -> Iterator[Tuple[Simulator, FaultProxy, socket.socket]]:
    with Simulator() as sim, FaultProxy(sim.host, sim.port) as proxy:
        s = socket.create_connection((proxy.host, proxy.port), timeout=3)
        try:
            yield sim, proxy, s
        finally:
            s.close()


def test_passes_through_and_counts(setup: Tuple[Simulator, FaultProxy, socket.socket]) -> None:
    sim, proxy, s = setup
    w = codec.encode_write_block(2, memmap.scratchpad_int32_address(0), b"\x00\x00\x00\x09")
    s.sendall(w + UPTIME)
    assert recv_short(s, 12) == codec.encode_write_response(2)
    assert len(recv_short(s, 20)) == 20
    assert proxy.frames_up == 2 and proxy.frames_down == 2
    assert proxy.up_by_tcode == {1: 1, 5: 1}
    assert sim.stats.by_tcode == {1: 1, 5: 1}


def test_drop_then_pass(setup: Tuple[Simulator, FaultProxy, socket.socket]) -> None:
    sim, proxy, s = setup
    proxy.queue_faults([Fault.drop(), None])
    s.sendall(codec.encode_read_block(1, memmap.STATUS_UPTIME_MS, 4))
    s.settimeout(0.2)
    with pytest.raises(socket.timeout):
        s.recv(100)
    s.sendall(codec.encode_read_block(2, memmap.STATUS_UPTIME_MS, 4))
    got = recv_short(s, 20)
    assert got[2] == 2 << 2
    assert proxy.dropped == 1 and proxy.pending_faults == 0


def test_delay(setup: Tuple[Simulator, FaultProxy, socket.socket]) -> None:
    sim, proxy, s = setup
    proxy.next_response(Fault.delay(0.15))
    t0 = time.monotonic()
    s.sendall(UPTIME)
    assert len(recv_short(s, 20)) == 20
    assert time.monotonic() - t0 >= 0.14


@pytest.mark.parametrize("fault,expect_len", [(Fault.cut_header(), 6), (Fault.cut_header(3), 3),
                                              (Fault.cut_data(), 18), (Fault.cut_data(1), 17)])
def test_cuts_close_mid_frame(setup: Tuple[Simulator, FaultProxy, socket.socket], fault: Fault,
                              expect_len: int) -> None:
    sim, proxy, s = setup
    proxy.next_response(fault)
    s.sendall(UPTIME)
    got = recv_short(s, 100)
    assert len(got) == expect_len
    assert got[:16] == bytes.fromhex("00 00 04 70 00 00 00 00 00 00 00 00 00 04 00 00")[:expect_len]


def test_corrupt_change_tl_unknown_tcode(setup: Tuple[Simulator, FaultProxy, socket.socket]) -> None:
    sim, proxy, s = setup
    proxy.queue_faults([Fault.corrupt(6, 0x50), Fault.change_tl(9), Fault.change_tl(), Fault.unknown_tcode()])
    s.sendall(UPTIME)
    assert recv_short(s, 20)[6] == 0x50
    s.sendall(UPTIME)
    assert recv_short(s, 20)[2] == 9 << 2
    s.sendall(UPTIME)
    assert recv_short(s, 20)[2] == 2 << 2
    s.sendall(UPTIME)
    assert recv_short(s, 16) == bytes.fromhex("00 00 04 30" + "00" * 12)


def test_reset_sends_rst(setup: Tuple[Simulator, FaultProxy, socket.socket]) -> None:
    sim, proxy, s = setup
    proxy.next_response(Fault.reset())
    s.sendall(UPTIME)
    s.settimeout(3)
    with pytest.raises(ConnectionResetError):
        s.recv(100)
        s.recv(100)


def test_close_fin_and_write_counted_once(setup: Tuple[Simulator, FaultProxy, socket.socket]) -> None:
    sim, proxy, s = setup
    proxy.next_response(Fault.close())
    s.sendall(codec.encode_write_block(1, memmap.scratchpad_int32_address(3), struct.pack(">i", 77)))
    s.settimeout(3)
    assert s.recv(100) == b""
    # the write reached the device exactly once although its answer was lost
    assert proxy.up_by_tcode == {1: 1}
    assert sim.memory.read(memmap.scratchpad_int32_address(3), 4) == struct.pack(">i", 77)
    # a new connection works
    with socket.create_connection((proxy.host, proxy.port), timeout=3) as s2:
        s2.sendall(UPTIME)
        assert len(recv_short(s2, 20)) == 20
    assert proxy.connections == 2
