"""Client wire behaviour against the scripted raw server: exact request bytes,
chunking, tl rotation, bad input sends nothing, faults.  Every case runs on
the blocking client and on the asyncio client through one adapter."""
from __future__ import annotations

import asyncio
import math
import struct
import time
from array import array
from typing import Any

import pytest

import mmpfast
from mmpfast import (AsyncClient, Client, MmpConnectionError, MmpNakError, MmpProtocolError,
                     MmpTimeoutError, WriteOutcomeUnknown, memmap)
from mmpfast import _codec_py as ref
from mmpfast.plan import ScanPlan

from conftest import hexbytes
from scripted_server import CLOSE, ScriptedServer, make, server  # noqa: F401 (fixtures)




def _wait_frames(server: ScriptedServer, n: int, limit: float = 2.0) -> None:
    end = time.monotonic() + limit
    while len(server.frames) < n and time.monotonic() < end:
        time.sleep(0.002)


# ----------------------------------------------------------------------------- exact bytes
def test_uptime_sends_the_seed_request(server: ScriptedServer, make: Any, frames_vectors: Any) -> None:
    vec = {f["name"]: f for f in frames_vectors["frames"]}
    server.memory.write(memmap.STATUS_UPTIME_MS, bytes.fromhex("04675CDE"))
    c = make(server)
    assert c.uptime_ms() == 73882846
    assert c.uptime_ms() == 73882846
    seed = bytearray(hexbytes(vec["seed_uptime_request"]["hex"]))
    sent = server.frames
    assert len(sent) == 2
    for tl, frame in enumerate(sent):      # the seed frame, tl aside
        seed[2] = tl << 2
        assert frame == bytes(seed)


def test_uptime_is_unsigned(server: ScriptedServer, make: Any) -> None:
    server.memory.write(memmap.STATUS_UPTIME_MS, b"\xff\xff\xff\xfe")
    assert make(server).uptime_ms() == 0xFFFFFFFE


def test_read_digital_request_and_value(server: ScriptedServer, make: Any, frames_vectors: Any) -> None:
    vec = {f["name"]: f for f in frames_vectors["frames"]}
    c = make(server)
    server.memory.write(0xF01E1200, b"\x00\x00\x00\x01")
    assert c.read_digital(1, 8) is True
    server.memory.write(0xF01E1200, b"\x00\x00\x00\x00")
    assert c.read_digital(1, 8) is False
    expected = bytearray(hexbytes(vec["seed_read_digital_request"]["hex"]))
    expected[2] = 0
    assert server.frames[0] == bytes(expected)


def test_write_digital_frame(server: ScriptedServer, make: Any, frames_vectors: Any) -> None:
    vec = {f["name"]: f for f in frames_vectors["frames"]}
    c = make(server)
    c.write_digital(1, 8, False)
    c.write_digital(1, 8, True)
    off = bytearray(hexbytes(vec["write_digital_4byte_request"]["hex"]))
    off[2] = 0
    assert server.frames[0] == bytes(off)
    assert server.frames[1][2] == 1 << 2 and server.frames[1][-4:] == b"\x00\x00\x00\x01"
    assert server.memory.read(0xF0221200, 4) == b"\x00\x00\x00\x01"


def test_powerup_clear_is_a_block_write(server: ScriptedServer, make: Any) -> None:
    make(server).powerup_clear()
    (f,) = server.decoded()
    assert (f.tcode, f.address, bytes(f.data)) == (1, 0xF0380000, b"\x00\x00\x00\x01")


def test_long_read_is_chunked_with_rotating_tl(server: ScriptedServer, make: Any) -> None:
    payload = bytes((i * 7) & 0xFF for i in range(70 * 100 + 3))
    server.memory.write(0xF0D81000, payload)
    c = make(server, max_block=100)
    assert c.read(0xF0D81000, len(payload)) == payload
    frames = server.decoded()
    assert len(frames) == 71
    assert [f.tl for f in frames] == [i % 64 for i in range(71)]
    assert all(f.tcode == 5 and f.data_length <= 100 for f in frames)
    assert [f.address for f in frames] == [0xF0D81000 + 100 * i for i in range(71)]
    assert frames[-1].data_length == 3


