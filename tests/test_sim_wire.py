"""The simulator on the wire: raw sockets only, no client library."""
from __future__ import annotations

import socket
import struct
import threading
import time
from typing import Dict, Iterator, List

import pytest

from mmpfast import codec, memmap
from mmpfast.sim import Simulator
from conftest import hexbytes, recv_exact


def assert_closed(sock: socket.socket, timeout: float = 3.0) -> None:
    sock.settimeout(timeout)
    try:
        assert sock.recv(100) == b""
    except ConnectionResetError:
        pass


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator() as s:
        yield s


@pytest.fixture
def conn(sim: Simulator) -> Iterator[socket.socket]:
    s = socket.create_connection(sim.address, timeout=3)
    yield s
    s.close()


@pytest.fixture(scope="module")
def vec() -> Dict[str, bytes]:
    from conftest import load_vectors
    return {f["name"]: hexbytes(f["hex"]) for f in load_vectors("frames.json")["frames"]}


def ask(conn: socket.socket, frame: bytes, n: int) -> bytes:
    conn.sendall(frame)
    return recv_exact(conn, n)


# ----------------------------------------------------------------------------- golden frames
def test_listens_on_loopback_only_by_default(sim: Simulator) -> None:
    assert sim.host == "127.0.0.1"
    assert sim.port > 0


def test_seed_uptime_answered_and_ticking(conn: socket.socket, vec: Dict[str, bytes]) -> None:
    req = vec["seed_uptime_request"]
    a = ask(conn, req, 20)
    assert a[:16] == hexbytes("00 00 04 70 00 00 00 00 00 00 00 00 00 04 00 00")
    time.sleep(0.03)
    b = ask(conn, req, 20)
    assert b[:16] == a[:16]
    ua, ub = struct.unpack(">I", a[16:])[0], struct.unpack(">I", b[16:])[0]
    assert 20 <= ub - ua < 2000
    conn.settimeout(0.05)
    with pytest.raises(socket.timeout):
        conn.recv(1)        # exactly 20 bytes, nothing more


def test_uptime_64_bit_agrees(conn: socket.socket) -> None:
    r32 = ask(conn, codec.encode_read_block(2, memmap.STATUS_UPTIME_MS, 4), 20)
    r64 = ask(conn, codec.encode_read_block(3, memmap.STATUS_UPTIME_MS_64, 8), 24)
    u32 = struct.unpack(">I", r32[16:])[0]
    u64 = struct.unpack(">Q", r64[16:])[0]
    assert 0 <= u64 - u32 < 1000


def test_seed_read_digital_exact_bytes(sim: Simulator, conn: socket.socket, vec: Dict[str, bytes]) -> None:
    sim.set_digital(1, 8, True)
    assert ask(conn, vec["seed_read_digital_request"], 20) == hexbytes(
        "00 00 04 70 00 00 00 00 00 00 00 00 00 04 00 00 00 00 00 01")
    assert ask(conn, vec["seed_read_digital_request"], 20) == vec["seed_read_digital_response_on"]
    sim.set_digital(1, 8, False)
    assert ask(conn, vec["seed_read_digital_request"], 20)[16:] == bytes(4)


def test_forum_32_byte_write_and_4_byte_write(sim: Simulator, conn: socket.socket,
                                              vec: Dict[str, bytes]) -> None:
    assert not sim.get_digital(1, 8)
    assert ask(conn, vec["seed_write_digital_forum_request"], 12) == vec["write_ack"]
    assert sim.get_digital(1, 8) is True
    assert ask(conn, vec["seed_read_digital_request"], 20)[16:] == b"\x00\x00\x00\x01"
    # reading the write slot returns what was written
    back = ask(conn, codec.encode_read_block(1, 0xF0221200, 16), 32)
    assert back[16:] == hexbytes("00 00 00 01" + " 00" * 12)
    assert ask(conn, vec["write_digital_4byte_request"], 12) == hexbytes("00 00 04 20 00 00 00 00 00 00 00 00")
    assert sim.get_digital(1, 8) is False
    assert ask(conn, vec["seed_read_digital_request"], 20)[16:] == bytes(4)


