"""The simulator under abuse, and its security posture.

Short versions of ``tools/server_robustness.py`` (whose functions they use):
garbage, half-open connections, slowloris senders and 50 concurrent
connections at once while well-behaved clients measure their latency; the
server stays up, keeps answering within bounds, leaks no connection and its
memory stays bounded.  Then the security posture, each point tested:
loopback by default, read-only areas refuse writes, hostile length fields
never make anyone allocate or wait for more than one frame's worth.
"""
from __future__ import annotations

import asyncio
import socket
import time
from typing import Any, Iterator

import pytest
from conftest import load_tool, recv_exact, uptime_within


def recv_short(sock: socket.socket, n: int, timeout: float = 3.0) -> bytes:
    return recv_exact(sock, n, timeout, allow_short=True)

from mmpfast import Client, MmpNakError, MmpProtocolError, codec, memmap
from mmpfast.protocol import MAX_DATA_LENGTH, OFF_DATA_LENGTH
from mmpfast.sim import Fault, FaultProxy, Simulator
from mmpfast.sim.server import MAX_FRAME



robust = load_tool("server_robustness")


def server_connections(sim: Simulator) -> int:
    """Open TCP connections the simulator holds (white-box)."""
    server = sim._server
    return len(server.connections) if server is not None else -1


def wait_until(predicate: Any, timeout: float = 3.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.01)
    return bool(predicate())


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator() as s:
        yield s


# =============================================================================
# abuse
# =============================================================================
def test_abuse_keeps_serving_well_behaved_clients(sim: Simulator) -> None:
    Client(sim.host, sim.port).close()       # warm imports before the baseline
    rss_before = robust.rss_kb()
    rep = asyncio.run(robust.abuse(sim.host, sim.port, seconds=1.5, connections=50, slowloris=8,
                                   garbage=3, probes=3, drip=0.02))
    assert rep.errors == []
    assert rep.held == 50 and rep.held_failed == 0
    assert rep.probe_errors == 0 and rep.probe_wrong == 0 and rep.probe_ok >= 30
    assert rep.slowloris_wrong == 0 and rep.slowloris_requests >= 8
    assert rep.garbage_sessions >= 20 and rep.half_closed_answered >= 1
    # latency of the well-behaved clients while the abuse went on (loopback, shared CPU)
    assert rep.p99 < 0.25, f"p99 {rep.p99 * 1000:.1f} ms"
    assert rep.worst < 1.0
    # every abusive connection was released, the server is up and answers
    assert wait_until(lambda: server_connections(sim) == 0), server_connections(sim)
    assert sim.running
    with Client(sim.host, sim.port) as c:
        uptime_within(c.uptime_ms, sim)
    growth_mb = (robust.rss_kb() - rss_before) / 1024
    assert growth_mb < 40, f"RSS grew {growth_mb:.1f} MB"


def test_tool_end_to_end_with_child_process(capsys: pytest.CaptureFixture[str]) -> None:
    """tools/server_robustness.py itself: simulator in a child process, RSS read from /proc."""
    code = robust.main(["--seconds", "1", "--connections", "50", "--slowloris", "4", "--garbage", "2",
                        "--probes", "2", "--max-p99-ms", "250"])
    out = capsys.readouterr().out.strip().splitlines()
    assert code == 0, out
    assert out[-1].startswith("server_robustness: ") and out[-1].endswith("PASS")
    assert "0 errors / 0 wrong" in out[-1] and "alive" in out[-1]


def test_garbage_with_undefined_tcode_is_answered_then_closed(sim: Simulator) -> None:
    with socket.create_connection((sim.host, sim.port), timeout=3) as s:
        s.sendall(codec.encode_read_block(7, memmap.STATUS_UPTIME_MS, 4) + b"\x00\x00\x24\xF0" + b"junk" * 10)
        got = recv_short(s, 64)
    # the valid request is answered, then rcode 1 with the junk's tl (9), then FIN
    assert len(got) == 32
    assert codec.decode_frame(got[:20]).tl == 7
    nak = codec.decode_frame(got[20:])
    assert (nak.tcode, nak.tl, nak.rcode) == (2, 9, 1)
    assert wait_until(lambda: server_connections(sim) == 0)