def test_long_write_is_chunked(server: ScriptedServer, make: Any) -> None:
    data = bytes(range(256)) * 9
    c = make(server, max_block=1024)
    c.write(0xF0D81000, data)
    frames = server.decoded()
    assert [(f.tcode, f.address, f.data_length) for f in frames] == [
        (1, 0xF0D81000, 1024), (1, 0xF0D81400, 1024), (1, 0xF0D81800, 256)]
    assert b"".join(bytes(f.data) for f in frames) == data


@pytest.mark.parametrize("pipeline", [1, 3, 8])
def test_pipelined_read_into(server: ScriptedServer, make: Any, pipeline: int) -> None:
    payload = bytes((i * 13) & 0xFF for i in range(5000))
    server.memory.write(0xF0DA0000, payload)
    c = make(server, max_block=512, pipeline=pipeline)
    for kind in ("bytearray", "array", "memoryview"):
        if kind == "bytearray":
            buf: Any = bytearray(5000)
            c.read_into(0xF0DA0000, buf)
            got = bytes(buf)
        elif kind == "array":
            arr = array("i", bytes(5000))
            c.read_into(0xF0DA0000, arr)
            got = arr.tobytes()
        else:
            back = bytearray(6000)
            c.read_into(0xF0DA0000, memoryview(back)[500:5500])
            got = bytes(back[500:5500])
            assert back[:500] == bytes(500) and back[5500:] == bytes(500)
        assert got == payload
    tls = [f.tl for f in server.decoded()]
    assert tls == [i % 64 for i in range(len(tls))]


def test_read_into_numpy(server: ScriptedServer, make: Any) -> None:
    np = pytest.importorskip("numpy")
    values = np.arange(300, dtype=">f4")
    server.memory.write(0xF0DC0000, values.tobytes())
    out = np.zeros(300, dtype=">f4")
    make(server, max_block=256).read_into(0xF0DC0000, out)
    assert (out == values).all()


def test_scratchpad_int32_spans_areas(server: ScriptedServer, make: Any) -> None:
    c = make(server, max_block=16)
    c.write_scratchpad_int32(1021, [-1, 2, 2**31 - 1, -2**31, 5])
    assert server.memory.read(0xF0D81000 + 4 * 1021, 12) == struct.pack(">3i", -1, 2, 2**31 - 1)
    assert server.memory.read(0xF0DA0000, 8) == struct.pack(">2i", -2**31, 5)
    assert c.read_scratchpad_int32(1021, 5) == [-1, 2, 2**31 - 1, -2**31, 5]
    reads = [f for f in server.decoded() if f.tcode == 5]
    assert [(f.address, f.data_length) for f in reads] == [(0xF0D81FF4, 12), (0xF0DA0000, 8)]


def test_scratchpad_float_and_int64(server: ScriptedServer, make: Any) -> None:
    c = make(server)
    c.write_scratchpad_float(10, [1.5, -2.25, float("nan"), float("inf")])
    assert server.memory.read(0xF0D82000 + 40, 8) == struct.pack(">2f", 1.5, -2.25)
    got = c.read_scratchpad_float(10, 4)
    assert got[:2] == [1.5, -2.25] and math.isnan(got[2]) and got[3] == math.inf
    c.write_scratchpad_int64(1023, -5)
    assert server.memory.read(0xF0DE0000 + 8 * 1023, 8) == struct.pack(">q", -5)
    assert c.read_scratchpad_int64(1023) == [-5]
    c.write_scratchpad_float(7, 3)
    assert c.read_scratchpad_float(7) == [3.0]


