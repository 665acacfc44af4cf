"""Stream configuration writes and the standard-packet receiver (blocking and asyncio)."""
from __future__ import annotations

import asyncio
import socket
import struct
from typing import Any, Dict, List, Tuple

import pytest

from mmpfast import memmap, stream as stream_mod
from mmpfast.errors import MmpProtocolError, MmpTimeoutError
from mmpfast.stream import (AsyncStreamReceiver, StreamPacket, StreamReceiver, configure_stream,
                            configure_stream_async, decode_stream_packet, disable_stream,
                            stream_config_writes)


@pytest.fixture(autouse=True)
def _both_codecs(codec: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stream_mod, "codec", codec)


@pytest.fixture
def packet_bytes(stream_vector: Dict[str, Any]) -> bytes:
    data = bytes.fromhex(stream_vector["hex"])
    assert len(data) == 604
    return data


def check_against_vector(pkt: StreamPacket, v: Dict[str, Any]) -> None:
    assert pkt.analog.tolist() == v["analog"]
    assert pkt.counters.tolist() == v["counters"]
    assert pkt.state_mask == v["state_mask"]
    assert pkt.on_latch_mask == v["on_latch_mask"]
    assert pkt.off_latch_mask == v["off_latch_mask"]
    assert pkt.active_counter_mask == v["active_counter_mask"]
    assert pkt.points_on == v["points_on"]


def test_decode_vector(packet_bytes: bytes, stream_vector: Dict[str, Any]) -> None:
    pkt = decode_stream_packet(packet_bytes)
    check_against_vector(pkt, stream_vector)
    assert pkt.sync == 8 and len(pkt) == 604
    assert pkt.states == [p in stream_vector["points_on"] for p in range(64)]
    assert pkt.state(63) is True and pkt.state(1) is False
    assert pkt.on_latch(0) is True and pkt.on_latch(1) is False
    assert pkt.off_latch(1) is True and pkt.off_latch(0) is False
    assert pkt.counter_active(63) is True and pkt.counter_active(0) is False
    assert pkt.value(0) == -10.0 and pkt.value(63) == stream_vector["analog"][63]
    assert pkt.counter(2) == 2007 and isinstance(pkt.counter(2), int)
    vals = pkt.values()
    assert vals["analog"] == stream_vector["analog"] and vals["state_mask"] == stream_vector["state_mask"]
    for bad in (64, -1):
        with pytest.raises(ValueError):
            pkt.state(bad)
    with pytest.raises(TypeError):
        pkt.value(1.0)  # type: ignore[arg-type]


def test_packet_body_is_the_stream_read_area(packet_bytes: bytes) -> None:
    # bytes 4..547 mirror 0xF1000000..0xF100021F
    assert 4 + memmap.STREAM_READ_AREA_LENGTH == 548
    assert packet_bytes[548:] == bytes(56)


@pytest.mark.parametrize("mutate, what", [
    (lambda b: b[:-1], "603 bytes"),
    (lambda b: b + b"\0", "605 bytes"),
    (lambda b: b"\x02\x5b" + b[2:], "length field 603"),
    (lambda b: b[:2] + b"\x01" + b[3:], "byte 2 not zero"),
    (lambda b: b[:3] + b"\x58" + b[4:], "tcode nibble 5"),
    (lambda b: b"", "empty"),
])
def test_invalid_packets(packet_bytes: bytes, mutate: Any, what: str) -> None:
    with pytest.raises(MmpProtocolError):
        StreamPacket(mutate(packet_bytes))


def test_config_writes() -> None:
    writes = stream_config_writes(5000, 100, ["192.168.1.20", "10.0.0.1"])
    assert writes[0] == (0xF03FFFE0, bytes([192, 168, 1, 20, 10, 0, 0, 1]) + bytes(24))
    assert writes[1] == (0xF03FFFC4, struct.pack(">6I", 0, 0, 0, 1, 100, 5000))
    assert len(writes) == 2
    off = stream_config_writes(2001, 5, enable=False, mirroring=True, start=0xF1000000, size=64)
    assert off == [(0xF03FFFC4, struct.pack(">6I", 1, 0xF1000000, 64, 0, 5, 2001))]
    with pytest.raises(ValueError):
        stream_config_writes(0, 100)
    with pytest.raises(ValueError):
        stream_config_writes(70000, 100)
    with pytest.raises(ValueError):
        stream_config_writes(5000, -1)
    with pytest.raises(ValueError):
        stream_config_writes(5000, 100, ["1.2.3.4"] * 9)
    with pytest.raises(ValueError):
        stream_config_writes(5000, 100, ["not-an-ip"])
    with pytest.raises(TypeError):
        stream_config_writes(5000, 100.0)  # type: ignore[arg-type]


class RecordingClient:
    def __init__(self) -> None:
        self.writes: List[Tuple[int, bytes]] = []

    def write(self, address: int, data: bytes) -> None:
        self.writes.append((address, bytes(data)))


class AsyncRecordingClient(RecordingClient):
    async def write(self, address: int, data: bytes) -> None:  # type: ignore[override]
        self.writes.append((address, bytes(data)))


def test_configure_and_disable_through_client_write() -> None:
    c = RecordingClient()
    configure_stream(c, 6000, 50, "127.0.0.1")
    disable_stream(c)
    assert c.writes == [
        (0xF03FFFE0, bytes([127, 0, 0, 1]) + bytes(28)),
        (0xF03FFFC4, struct.pack(">6I", 0, 0, 0, 1, 50, 6000)),
        (0xF03FFFD0, bytes(4)),
    ]
    ac = AsyncRecordingClient()
    asyncio.run(configure_stream_async(ac, 6000, 50, ["127.0.0.1"]))
    assert ac.writes == c.writes[:2]