def test_puc_request_acked(conn: socket.socket, vec: Dict[str, bytes]) -> None:
    assert ask(conn, vec["powerup_clear_request"], 12) == vec["write_ack"]


def test_quadlet_read_and_source_id_echo(sim: Simulator, conn: socket.socket, vec: Dict[str, bytes]) -> None:
    sim.memory.poke(0xF0400108, struct.pack(">I", 501699))
    assert ask(conn, vec["read_quadlet_request_tl16"], 16) == vec["read_quadlet_response_tl16"]
    sim.memory.poke(0xF0400100, vec["read_block_response_tl16"][16:])
    assert ask(conn, vec["read_block_request_tl16"], 48) == vec["read_block_response_tl16"]
    a = ask(conn, vec["read_block_request_tl63_src"], 16 + 1024)
    assert a[:16] == hexbytes("00 00 FC 70 12 34 00 00 00 00 00 00 04 00 00 00")


def test_quadlet_at_unaligned_address_is_a_4_byte_block(sim: Simulator, conn: socket.socket) -> None:
    addr = memmap.SCRATCHPAD_INT32_AREA1 + 2
    assert ask(conn, codec.encode_write_quadlet(9, addr, b"\x01\x02\x03\x04"), 12) == \
        codec.encode_write_response(9)
    assert sim.memory.read(memmap.SCRATCHPAD_INT32_AREA1, 8) == bytes.fromhex("0000010203040000")
    assert ask(conn, codec.encode_read_quadlet(10, addr + 1), 16)[12:] == bytes.fromhex("02030400")


def test_float_quadlet_vector(sim: Simulator, conn: socket.socket, vec: Dict[str, bytes]) -> None:
    sim.set_analog(2, 0, 15.5)
    got = ask(conn, codec.encode_read_quadlet(1, memmap.analog_read_address(2, 0)), 16)
    assert got == vec["read_quadlet_response_float"]


def test_scratchpad_vectors(sim: Simulator, conn: socket.socket, vec: Dict[str, bytes]) -> None:
    assert ask(conn, vec["write_block_floats"], 12) == codec.encode_write_response(4)
    assert struct.unpack(">3f", sim.memory.read(memmap.scratchpad_float_address(10), 12)) == (1.5, -2.25, 0.0)
    assert ask(conn, vec["write_quadlet_int32_negative"], 12) == codec.encode_write_response(5)
    assert struct.unpack(">i", sim.memory.read(memmap.scratchpad_int32_address(7), 4))[0] == -123456


def test_date_time_odd_length(conn: socket.socket) -> None:
    a = ask(conn, codec.encode_read_block(6, memmap.DATE_TIME, 23), 16 + 23)
    assert a[12:14] == b"\x00\x17"
    text = a[16:].decode("ascii")
    assert text[4] == "-" and text[10] == " " and text[19] == "."
    assert text[:4] == time.strftime("%Y")


# ----------------------------------------------------------------------------- NAKs
def test_nak_invalid_address_write(conn: socket.socket) -> None:
    bad = codec.encode_write_block(1, 0xF0000000, b"\x00\x00\x00\x01")
    assert ask(conn, bad, 12) == hexbytes("00 00 04 20 00 00 50 00 00 00 00 00")


def test_nak_read_block_is_bare_header(conn: socket.socket) -> None:
    assert ask(conn, codec.encode_read_block(1, 0xF0000000, 4), 16) == \
        hexbytes("00 00 04 70 00 00 50 00 00 00 00 00 00 00 00 00")


def test_nak_read_quadlet_zero_data(conn: socket.socket, vec: Dict[str, bytes]) -> None:
    assert ask(conn, codec.encode_read_quadlet(2, 0xF0000000), 16) == vec["read_quadlet_nak"]


def test_nak_address_high_bits(conn: socket.socket) -> None:
    req = bytearray(codec.encode_read_block(7, memmap.STATUS_UPTIME_MS, 4))
    req[6:8] = b"\x00\x00"
    assert ask(conn, bytes(req), 16) == codec.encode_read_block_response(7, b"", 5)