def test_string_write_and_read(server: ScriptedServer, make: Any, frames_vectors: Any) -> None:
    vec = {f["name"]: f for f in frames_vectors["frames"]}
    c = make(server)
    c.write_scratchpad_string(1, "abc 123")
    expected = bytearray(hexbytes(vec["string_slot1_write_request"]["hex"]))
    expected[2] = 0
    assert server.frames[0] == bytes(expected)
    assert c.read_scratchpad_string(1) == "abc 123"
    (_, read) = server.decoded()
    assert (read.address, read.data_length) == (0xF0D83082, 130)
    text = "é" * 64                       # 128 bytes in UTF-8
    c.write_scratchpad_string(63, text)
    assert c.read_scratchpad_string(63) == text
    c.write_scratchpad_string(0, "")
    assert c.read_scratchpad_string(0) == ""
    c.write_scratchpad_string(2, b"\x00bin\xff")
    assert c.read_scratchpad_string(2, encoding="latin-1") == "\x00bin\xff"


def test_string_length_word_over_128_is_protocol_error(server: ScriptedServer, make: Any) -> None:
    server.memory.write(0xF0D83000, b"\x00\x81")
    c = make(server)
    with pytest.raises(MmpProtocolError):
        c.read_scratchpad_string(0)


def test_status_fields(server: ScriptedServer, make: Any) -> None:
    m = server.memory
    m.write(memmap.STATUS_PUC_FLAG, b"\x00\x00\x00\x01")
    m.write(memmap.STATUS_LAST_ERROR, b"\x00\x00\xe0\x05")
    m.write(memmap.STATUS_FIRMWARE_VERSION, bytes([3, 6, 2, 1]))
    m.write(memmap.STATUS_MAC_ETH0, bytes.fromhex("00A03D0A0DFE"))
    m.write(memmap.STATUS_IP_ETH0, bytes([10, 0, 0, 5]))
    m.write(memmap.STATUS_PART_NUMBER, b"GRV-EPIC-PR1 \x00junk")
    m.write(memmap.STATUS_UPTIME_MS, (123456).to_bytes(4, "big"))
    m.write(memmap.STATUS_SERIAL_NUMBER, (987654).to_bytes(4, "big"))
    st = make(server).status()
    assert st == mmpfast.Status(uptime_ms=123456, firmware="R3.6b", part_number="GRV-EPIC-PR1",
                                mac="00:A0:3D:0A:0D:FE", ip="10.0.0.5", serial=987654,
                                last_error=0xE005, powerup_clear_needed=True)
    (f,) = server.decoded()
    assert (f.tcode, f.address, f.data_length) == (5, 0xF0300000, memmap.STATUS_BLOCK_LENGTH)


def test_channels(server: ScriptedServer, make: Any) -> None:
    m = server.memory
    m.write(0xF01E0000 + 0x1000 * 2 + 0x40 * 5, struct.pack(">6I", 1, 0, 1, 1, 4000000000, 0))
    m.write(0xF0260000 + 0x1000 * 3 + 0x40 * 1, struct.pack(">4fI", 12.5, 0.0, -1.0, 20.0, 30))
    c = make(server)
    assert c.read_digital_channel(2, 5) == mmpfast.DigitalChannel(True, False, True, 1, 4000000000, 0)
    assert c.read_analog_channel(3, 1) == mmpfast.AnalogChannel(12.5, -1.0, 20.0, 30)
    assert c.read_analog(3, 1) == 12.5
    c.write_analog(4, 63, -3.75)
    assert m.read(0xF02A0000 + 0x4000 + 0x40 * 63, 4) == struct.pack(">f", -3.75)