def _send(port: int, *datagrams: bytes) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for d in datagrams:
            s.sendto(d, ("127.0.0.1", port))


def test_blocking_receiver(packet_bytes: bytes, stream_vector: Dict[str, Any]) -> None:
    with StreamReceiver("127.0.0.1", 0, timeout=2.0) as rx:
        assert rx.port > 0
        _send(rx.port, packet_bytes)
        pkt = rx.recv()
        check_against_vector(pkt, stream_vector)
        assert pkt.source is not None and pkt.source[0] == "127.0.0.1"
        _send(rx.port, b"junk")
        with pytest.raises(MmpProtocolError):
            rx.recv()
        with pytest.raises(MmpTimeoutError):
            rx.recv(timeout=0.05)
        assert rx.invalid == 1 and rx.received == 1


def test_blocking_receiver_lenient_iteration(packet_bytes: bytes) -> None:
    with StreamReceiver("127.0.0.1", 0, timeout=2.0, strict=False) as rx:
        _send(rx.port, b"junk", packet_bytes, packet_bytes[:100], packet_bytes)
        got = []
        for pkt in rx:
            got.append(pkt)
            if len(got) == 2:
                break
        assert [p.sync for p in got] == [8, 8] and rx.invalid == 2


def test_async_receiver(packet_bytes: bytes, stream_vector: Dict[str, Any]) -> None:
    async def main() -> None:
        rx = await AsyncStreamReceiver.open("127.0.0.1", 0)
        try:
            _send(rx.port, packet_bytes, b"\x02\x5c\x00\xa8")
            pkt = await rx.recv(timeout=2.0)
            check_against_vector(pkt, stream_vector)
            with pytest.raises(MmpProtocolError):
                await rx.recv(timeout=2.0)
            with pytest.raises(MmpTimeoutError):
                await rx.recv(timeout=0.05)
            _send(rx.port, packet_bytes)
            async for p in rx:
                assert p.state_mask == stream_vector["state_mask"]
                break
            assert rx.invalid == 1
        finally:
            rx.close()
        await asyncio.sleep(0)
    asyncio.run(main())


# ----------------------------------------------------------------------------- against the simulator
def test_decoded_simulator_packet_matches_set_values() -> None:
    """The simulator's packet, decoded by mmpfast.stream, shows what set_digital /
    set_analog set at point p = 4*module + channel (PROTOCOL.md §2.4, §3.7);
    channels 4 and above of a module are not stream points."""
    from mmpfast.sim import Memory
    mem = Memory(modules=["di:8", "ai:8", "do:4", None, "ao:4"] + ["di:4"] * 11)
    mem.set_feature(0, 1, 1)
    for _ in range(3):                          # point 1: counter 3, both latches
        mem.set_digital(0, 1, True)
        mem.set_digital(0, 1, False)
    mem.set_digital(0, 0, True)                 # point 0
    mem.set_digital(0, 6, True)                 # channel 6: not a point
    mem.set_analog(1, 0, 1.25)                  # point 4
    mem.set_analog(1, 3, -8.5)                  # point 7
    mem.set_analog(1, 5, 99.0)                  # channel 5: not a point
    mem.set_digital(2, 3, True)                 # point 11
    mem.set_analog(4, 2, 3.5)                   # point 18 (slot 3 is empty: points 12..15 stay 0)
    mem.set_digital(15, 3, True)                # point 63
    pkt = decode_stream_packet(mem.stream_packet())
    assert pkt.points_on == [0, 11, 63]
    assert pkt.state_mask == (1 << 0) | (1 << 11) | (1 << 63)
    assert pkt.on_latch_mask == (1 << 0) | (1 << 1) | (1 << 11) | (1 << 63)
    assert pkt.off_latch_mask == 1 << 1
    assert pkt.active_counter_mask == 1 << 1
    assert pkt.counter(1) == 3 and sum(pkt.counters.tolist()) == 3
    expected = [0.0] * 64
    expected[4], expected[7], expected[18] = 1.25, -8.5, 3.5
    assert pkt.analog.tolist() == expected
    assert pkt.value(7) == mem.get_analog(1, 3)
    for m in range(16):
        for c in range(memmap.SNAP_CHANNELS):
            p = memmap.snap_point(m, c)
            spec = mem.rack[m]
            want = spec is not None and spec.digital and mem.get_digital(m, c)
            assert pkt.state(p) is want, (m, c)
    # a change shows in the next packet
    mem.set_digital(0, 0, False)
    mem.set_analog(1, 0, -2.0)
    pkt2 = decode_stream_packet(mem.stream_packet())
    assert pkt2.points_on == [11, 63] and pkt2.off_latch(0) and pkt2.value(4) == -2.0


def test_snap_point_map() -> None:
    assert [memmap.snap_point(m, c) for m, c in ((0, 0), (0, 3), (1, 0), (15, 3))] == [0, 3, 4, 63]
    for bad in ((0, 4), (16, 0), (-1, 0)):
        with pytest.raises(ValueError):
            memmap.snap_point(*bad)
    with pytest.raises(TypeError):
        memmap.snap_point(0, "1")  # type: ignore[arg-type]