def test_nak_range_runs_off_area_nothing_applied(sim: Simulator, conn: socket.socket) -> None:
    last = memmap.SCRATCHPAD_INT64 + 0x2000 - 4      # last 4 bytes of the int64 area
    assert ask(conn, codec.encode_write_block(3, last, b"\x11" * 8), 12) == codec.encode_write_response(3, 5)
    assert sim.memory.read(last, 4) == bytes(4)
    assert ask(conn, codec.encode_read_block(4, last, 8), 16) == codec.encode_read_block_response(4, b"", 5)
    assert ask(conn, codec.encode_read_block(4, last, 4), 20)[16:] == bytes(4)


def test_nak_write_to_read_only(sim: Simulator, conn: socket.socket) -> None:
    for addr in (memmap.STATUS_UPTIME_MS, 0xF01E1200, memmap.PACKED_DIGITAL_STATES, memmap.STREAM_READ_AREA):
        assert ask(conn, codec.encode_write_block(5, addr, b"\x00\x00\x00\x01"), 12) == \
            codec.encode_write_response(5, 5), hex(addr)
    assert not sim.get_digital(1, 8)


@pytest.mark.parametrize("length", [0, 1025, 65535])
def test_nak_bad_length_read(conn: socket.socket, length: int) -> None:
    assert ask(conn, codec.encode_read_block(8, memmap.SCRATCHPAD_INT32_AREA1, length), 16) == \
        codec.encode_read_block_response(8, b"", 6)


@pytest.mark.parametrize("length", [0, 1025])
def test_nak_bad_length_write(sim: Simulator, conn: socket.socket, length: int) -> None:
    req = codec.encode_write_block(9, memmap.SCRATCHPAD_INT32_AREA1, b"\x07" * length)
    assert ask(conn, req, 12) == codec.encode_write_response(9, 6)
    assert sim.memory.read(memmap.SCRATCHPAD_INT32_AREA1, 4) == bytes(4)
    # the stream is still in sync afterwards
    assert ask(conn, codec.encode_read_block(10, memmap.SCRATCHPAD_INT32_AREA1, 4), 20)[16:] == bytes(4)


def test_max_block_configurable() -> None:
    with Simulator(max_block=16) as sim, socket.create_connection(sim.address, timeout=3) as s:
        assert ask(s, codec.encode_read_block(1, memmap.SCRATCHPAD_INT32_AREA1, 17), 16) == \
            codec.encode_read_block_response(1, b"", 6)
        assert len(ask(s, codec.encode_read_block(1, memmap.SCRATCHPAD_INT32_AREA1, 16), 32)) == 32


def test_last_error_record_updated_on_nak(conn: socket.socket) -> None:
    req = codec.encode_read_block(33, 0xF0000010, 4, source_id=0xBEEF)
    assert ask(conn, req, 16)[6] == 0x50
    rec = ask(conn, codec.encode_read_block(1, memmap.STATUS_LAST_ERROR, 12), 28)[16:]
    assert struct.unpack(">iHHI", rec) == (0xE005, 33, 0xBEEF, 0xF0000010)


def test_unmapped_but_valid_area_reads_zero_and_stores(conn: socket.socket) -> None:
    addr = memmap.SCRATCHPAD_INT64 + 0x100
    assert ask(conn, codec.encode_read_block(1, addr, 8), 24)[16:] == bytes(8)
    assert ask(conn, codec.encode_write_block(2, addr, b"12345678"), 12) == codec.encode_write_response(2)
    assert ask(conn, codec.encode_read_block(3, addr, 8), 24)[16:] == b"12345678"


@pytest.mark.parametrize("frame", [
    "00 00 04 30 00 00 00 00 00 00 00 00 00 00 00 00",
    "00 00 04 80 00 00 00 00 00 00 00 00 00 00 00 00",
    "00 00 04 20 00 00 00 00 00 00 00 00",
    "00 00 04 70 00 00 00 00 00 00 00 00 00 04 00 00 00 00 00 01",
])
def test_unknown_tcode_rcode_1_then_close(sim: Simulator, frame: str) -> None:
    with socket.create_connection(sim.address, timeout=3) as s, \
            socket.create_connection(sim.address, timeout=3) as other:
        # a read before the bad frame is still answered first, in order
        s.sendall(codec.encode_read_block(5, memmap.STATUS_UPTIME_MS, 4) + hexbytes(frame)
                  + codec.encode_read_block(6, memmap.STATUS_UPTIME_MS, 4))
        first = recv_exact(s, 20)
        assert first[2] == 5 << 2 and first[3] == 0x70
        assert recv_exact(s, 12) == hexbytes("00 00 04 20 00 00 10 00 00 00 00 00")
        assert_closed(s)
        # another connection is unaffected
        assert ask(other, codec.encode_read_block(7, memmap.STATUS_UPTIME_MS, 4), 20)[2] == 7 << 2