# ----------------------------------------------------------------------------- bad input
BAD_CALLS = [
    ("read_digital", (16, 0), ValueError),
    ("read_digital", (0, 64), ValueError),
    ("read_digital", (-1, 0), ValueError),
    ("read_digital", ("1", 0), TypeError),
    ("write_digital", (0, 0, 2), ValueError),
    ("write_digital", (0, 0, "on"), TypeError),
    ("write_analog", (0, 0, float("nan")), ValueError),
    ("write_analog", (0, 0, float("inf")), ValueError),
    ("write_analog", (0, 0, 1e39), ValueError),
    ("write_analog", (0, 0, "1.0"), TypeError),
    ("read_analog_channel", (0, 99), ValueError),
    ("read_scratchpad_int32", (10240,), ValueError),
    ("read_scratchpad_int32", (10239, 2), ValueError),
    ("read_scratchpad_int32", (0, 0), ValueError),
    ("read_scratchpad_int64", (1024,), ValueError),
    ("read_scratchpad_float", (1.5,), TypeError),
    ("write_scratchpad_int32", (0, 2**31), ValueError),
    ("write_scratchpad_int32", (0, [1, -2**31 - 1]), ValueError),
    ("write_scratchpad_int32", (0, 1.5), TypeError),
    ("write_scratchpad_int32", (0, "12"), TypeError),
    ("write_scratchpad_int32", (10239, [1, 2]), ValueError),
    ("write_scratchpad_int64", (0, 2**63), ValueError),
    ("write_scratchpad_float", (0, "x"), TypeError),
    ("write_scratchpad_float", (0, 1e39), ValueError),
    ("write_scratchpad_string", (64, "x"), ValueError),
    ("write_scratchpad_string", (0, "x" * 129), ValueError),
    ("write_scratchpad_string", (0, "é" * 65), ValueError),
    ("write_scratchpad_string", (0, 5), TypeError),
    ("read_scratchpad_string", (-1,), ValueError),
    ("read", (-1, 4), ValueError),
    ("read", (0xFFFFFFFF, 2), ValueError),
    ("read", (0xF0300000, -1), ValueError),
    ("read", ("0xF0300000", 4), TypeError),
    ("read_into", (0xF0300000, b"immutable"), TypeError),
    ("write", (0xF0300000, "text"), TypeError),
    ("write", (2**32, b"x"), ValueError),
]


@pytest.mark.parametrize("name,args,exc", BAD_CALLS, ids=[f"{n}{a}"[:60] for n, a, _ in BAD_CALLS])
def test_bad_input_sends_nothing(server: ScriptedServer, make: Any, name: str, args: tuple,
                                 exc: type) -> None:
    c = make(server)
    with pytest.raises(exc):
        getattr(c, name)(*args)
    assert c.uptime_ms() == 0          # the connection is fine and nothing else was sent
    _wait_frames(server, 1)
    assert [f.address for f in server.decoded()] == [memmap.STATUS_UPTIME_MS]


@pytest.mark.parametrize("kw", [{"timeout": 0}, {"timeout": -1}, {"max_block": 4},
                                {"max_block": 65536}, {"pipeline": 0}, {"pipeline": 65}])
def test_bad_options(kw: dict) -> None:
    for cls in (Client, AsyncClient):
        with pytest.raises(ValueError):
            cls("127.0.0.1", 1, **kw)


# ----------------------------------------------------------------------------- NAKs
def test_read_nak_carries_address_and_keeps_connection(server: ScriptedServer, make: Any) -> None:
    server.nak[0xF0D81400] = 5
    c = make(server, max_block=1024, pipeline=4)
    with pytest.raises(MmpNakError) as info:
        c.read(0xF0D81000, 3000)
    assert (info.value.rcode, info.value.error_code, info.value.address) == (5, 0xE005, 0xF0D81400)
    assert c.uptime_ms() == 0
    assert server.connections == 1


def test_write_nak(server: ScriptedServer, make: Any) -> None:
    server.nak[0xF0221200] = 5
    c = make(server)
    with pytest.raises(MmpNakError) as info:
        c.write_digital(1, 8, True)
    assert info.value.address == 0xF0221200 and info.value.error_code == 0xE005
    c.write_digital(1, 9, True)
    assert server.connections == 1