def test_slowloris_does_not_block_others(sim: Simulator) -> None:
    req = codec.encode_read_block(1, memmap.STATUS_UPTIME_MS, 4)
    with socket.create_connection((sim.host, sim.port), timeout=3) as slow, \
            Client(sim.host, sim.port, timeout=1.0) as c:
        for i, b in enumerate(req[:-1]):
            slow.sendall(bytes((b,)))
            t0 = time.monotonic()
            uptime_within(c.uptime_ms, sim)
            assert time.monotonic() - t0 < 0.5
        slow.sendall(req[-1:])
        assert codec.decode_frame(recv_short(slow, 20)).rcode == 0


def test_many_half_open_then_all_released(sim: Simulator) -> None:
    socks = []
    try:
        for i in range(50):
            s = socket.create_connection((sim.host, sim.port), timeout=3)
            socks.append(s)
            if i % 2:
                s.sendall(codec.encode_read_block(1, memmap.STATUS_UPTIME_MS, 4)[: 1 + i % 15])
        assert wait_until(lambda: server_connections(sim) == 50)
        with Client(sim.host, sim.port) as c:
            c.write_scratchpad_int32(0, 123)
            assert c.read_scratchpad_int32(0) == [123]
    finally:
        for s in socks:
            s.close()
    assert wait_until(lambda: server_connections(sim) == 0)


# =============================================================================
# security posture
# =============================================================================
def test_binds_loopback_unless_told_otherwise() -> None:
    sim = Simulator()
    assert sim.host == "127.0.0.1"
    with sim:
        server = sim._server
        assert server is not None and server._tcp is not None and server._udp is not None
        for s in server._tcp.sockets:
            assert s.getsockname()[0] == "127.0.0.1"
        assert server._udp.get_extra_info("sockname")[0] == "127.0.0.1"


READ_ONLY = [
    ("status", memmap.STATUS_SERIAL_NUMBER, 4),
    ("digital_read", memmap.digital_read_address(0, 0), 4),
    ("analog_read", memmap.analog_read_address(2, 0), 4),
    ("packed_state", memmap.packed_state_address(0), 8),
]


@pytest.mark.parametrize("name,address,length", READ_ONLY, ids=[r[0] for r in READ_ONLY])
def test_read_only_areas_refuse_writes(sim: Simulator, name: str, address: int, length: int) -> None:
    sim.set_digital(0, 0, True)
    sim.set_analog(2, 0, 12.5)
    before = sim.memory.read(address, length)
    with Client(sim.host, sim.port) as c:
        with pytest.raises(MmpNakError) as info:
            c.write(address, b"\xA5" * length)
        assert info.value.rcode == 5 and info.value.address == address
        assert c.read(address, length) == before
    assert sim.memory.read(address, length) == before


def hostile_write_header(announced: int, tl: int = 3) -> bytes:
    hdr = bytearray(codec.encode_write_block(tl, memmap.scratchpad_int32_address(0), b"\0\0\0\0")[:16])
    hdr[OFF_DATA_LENGTH:OFF_DATA_LENGTH + 2] = announced.to_bytes(2, "big")
    return bytes(hdr)


def test_hostile_length_field_is_bounded_by_one_frame(sim: Simulator) -> None:
    before = sim.memory.read(memmap.scratchpad_int32_address(0), 64)
    with socket.create_connection((sim.host, sim.port), timeout=3) as s:
        s.sendall(hostile_write_header(MAX_DATA_LENGTH) + b"\x11" * 30000)
        assert wait_until(lambda: sum(len(c.buf) for c in sim._server.connections) >= 30016)
        assert max(len(c.buf) for c in sim._server.connections) <= MAX_FRAME
        # the rest of the announced body, and more: the frame is refused (rcode 6), nothing applied
        s.sendall(b"\x11" * (MAX_DATA_LENGTH - 30000) + codec.encode_read_block(4, memmap.STATUS_UPTIME_MS, 4))
        ack = codec.decode_frame(recv_short(s, 12))
        assert (ack.tcode, ack.tl, ack.rcode) == (2, 3, 6)
        assert codec.decode_frame(recv_short(s, 20)).tl == 4
        # (the server trims its buffer after answering: wait for that, bounded)
        assert wait_until(lambda: max(len(c.buf) for c in sim._server.connections) == 0)
        # a read asking for 65535 bytes gets a 16-byte NAK, not 64 KiB
        s.sendall(codec.encode_read_block(5, memmap.scratchpad_int32_address(0), MAX_DATA_LENGTH))
        nak = recv_short(s, 16)
        assert codec.decode_frame(nak).rcode == 6 and codec.decode_frame(nak).data_length == 0
        s.settimeout(0.1)
        with pytest.raises(socket.timeout):
            s.recv(1)
    assert sim.memory.read(memmap.scratchpad_int32_address(0), 64) == before