# ----------------------------------------------------------------------------- framing
def test_pipelined_burst_in_order(sim: Simulator, conn: socket.socket) -> None:
    n = 500
    sim.memory.write(memmap.SCRATCHPAD_INT32_AREA1, b"".join(struct.pack(">i", i * 3) for i in range(1024)))
    reqs = [codec.encode_read_block(i % 64, memmap.scratchpad_int32_address(i), 4) for i in range(n)]
    conn.sendall(b"".join(reqs))
    data = recv_exact(conn, 20 * n)
    for i in range(n):
        r = data[20 * i:20 * i + 20]
        assert r[2] == (i % 64) << 2
        assert struct.unpack(">i", r[16:])[0] == i * 3


def test_mixed_pipeline_in_order(conn: socket.socket) -> None:
    addr = memmap.scratchpad_int32_address(0)
    burst = []
    expect = []
    for i in range(200):
        tl = i % 64
        if i % 2 == 0:
            burst.append(codec.encode_write_block(tl, addr, struct.pack(">i", i)))
            expect.append(codec.encode_write_response(tl))
        else:
            burst.append(codec.encode_read_block(tl, addr, 4))
            expect.append(codec.encode_read_block_response(tl, struct.pack(">i", i - 1)))
    conn.sendall(b"".join(burst))
    assert recv_exact(conn, sum(map(len, expect))) == b"".join(expect)


def test_byte_at_a_time(conn: socket.socket) -> None:
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    frames = [codec.encode_write_block(1, memmap.scratchpad_int32_address(5), b"\x00\x00\x01\x02"),
              codec.encode_read_block(2, memmap.scratchpad_int32_address(5), 4),
              codec.encode_read_quadlet(3, memmap.scratchpad_int32_address(5))]
    for b in b"".join(frames):
        conn.send(bytes([b]))
    got = recv_exact(conn, 12 + 20 + 16)
    assert got == (codec.encode_write_response(1) + codec.encode_read_block_response(2, b"\x00\x00\x01\x02")
                   + codec.encode_read_quadlet_response(3, b"\x00\x00\x01\x02"))


def test_one_send_per_response(sim: Simulator, conn: socket.socket) -> None:
    """Each response arrives whole on a lone request (one transport.write)."""
    for i in range(20):
        conn.sendall(codec.encode_read_block(i, memmap.SCRATCHPAD_INT32_AREA1, 1024))
        conn.settimeout(3)
        got = bytearray(conn.recv(4096))
        while len(got) < 1040:
            got += conn.recv(4096)
        assert len(got) == 1040
    assert sim.stats.frames_out == 20 and sim.stats.frames_in == 20
    assert sim.stats.by_tcode == {5: 20}


def test_concurrent_connections_and_cross_visibility(sim: Simulator) -> None:
    errors: List[BaseException] = []
    addr0 = memmap.scratchpad_int32_address(100)

    def worker(k: int) -> None:
        try:
            with socket.create_connection(sim.address, timeout=3) as s:
                for i in range(50):
                    a = addr0 + 4 * k
                    val = struct.pack(">i", k * 1000 + i)
                    assert ask(s, codec.encode_write_block(i % 64, a, val), 12) == \
                        codec.encode_write_response(i % 64)
                    assert ask(s, codec.encode_read_block(i % 64, a, 4), 20)[16:] == val
        except BaseException as exc:   # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert not errors
    assert sim.stats.connections == 8
    with socket.create_connection(sim.address, timeout=3) as a, socket.create_connection(sim.address, timeout=3) as b:
        assert ask(a, codec.encode_write_block(1, addr0, b"WXYZ"), 12) == codec.encode_write_response(1)
        assert ask(b, codec.encode_read_block(2, addr0, 4), 20)[16:] == b"WXYZ"