# ----------------------------------------------------------------------------- faults
def test_connection_refused(make: Any) -> None:
    with ScriptedServer() as s:
        host, port = s.host, s.port
    class Gone:
        pass
    g = Gone()
    g.host, g.port = host, port  # type: ignore[attr-defined]
    c = make(g, timeout=1.0)
    with pytest.raises(MmpConnectionError) as info:
        c.uptime_ms()
    assert isinstance(info.value, ConnectionError)


def test_timeout_then_next_call_works(server: ScriptedServer, make: Any) -> None:
    calls = []

    def respond(frame: bytes, conn: int) -> Any:
        calls.append(conn)
        return None if conn == 0 else server.device(frame, conn)
    server.respond = respond
    c = make(server, timeout=0.3)
    t0 = time.monotonic()
    with pytest.raises(MmpTimeoutError):
        c.uptime_ms()
    elapsed = time.monotonic() - t0
    assert 0.25 <= elapsed < 0.8
    assert c.uptime_ms() == 0
    assert server.connections == 2
    assert len(server.frames) == 2      # reads are not retried after a timeout


def test_deadline_covers_all_chunks(server: ScriptedServer, make: Any) -> None:
    def respond(frame: bytes, conn: int) -> Any:
        time.sleep(0.1)
        return server.device(frame, conn)
    server.respond = respond
    c = make(server, timeout=0.35, max_block=100)
    t0 = time.monotonic()
    with pytest.raises(MmpTimeoutError):
        c.read(0xF0D81000, 1000)          # ten chunks at 0.1 s each
    assert time.monotonic() - t0 < 0.8


def test_wrong_tl_is_protocol_error_and_reconnects(server: ScriptedServer, make: Any) -> None:
    def respond(frame: bytes, conn: int) -> Any:
        f = ref.decode_frame(frame)
        if conn == 0:
            return ref.encode_read_block_response((f.tl + 1) % 64, bytes(f.data_length))
        return server.device(frame, conn)
    server.respond = respond
    c = make(server)
    with pytest.raises(MmpProtocolError):
        c.uptime_ms()
    assert c.uptime_ms() == 0
    assert server.connections == 2


@pytest.mark.parametrize("bad", ["wrong_tcode", "long_data", "extra_bytes", "undefined_tcode"])
def test_malformed_answers_poison(server: ScriptedServer, make: Any, bad: str) -> None:
    def respond(frame: bytes, conn: int) -> Any:
        f = ref.decode_frame(frame)
        if conn == 0:
            if bad == "wrong_tcode":
                return ref.encode_write_response(f.tl)
            if bad == "long_data":
                return ref.encode_read_block_response(f.tl, bytes(f.data_length + 4))
            if bad == "extra_bytes":
                return ref.encode_read_block_response(f.tl, bytes(f.data_length)) + b"\x00" * 5
            return b"\x00\x00\x00\x30" + bytes(12)
        return server.device(frame, conn)
    server.respond = respond
    c = make(server)
    with pytest.raises(MmpProtocolError):
        c.uptime_ms()
    assert c.uptime_ms() == 0
    assert server.connections == 2


def test_peer_closes_mid_frame_read_retried_once(server: ScriptedServer, make: Any) -> None:
    def respond(frame: bytes, conn: int) -> Any:
        f = ref.decode_frame(frame)
        full = ref.encode_read_block_response(f.tl, b"\x00\x00\x00\x07")
        return (full[:9], CLOSE) if conn == 0 else full
    server.respond = respond
    c = make(server)
    assert c.uptime_ms() == 7           # dropped mid-frame, read repeated on a new connection
    assert server.connections == 2 and len(server.frames) == 2


def test_peer_closes_twice_raises_connection_error(server: ScriptedServer, make: Any) -> None:
    def respond(frame: bytes, conn: int) -> Any:
        f = ref.decode_frame(frame)
        full = ref.encode_read_block_response(f.tl, b"\x00\x00\x00\x07")
        return (full[:9], CLOSE) if conn < 2 else full
    server.respond = respond
    c = make(server)
    with pytest.raises(MmpConnectionError):
        c.uptime_ms()
    assert c.uptime_ms() == 7
    assert server.connections == 3