def test_hostile_udp_datagrams(sim: Simulator) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
        u.settimeout(3)
        u.sendto(hostile_write_header(MAX_DATA_LENGTH), (sim.host, sim.port))
        resp, _ = u.recvfrom(2048)
        f = codec.decode_frame(resp)
        assert (f.tcode, f.rcode) == (2, 6)
        u.sendto(bytes(range(256)) * 200, (sim.host, sim.port))     # 51 KB of junk
        u.sendto(codec.encode_read_block(6, memmap.STATUS_UPTIME_MS, 4), (sim.host, sim.port))
        for _ in range(3):
            resp, _ = u.recvfrom(2048)
            if len(resp) == 20:
                break
        f = codec.decode_frame(resp)
        assert (f.tcode, f.tl, f.rcode) == (7, 6, 0)


def test_request_flood_without_reading_applies_back_pressure(sim: Simulator) -> None:
    """A peer that pipelines requests and never reads the answers: the
    simulator stops reading instead of buffering without limit."""
    req = codec.encode_read_block(1, memmap.scratchpad_int32_address(0), 1024) * 4096   # 64 KiB
    rss_before = robust.rss_kb()
    s = socket.socket()
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65536)
        s.connect((sim.host, sim.port))
        s.setblocking(False)
        sent = 0
        view = memoryview(req)
        stalled_since = None
        deadline = time.monotonic() + 8.0
        while time.monotonic() < deadline and sent < (256 << 20):
            try:
                sent += s.send(view[sent % len(req):])     # the stream stays frame-aligned
                stalled_since = None
            except BlockingIOError:
                now = time.monotonic()
                if stalled_since is None:
                    stalled_since = now
                elif now - stalled_since > 0.3:
                    break
                time.sleep(0.01)
        assert stalled_since is not None, f"server kept reading: {sent} bytes accepted"
        conns = list(sim._server.connections)
        assert len(conns) == 1 and conns[0].transport is not None
        buffered = conns[0].transport.get_write_buffer_size()
        # answers stop at the transport's high-water mark (64 KiB) plus one frame:
        # a receive full of 1 KiB reads is not turned into megabytes of answers
        assert buffered <= 4 * 65536 + MAX_FRAME, buffered
        # and what is held back unanswered is one receive's worth at most
        assert len(conns[0].buf) <= 4 * 65536 + MAX_FRAME, len(conns[0].buf)
        assert sent < (64 << 20), sent
        with Client(sim.host, sim.port) as c:     # others are still served
            uptime_within(c.uptime_ms, sim)
        # once the peer reads, every request it sent is answered, in order
        s.setblocking(True)
        s.settimeout(5.0)
        frames = sent // 16
        want = frames * (16 + 1024)
        got = 0
        head = b""
        while got < want:
            chunk = s.recv(1 << 20)
            assert chunk, f"closed after {got} of {want} bytes"
            if len(head) < 16:
                head += chunk[:16 - len(head)]
            got += len(chunk)
        assert got == want
        assert codec.decode_frame(head + bytes(1024)).rcode == 0
    finally:
        s.close()
    assert wait_until(lambda: server_connections(sim) == 0)
    assert (robust.rss_kb() - rss_before) / 1024 < 64


def test_client_refuses_hostile_response_length_at_once() -> None:
    """A response announcing 65 KB to a 4-byte read is refused from its header:
    the client neither waits for nor allocates the announced bytes."""
    with Simulator() as sim, FaultProxy(sim.host, sim.port) as proxy, \
            Client(proxy.host, proxy.port, timeout=2.0) as c:
        proxy.next_response(Fault.corrupt(12, 0xFF))
        t0 = time.monotonic()
        with pytest.raises(MmpProtocolError):
            c.uptime_ms()
        assert time.monotonic() - t0 < 0.5
        assert len(c._conn.rbuf) <= 16 + c.max_block
        uptime_within(c.uptime_ms, sim)            # the next call gets the right value