def test_hostile_length_is_bounded(sim: Simulator, conn: socket.socket) -> None:
    """A 65535-byte write announcement is consumed and NAK'd (rcode 6), not buffered forever."""
    head = codec.encode_write_block(1, memmap.SCRATCHPAD_INT32_AREA1, b"")[:12] + b"\xff\xff\x00\x00"
    conn.sendall(head + bytes(65535) + codec.encode_read_block(2, memmap.STATUS_UPTIME_MS, 4))
    assert recv_exact(conn, 12) == codec.encode_write_response(1, 6)
    assert recv_exact(conn, 20)[2] == 2 << 2


# ----------------------------------------------------------------------------- UDP
@pytest.fixture
def udp(sim: Simulator) -> Iterator[socket.socket]:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(3)
    s.connect(sim.address)
    yield s
    s.close()


def test_udp_answers(sim: Simulator, udp: socket.socket, vec: Dict[str, bytes]) -> None:
    sim.set_digital(1, 8, True)
    udp.send(vec["seed_read_digital_request"])
    assert udp.recv(2048) == vec["seed_read_digital_response_on"]
    udp.send(vec["write_digital_4byte_request"])
    assert udp.recv(2048) == vec["write_ack"]
    assert sim.get_digital(1, 8) is False


def test_udp_length_mismatch_rcode_6(udp: socket.socket) -> None:
    udp.send(codec.encode_read_block(3, memmap.STATUS_UPTIME_MS, 4) + b"\x00")
    assert udp.recv(2048) == codec.encode_read_block_response(3, b"", 6)
    udp.send(codec.encode_write_block(4, memmap.SCRATCHPAD_INT32_AREA1, b"\x01\x02\x03\x04")[:-1])
    assert udp.recv(2048) == codec.encode_write_response(4, 6)
    udp.send(codec.encode_read_quadlet(5, memmap.STATUS_UPTIME_MS)[:10])
    assert udp.recv(2048) == codec.encode_read_quadlet_response(5, b"", 6)


def test_udp_unknown_tcode_just_replies(udp: socket.socket) -> None:
    udp.send(hexbytes("00 00 08 90 00 00 00 00 00 00 00 00"))
    assert udp.recv(2048) == hexbytes("00 00 08 20 00 00 10 00 00 00 00 00")
    udp.send(codec.encode_read_block(6, memmap.STATUS_UPTIME_MS, 4))
    assert len(udp.recv(2048)) == 20


# ----------------------------------------------------------------------------- latency
def test_latency_paces_pipelined_requests() -> None:
    lat = 0.02
    with Simulator(latency=lat) as sim, socket.create_connection(sim.address, timeout=5) as s:
        t0 = time.monotonic()
        assert len(ask(s, codec.encode_read_block(1, memmap.STATUS_UPTIME_MS, 4), 20)) == 20
        single = time.monotonic() - t0
        assert single >= lat * 0.9
        n = 10
        t0 = time.monotonic()
        s.sendall(b"".join(codec.encode_read_block(i, memmap.STATUS_UPTIME_MS, 4) for i in range(n)))
        got = recv_exact(s, 20 * n, timeout=5)
        took = time.monotonic() - t0
        assert [got[20 * i + 2] >> 2 for i in range(n)] == list(range(n))
        assert n * lat * 0.9 <= took < n * lat + 1.5


def test_latency_on_udp() -> None:
    with Simulator(latency=0.02) as sim:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.settimeout(3)
            u.connect(sim.address)
            t0 = time.monotonic()
            u.send(codec.encode_read_block(1, memmap.STATUS_UPTIME_MS, 4))
            assert len(u.recv(100)) == 20
            assert time.monotonic() - t0 >= 0.018


def test_latency_unknown_tcode_still_ordered_then_closed() -> None:
    with Simulator(latency=0.01) as sim, socket.create_connection(sim.address, timeout=3) as s:
        s.sendall(codec.encode_read_block(1, memmap.STATUS_UPTIME_MS, 4) + hexbytes("00 00 08 30"))
        assert recv_exact(s, 20)[2] == 1 << 2
        assert recv_exact(s, 12) == hexbytes("00 00 08 20 00 00 10 00 00 00 00 00")
        assert_closed(s)