def test_read_and_clear_is_not_retried(server: ScriptedServer, make: Any) -> None:
    server.respond = lambda frame, conn: CLOSE if conn == 0 else server.device(frame, conn)
    c = make(server)
    with pytest.raises(MmpConnectionError):
        c.read(memmap.analog_read_clear_address(0, 0), 8)
    assert len(server.frames) == 1
    assert c.read(memmap.analog_read_clear_address(0, 0), 8) == bytes(8)


@pytest.mark.parametrize("fault", ["silence", "close", "half_ack"])
def test_lost_write_ack_is_outcome_unknown(server: ScriptedServer, make: Any, fault: str) -> None:
    def respond(frame: bytes, conn: int) -> Any:
        f = ref.decode_frame(frame)
        if conn == 0 and f.tcode == 1:
            server.device(frame, conn)     # the device applied it ...
            if fault == "silence":
                return None
            if fault == "close":
                return CLOSE
            return (ref.encode_write_response(f.tl)[:6], CLOSE)
        return server.device(frame, conn)
    server.respond = respond
    c = make(server, timeout=0.3)
    with pytest.raises(WriteOutcomeUnknown) as info:
        c.write_scratchpad_int32(3, 42)
    assert info.value.address == 0xF0D8100C
    assert isinstance(info.value.__cause__, (MmpTimeoutError, MmpConnectionError))
    writes = [f for f in server.decoded() if f.tcode == 1]
    assert len(writes) == 1                # never retried
    assert c.read_scratchpad_int32(3) == [42]


def test_stale_connection_is_replaced_before_sending(server: ScriptedServer, make: Any) -> None:
    # the server hangs up after answering: the next write must go out on a fresh
    # connection, not end as WriteOutcomeUnknown
    server.respond = lambda frame, conn: (server.device(frame, conn), CLOSE)
    c = make(server)
    c.write_digital(0, 0, True)
    time.sleep(0.05)
    c.write_digital(0, 1, True)
    assert server.connections == 2


def test_read_right_after_the_peer_hung_up_is_repeated_once(server: ScriptedServer, make: Any) -> None:
    # a read on a connection used moments ago skips the idle check; the peer has gone,
    # so the read fails on that connection and is repeated once on a new one
    server.respond = lambda frame, conn: (server.device(frame, conn), CLOSE)
    c = make(server)
    first = c.uptime_ms()
    second = c.uptime_ms()
    assert isinstance(first, int) and isinstance(second, int)
    assert server.connections == 2          # the dead one, then the one the read was repeated on


def test_idle_check_only_where_it_matters(server: ScriptedServer, make: Any,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    import mmpfast.policy as layer
    calls = []
    for cls in (Client, AsyncClient):      # each transport's idle check, counted
        real = cls._peer_gone
        monkeypatch.setattr(cls, "_peer_gone",
                            lambda self, sock, real=real: calls.append(1) or real(self, sock))
    c = make(server)
    c.uptime_ms()
    c.uptime_ms()                                   # plain read, connection just used: no check
    assert calls == []
    c.write_scratchpad_int32(0, 1)                  # a write is always preceded by the check
    assert calls == [1]
    c.read(memmap.EPIC_DIGITAL_READ_CLEAR, 4)       # so is a read-and-clear read (never repeated)
    assert calls == [1, 1]
    monkeypatch.setattr(layer, "STALE_CHECK_AFTER", 0.0)
    c.uptime_ms()                                   # an idle connection is checked before a read
    assert calls == [1, 1, 1]


# ----------------------------------------------------------------------------- scan
class StandInPlan(ScanPlan):
    """A ScanPlan whose requests are given as they are (repeats and all): the
    members the clients consume (interfaces: requests, offsets, lengths,
    buffer_size, new_buffer, result)."""

    def __init__(self, requests: list) -> None:
        super().__init__()
        self._given = tuple(requests)
        self._offs = array("q")
        self._lens = array("q")
        pos = 0
        for _, n in self._given:
            self._offs.append(pos)
            self._lens.append(n)
            pos += n
        self._size = pos

    @property
    def requests(self) -> Any:
        return self._given

    @property
    def offsets(self) -> Any:
        return self._offs

    @property
    def lengths(self) -> Any:
        return self._lens

    @property
    def buffer_size(self) -> int:
        return self._size

    def new_buffer(self) -> bytearray:
        return bytearray(self._size)

    def result(self, buffer: Any) -> Any:
        return ("result", bytes(buffer))


@pytest.mark.parametrize("pipeline", [1, 4])
def test_scan_and_scan_into(server: ScriptedServer, make: Any, pipeline: int) -> None:
    server.memory.write(0xF0D81000, bytes(range(1, 41)))
    server.memory.write(0xF01E0000, b"\x00\x00\x00\x01")
    plan = StandInPlan([(0xF0D81000, 40), (0xF01E0000, 4), (0xF0D81004, 8)] * 3)
    c = make(server, pipeline=pipeline)
    tag, raw = c.scan(plan)
    one = bytes(range(1, 41)) + b"\x00\x00\x00\x01" + bytes(range(5, 13))
    assert tag == "result" and raw == one * 3
    buf = bytearray(plan.buffer_size + 10)
    assert c.scan_into(plan, buf) is None
    assert bytes(buf[:plan.buffer_size]) == one * 3
    with pytest.raises(ValueError):
        c.scan_into(plan, bytearray(plan.buffer_size - 1))
    with pytest.raises(TypeError):
        c.scan_into(plan, bytes(plan.buffer_size))
    reads = server.decoded()
    assert len(reads) == 18 and [f.tl for f in reads] == list(range(18))


def test_scan_nak_address(server: ScriptedServer, make: Any) -> None:
    server.nak[0xF0999999] = 5
    plan = StandInPlan([(0xF0D81000, 4), (0xF0999999, 4), (0xF0D81000, 4)])
    c = make(server, pipeline=3)
    with pytest.raises(MmpNakError) as info:
        c.scan_into(plan, plan.new_buffer())
    assert info.value.address == 0xF0999999
    assert c.uptime_ms() == 0 and server.connections == 1


# ----------------------------------------------------------------------------- threads / tasks
def test_blocking_client_shared_by_threads(server: ScriptedServer) -> None:
    import threading
    server.memory.write(0xF0D81000, bytes(range(200)))
    errors: list = []
    with Client(server.host, server.port, max_block=64) as c:
        def work() -> None:
            try:
                for _ in range(20):
                    assert c.read(0xF0D81000, 200) == bytes(range(200))
            except Exception as exc:  # pragma: no cover - reported below
                errors.append(exc)
        ts = [threading.Thread(target=work) for _ in range(4)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(10)
    assert not errors and server.connections == 1


def test_async_client_shared_by_tasks(server: ScriptedServer) -> None:
    server.memory.write(0xF0D81000, bytes(range(200)))

    async def main() -> list:
        async with AsyncClient(server.host, server.port, max_block=64, pipeline=2) as c:
            return await asyncio.gather(*(c.read(0xF0D81000, 200) for _ in range(30)))
    results = asyncio.run(main())
    assert results == [bytes(range(200))] * 30 and server.connections == 1


def test_async_cancellation_poisons_connection(server: ScriptedServer) -> None:
    server.respond = lambda frame, conn: None if conn == 0 else server.device(frame, conn)

    async def main() -> int:
        async with AsyncClient(server.host, server.port, timeout=2.0) as c:
            task = asyncio.ensure_future(c.uptime_ms())
            await asyncio.sleep(0.05)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            return await c.uptime_ms()
    assert asyncio.run(main()) == 0
    assert server.connections == 2
