"""The simulator's memory model: areas, I/O rack, strings, latches, read-and-clear, streaming."""
from __future__ import annotations

import socket
import struct
import time

import pytest

from mmpfast import codec, memmap
from mmpfast.errors import MmpNakError
from mmpfast.sim import DEFAULT_LAYOUT, Memory, ModuleSpec, Simulator, parse_modules
from conftest import hexbytes, load_vectors


@pytest.fixture
def mem() -> Memory:
    return Memory()


def u32(mem: Memory, address: int) -> int:
    return int(struct.unpack(">I", mem.read(address, 4))[0])


def f32(mem: Memory, address: int) -> float:
    return float(struct.unpack(">f", mem.read(address, 4))[0])


# ----------------------------------------------------------------------------- areas
def test_area_lookup_agrees_with_memmap(mem: Memory) -> None:
    for area in memmap.AREAS:
        for addr, n in ((area.first, 1), (area.last, 1), (area.first, area.last - area.first + 1),
                        (area.last, 2), (area.first - 1, 2), (area.last + 1, 1)):
            assert mem.area_of(addr, n) == memmap.find_area(addr, n), (hex(addr), n)


def test_direct_access_validation(mem: Memory) -> None:
    with pytest.raises(MmpNakError) as e:
        mem.read(0xF0000000, 4)
    assert e.value.rcode == 5 and e.value.address == 0xF0000000
    with pytest.raises(MmpNakError) as e:
        mem.write(memmap.STATUS_UPTIME_MS, b"\x00\x00\x00\x01")
    assert e.value.rcode == 5
    with pytest.raises(MmpNakError) as e:
        mem.read(memmap.SCRATCHPAD_INT32_AREA1, 0)
    assert e.value.rcode == 6
    with pytest.raises(ValueError):
        mem.read(-1, 4)
    with pytest.raises(TypeError):
        mem.read("0xF0300000", 4)  # type: ignore[arg-type]
    # a whole area in one direct access is fine (max_block is a wire rule)
    assert len(mem.read(memmap.SCRATCHPAD_INT32_AREA2, 0x9000)) == 0x9000


def test_status_fields(mem: Memory) -> None:
    st = mem.read(memmap.STATUS_READ_BASE, memmap.STATUS_BLOCK_LENGTH)

    def at(addr: int, n: int) -> bytes:
        return st[addr - memmap.STATUS_READ_BASE:addr - memmap.STATUS_READ_BASE + n]

    assert memmap.format_firmware(at(memmap.STATUS_FIRMWARE_VERSION, 4)) == "R3.4a"
    assert memmap.decode_zstring(at(memmap.STATUS_PART_NUMBER, 32)) == "GRV-EPIC-PR1"
    assert memmap.format_ip(at(memmap.STATUS_IP_ETH0, 4)) == "127.0.0.1"
    assert memmap.format_mac(at(memmap.STATUS_MAC_ETH0, 6)) == "00:A0:3D:0A:0D:FE"
    assert struct.unpack(">I", at(memmap.STATUS_SERIAL_NUMBER, 4))[0] != 0
    assert struct.unpack(">I", at(memmap.STATUS_PUC_FLAG, 4))[0] == 0
    snap = Memory(profile="snap")
    assert u32(snap, memmap.STATUS_PUC_FLAG) == 1
    assert memmap.decode_zstring(snap.read(memmap.STATUS_PART_NUMBER, 32)) == "SNAP-PAC-R1"
    with pytest.raises(ValueError):
        Memory(profile="plc")


def test_status_write_whole_quadlets_only(mem: Memory) -> None:
    for addr, data in ((memmap.STATUS_WRITE_WATCHDOG_MS, b"\x00\x01"),
                       (memmap.STATUS_WRITE_WATCHDOG_MS + 2, b"\x00\x00\x00\x01"),
                       (memmap.STATUS_WRITE_WATCHDOG_MS, b"\x00\x00\x00\x01\x00")):
        with pytest.raises(MmpNakError) as e:
            mem.write(addr, data)
        assert e.value.rcode == 5
    mem.write(memmap.STATUS_WRITE_WATCHDOG_MS, b"\x00\x00\x03\xe8")
    assert u32(mem, memmap.STATUS_WRITE_WATCHDOG_MS) == 1000


def test_puc_enforced_on_snap_profile_over_the_wire() -> None:
    vec = {f["name"]: hexbytes(f["hex"]) for f in load_vectors("frames.json")["frames"]}
    with Simulator(profile="snap") as sim, socket.create_connection(sim.address, timeout=3) as s:
        s.sendall(vec["seed_read_digital_request"])
        assert s.recv(100) == vec["read_block_nak_puc"]
        s.sendall(codec.encode_write_block(1, memmap.SCRATCHPAD_INT32_AREA1, b"\x00\x00\x00\x05"))
        assert s.recv(100) == codec.encode_write_response(1, 4)
        s.sendall(codec.encode_write_quadlet(1, memmap.STATUS_WRITE_OPERATION, b"\x00\x00\x00\x02"))
        assert s.recv(100) == codec.encode_write_response(1, 4)
        s.sendall(vec["seed_uptime_request"])          # the status area is readable
        assert len(s.recv(100)) == 20
        s.sendall(codec.encode_read_block(1, memmap.STATUS_PUC_FLAG, 4))
        assert s.recv(100)[16:] == b"\x00\x00\x00\x01"
        s.sendall(vec["powerup_clear_request"])
        assert s.recv(100) == vec["write_ack"]
        assert not sim.memory.puc_needed
        s.sendall(vec["seed_read_digital_request"])
        assert s.recv(100) == hexbytes("00 00 04 70 00 00 00 00 00 00 00 00 00 04 00 00 00 00 00 00")
        assert sim.memory.read(memmap.STATUS_PUC_FLAG, 4) == bytes(4)
    with Simulator(profile="snap", puc_required=False) as sim, socket.create_connection(sim.address, timeout=3) as s:
        s.sendall(vec["seed_read_digital_request"])
        assert s.recv(100)[6] == 0


def test_reset_to_defaults(mem: Memory) -> None:
    mem.set_feature(0, 1, 1)
    mem.set_digital(0, 1, True)
    mem.set_digital(1, 2, True)
    mem.write(memmap.STATUS_WRITE_OPERATION, struct.pack(">I", memmap.OP_RESET_TO_DEFAULTS))
    assert mem.get_digital(1, 2) is False      # outputs off
    assert mem.get_digital(0, 1) is True       # inputs keep their state
    assert mem.read(memmap.digital_read_address(0, 1) + 4, 16) == bytes(4) * 2 + b"\x00\x00\x00\x01" + bytes(4)


# ----------------------------------------------------------------------------- scratch pad
def test_scratchpad_bit_masks(mem: Memory) -> None:
    mem.write(memmap.SCRATCHPAD_BITS_SET_ON, struct.pack(">Q", 0b1011))
    assert mem.read(memmap.SCRATCHPAD_BITS, 8) == struct.pack(">Q", 0b1011)
    mem.write(memmap.SCRATCHPAD_BITS_SET_OFF, struct.pack(">Q", 0b0010))
    assert mem.read(memmap.SCRATCHPAD_BITS, 8) == struct.pack(">Q", 0b1001)
    assert mem.read(memmap.SCRATCHPAD_BITS_SET_ON, 16) == bytes(16)


def test_string_abc_123_without_length_word(mem: Memory) -> None:
    slot1 = memmap.scratchpad_string_address(1)
    assert slot1 == 0xF0D83082
    mem.write(slot1 + 2, b"abc 123")
    raw = mem.read(slot1, 130)
    assert raw[:2] == b"\x00\x07" and raw[2:9] == b"abc 123"


def test_string_vector_with_length_word(mem: Memory) -> None:
    vec = {f["name"]: f for f in load_vectors("frames.json")["frames"]}
    frame = codec.decode_frame(hexbytes(vec["string_slot1_write_request"]["hex"]))
    reply, close = mem.respond(hexbytes(vec["string_slot1_write_request"]["hex"]))
    assert reply == codec.encode_write_response(3) and not close
    raw = mem.read(frame.address, 9)
    assert raw == b"\x00\x07abc 123"


def test_string_length_rules(mem: Memory) -> None:
    s0 = memmap.scratchpad_string_address(0)
    mem.write(s0 + 2, b"hello world")
    assert mem.read(s0, 2) == b"\x00\x0b"
    mem.write(s0 + 2, b"hi\0")               # a NUL inside the written data ends the string
    assert mem.read(s0, 2) == b"\x00\x02"
    assert mem.read(s0 + 2, 11) == b"hi\0lo world"   # untouched bytes keep their values
    mem.write(s0 + 2, b"abc")                # no NUL: the end of the written range
    assert mem.read(s0, 2) == b"\x00\x03"
    mem.write(s0 + 2 + 5, b"XY")             # data[0:7] = "abclo X"... no NUL -> 7
    assert mem.read(s0, 2) == b"\x00\x07"
    mem.write(s0, b"\x00\x04zzzz")           # length written together with data is used
    assert mem.read(s0, 6) == b"\x00\x04zzzz"
    mem.write(s0, b"\x00\x80")               # 128 is allowed
    assert mem.read(s0, 2) == b"\x00\x80"
    mem.write(s0 + 1, b"\x05")               # only the low byte of the length word
    assert mem.read(s0, 2) == b"\x00\x05"
    with pytest.raises(MmpNakError) as e:
        mem.write(s0, b"\x00\x81")
    assert e.value.rcode == 5
    with pytest.raises(MmpNakError):
        mem.write(s0, b"\x00\x81" + b"q" * 10)
    assert mem.read(s0, 6) == b"\x00\x05zzzz"   # nothing applied


def test_string_write_spanning_slots(mem: Memory) -> None:
    s1, s2 = memmap.scratchpad_string_address(1), memmap.scratchpad_string_address(2)
    data = b"\x00\x03one" + bytes(125) + b"\x00\x03two"
    mem.write(s1, data)
    assert mem.read(s1, 5) == b"\x00\x03one" and mem.read(s2, 5) == b"\x00\x03two"
    # slot 63 ends the area exactly
    s63 = memmap.scratchpad_string_address(63)
    mem.write(s63, b"\x00\x01" + b"!" * 128)
    with pytest.raises(MmpNakError):
        mem.write(s63 + 2, b"!" * 129)
    # int32 area 1 is in the same area and unaffected by the string rules
    mem.write(memmap.SCRATCHPAD_INT32_AREA1, b"\x00\x00\x00\xff")
    assert mem.read(memmap.SCRATCHPAD_STRINGS, 2) == b"\x00\x00"


# ----------------------------------------------------------------------------- rack
def test_default_layout_and_specs() -> None:
    assert len(DEFAULT_LAYOUT) == 16
    kinds = {m.kind for m in DEFAULT_LAYOUT if m is not None}
    assert kinds == {"di", "do", "ai", "ao"}
    assert None in DEFAULT_LAYOUT
    rack = parse_modules("di:8, do , -, ai:4")
    assert rack[:4] == [ModuleSpec("di", 8), ModuleSpec("do", 16), None, ModuleSpec("ai", 4)]
    assert rack[4:] == [None] * 12
    assert parse_modules([("ao", 2), None]) [:2] == [ModuleSpec("ao", 2), None]
    for bad in ("xx:4", "di:0", "di:33", ["di"] * 17):
        with pytest.raises(ValueError):
            parse_modules(bad)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        parse_modules([3])  # type: ignore[list-item]


def test_set_digital_argument_errors(mem: Memory) -> None:
    with pytest.raises(ValueError):
        mem.set_digital(2, 0, True)      # analog module
    with pytest.raises(ValueError):
        mem.set_digital(1, 16, True)     # do 16: channel 16 absent
    with pytest.raises(ValueError):
        mem.set_digital(14, 0, True)     # empty slot
    with pytest.raises(ValueError):
        mem.set_digital(16, 0, True)
    with pytest.raises(ValueError):
        mem.set_analog(0, 0, 1.0)
    with pytest.raises(ValueError):
        mem.set_analog(2, 0, 1e300)
    with pytest.raises(TypeError):
        mem.set_analog(2, 0, "1.0")  # type: ignore[arg-type]


def test_digital_slot_latches_counter_quality(mem: Memory) -> None:
    a = memmap.digital_read_address(0, 3)
    mem.set_feature(0, 3, 1)
    for _ in range(3):
        mem.set_digital(0, 3, True)
        mem.set_digital(0, 3, False)
    mem.set_digital(0, 3, True)
    st, on, off, ft, fv, q = memmap.DIGITAL_CHANNEL_STRUCT.unpack(mem.read(a, memmap.DIGITAL_CHANNEL_LENGTH))
    assert (st, on, off, ft, fv, q) == (1, 1, 1, 1, 4, 0)
    # no counting without the counter feature
    mem.set_digital(0, 4, True)
    mem.set_digital(0, 4, False)
    assert memmap.DIGITAL_CHANNEL_STRUCT.unpack(mem.read(memmap.digital_read_address(0, 4), 24)) == \
        (0, 1, 1, 0, 0, 0)
    # repeated same state is no edge
    mem.set_digital(0, 3, True)
    assert u32(mem, a + memmap.DIG_FEATURE_VALUE) == 4


def test_feature_via_point_configuration_write(mem: Memory) -> None:
    cfg = memmap.EPIC_POINT_CONFIG + memmap.POINT_CONFIG_MODULE_STRIDE * 0 + memmap.POINT_CONFIG_CHANNEL_STRIDE * 5
    mem.write(cfg + 8, b"\x00\x00\x00\x01")
    mem.set_digital(0, 5, True)
    assert u32(mem, memmap.digital_read_address(0, 5) + memmap.DIG_FEATURE_TYPE) == 1
    assert u32(mem, memmap.digital_read_address(0, 5) + memmap.DIG_FEATURE_VALUE) == 1


def test_empty_slot_quality_30(mem: Memory) -> None:
    assert u32(mem, memmap.digital_read_address(14, 0) + memmap.DIG_QUALITY) == 30
    assert u32(mem, memmap.analog_read_address(15, 7) + memmap.ANA_QUALITY) == 30
    assert u32(mem, memmap.CHANNEL_QUALITY + 0x100 * 14 + 4 * 3) == 30
    assert u32(mem, memmap.CHANNEL_QUALITY + 0x100 * 1 + 4 * 3) == 0
    assert mem.read(memmap.MODULE_QUALITY_MASK, 8) == struct.pack(">Q", (1 << 14) | (1 << 15))
    words = struct.unpack(">IIII", mem.read(memmap.PACKED_DIGITAL_MODULE + 16 * 14, 16))
    assert words[1] == 0xFFFFFFFF
    custom = Memory(modules=["di:4"])
    assert custom.read(memmap.MODULE_QUALITY_MASK, 8) == struct.pack(">Q", 0xFFFE)


def test_digital_write_slot_semantics(mem: Memory) -> None:
    w = memmap.digital_write_address(1, 3)
    mem.write(w, b"\x00\x00\x00\x07" + bytes(12))
    assert mem.get_digital(1, 3) is True
    mem.write(w + 4, bytes(12))                # zeros at +4..+0xF: no effect
    assert mem.get_digital(1, 3) is True
    mem.write(w + 3, b"\x00")                  # a partial write of the state word
    assert mem.get_digital(1, 3) is False
    assert mem.read(w, 4) == bytes(4)
    # writing the write slot of an input changes nothing but is stored
    mem.write(memmap.digital_write_address(0, 0), b"\x00\x00\x00\x01")
    assert mem.get_digital(0, 0) is False
    assert mem.read(memmap.digital_write_address(0, 0), 4) == b"\x00\x00\x00\x01"


def test_analog_min_max_and_write(mem: Memory) -> None:
    mem.set_analog(2, 1, 5.0)
    mem.set_analog(2, 1, -3.25)
    mem.set_analog(2, 1, 1.5)
    v, counts, lo, hi, q = memmap.ANALOG_CHANNEL_STRUCT.unpack(mem.read(memmap.analog_read_address(2, 1), 20))
    assert (v, counts, lo, hi, q) == (1.5, 0.0, -3.25, 5.0, 0)
    mem.write(memmap.analog_write_address(3, 2), struct.pack(">f", 12.5))
    assert mem.get_analog(3, 2) == 12.5
    assert f32(mem, memmap.analog_read_address(3, 2)) == 12.5
    assert f32(mem, memmap.packed_value_address(3, 2)) == 12.5
    assert mem.read(memmap.analog_write_address(3, 2), 4) == struct.pack(">f", 12.5)


def test_analog_read_and_clear(mem: Memory) -> None:
    mem.set_analog(2, 1, 9.0)
    mem.set_analog(2, 1, -1.0)
    mem.set_analog(2, 1, 2.0)
    rc = memmap.analog_read_clear_address(2, 1)
    assert struct.unpack(">ff", mem.read(rc, 8)) == (-1.0, 9.0)
    assert struct.unpack(">ff", mem.read(rc, 8)) == (2.0, 2.0)
    assert struct.unpack(">ff", mem.read(memmap.analog_read_address(2, 1) + 8, 8)) == (2.0, 2.0)
    # a partial read of max clears only the max
    mem.set_analog(2, 1, 7.0)
    mem.set_analog(2, 1, 0.5)
    assert mem.read(rc + 4, 2) == struct.pack(">f", 7.0)[:2]
    assert struct.unpack(">ff", mem.read(memmap.analog_read_address(2, 1) + 8, 8)) == (0.5, 0.5)


def test_digital_read_and_clear(mem: Memory) -> None:
    mem.set_feature(0, 2, 1)
    for _ in range(5):
        mem.set_digital(0, 2, True)
        mem.set_digital(0, 2, False)
    rc = memmap.digital_read_clear_address(0, 2)
    assert struct.unpack(">III", mem.read(rc, 12)) == (5, 1, 1)
    assert struct.unpack(">III", mem.read(rc, 12)) == (0, 0, 0)
    assert memmap.DIGITAL_CHANNEL_STRUCT.unpack(mem.read(memmap.digital_read_address(0, 2), 24))[:5] == \
        (0, 0, 0, 1, 0)
    # partial (1-byte) read of the on-latch clears it, not the off-latch
    mem.set_digital(0, 2, True)
    mem.set_digital(0, 2, False)
    assert mem.read(rc + 7, 1) == b"\x01"
    assert struct.unpack(">III", mem.read(rc, 12)) == (1, 0, 1)


def test_packed_areas_consistent(mem: Memory) -> None:
    mem.set_feature(1, 5, 1)
    mem.set_digital(1, 5, True)
    mem.set_digital(1, 0, True)
    mem.set_digital(1, 0, False)
    mem.set_digital(0, 31, True)
    assert u32(mem, memmap.packed_state_address(1)) == 1 << 5
    assert u32(mem, memmap.packed_state_address(0)) == 1 << 31
    assert u32(mem, memmap.packed_value_address(1, 5)) == 1
    states, quality, on, off = struct.unpack(">IIII", mem.read(memmap.PACKED_DIGITAL_MODULE + 16, 16))
    assert (states, quality, on, off) == (1 << 5, 0, (1 << 5) | 1, 1)
    mem.set_analog(6, 11, -7.5)
    assert f32(mem, memmap.packed_value_address(6, 11)) == -7.5


def test_stream_area_maps_legacy_points() -> None:
    """Stream point p = 4*module + channel (PROTOCOL.md §2.4, §3.7)."""
    mem = Memory(modules=["di:32", "ai:32", "do:8"])
    mem.set_feature(0, 3, 1)
    mem.set_digital(0, 3, True)                 # point 3
    mem.set_digital(0, 1, True)
    mem.set_digital(0, 1, False)                # point 1: on and off latch
    mem.set_analog(1, 2, 42.5)                  # point 6
    mem.set_digital(2, 0, True)                 # point 8
    mem.set_digital(0, 9, True)                 # channel 9: not a stream point
    mem.set_analog(1, 7, -1.0)                  # channel 7: not a stream point
    area = mem.read(memmap.STREAM_READ_AREA, memmap.STREAM_READ_AREA_LENGTH)
    analog = struct.unpack_from(">64f", area, memmap.STREAM_OFF_ANALOG)
    counters = struct.unpack_from(">64I", area, memmap.STREAM_OFF_COUNTERS)
    assert analog[6] == 42.5 and [i for i, v in enumerate(analog) if v] == [6]
    assert counters[3] == 1 and [i for i, v in enumerate(counters) if v] == [3]
    assert struct.unpack_from(">Q", area, memmap.STREAM_OFF_STATE_MASK)[0] == (1 << 3) | (1 << 8)
    assert struct.unpack_from(">Q", area, memmap.STREAM_OFF_ON_LATCH_MASK)[0] == (1 << 1) | (1 << 3) | (1 << 8)
    assert struct.unpack_from(">Q", area, memmap.STREAM_OFF_OFF_LATCH_MASK)[0] == 1 << 1
    assert struct.unpack_from(">Q", area, memmap.STREAM_OFF_ACTIVE_COUNTER_MASK)[0] == 1 << 3
    pkt = mem.stream_packet()
    assert len(pkt) == 604 and pkt[:4] == bytes.fromhex("025C00A8")
    assert pkt[4:4 + len(area)] == area and pkt[548:] == bytes(56)
    # module 15 channel 3 is point 63, the top bit of the first mask byte
    top = Memory(modules=[None] * 15 + ["di:4"])
    top.set_digital(15, 3, True)
    assert top.read(memmap.STREAM_READ_AREA + memmap.STREAM_OFF_STATE_MASK, 8) == b"\x80" + bytes(7)


def test_stream_packet_layout_matches_vector() -> None:
    v = load_vectors("stream_standard.json")
    mem = Memory(modules=["ai:4"] * 16)
    for p, value in enumerate(v["analog"]):
        mem.set_analog(p // 4, p % 4, value)
    pkt = mem.stream_packet()
    ref = bytes.fromhex(v["hex"])
    assert pkt[:4 + 256] == ref[:4 + 256]
    assert pkt[548:] == ref[548:]


def test_streaming_sends_udp_to_loopback_target() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rx:
        rx.bind(("127.0.0.1", 0))
        rx.settimeout(3)
        rx_port = rx.getsockname()[1]
        with Simulator(modules=["di:32"]) as sim:
            sim.set_digital(0, 2, True)
            sim.memory.write(memmap.STREAM_TARGETS, bytes((127, 0, 0, 1)) + bytes((10, 1, 2, 3)))
            sim.memory.write(memmap.STREAM_INTERVAL_MS, struct.pack(">II", 10, rx_port))
            sim.memory.write(memmap.STREAM_ENABLE, b"\x00\x00\x00\x01")
            cfg = sim.memory.stream_config()
            assert cfg.enabled and cfg.port == rx_port and cfg.targets == ("127.0.0.1", "10.1.2.3")
            t0 = time.monotonic()
            pkts = [rx.recvfrom(1000) for _ in range(3)]
            assert time.monotonic() - t0 < 2.0
            for data, src in pkts:
                assert len(data) == 604 and data[:4] == bytes.fromhex("025C00A8")
                assert struct.unpack_from(">Q", data, 4 + memmap.STREAM_OFF_STATE_MASK)[0] == 1 << 2
                assert src[1] == sim.port
            sim.memory.write(memmap.STREAM_ENABLE, bytes(4))
            time.sleep(0.05)
            rx.settimeout(0.01)
            try:        # drain what was in flight
                while True:
                    rx.recv(1000)
            except socket.timeout:
                pass
            rx.settimeout(0.1)
            with pytest.raises(socket.timeout):
                rx.recv(1000)
            sent = sim.stats.stream_packets
            assert sent >= 3


def test_direct_access_and_wire_decide_alike() -> None:
    """Memory.read/write and a wire request get the same rcode (one decision point),
    except the wire-only rules (max_block, power-up clear)."""
    mem = Memory()
    s1 = memmap.scratchpad_string_address(1)
    cases = [
        (False, 0xF0000000, 4, None, 5),                                  # unmapped
        (False, memmap.STATUS_READ_END - 1, 4, None, 5),                  # runs past the area
        (True, memmap.STATUS_UPTIME_MS, 4, b"\x00\x00\x00\x01", 5),       # read-only
        (True, memmap.STATUS_WRITE_WATCHDOG_MS + 2, 4, bytes(4), 5),      # status write rule
        (True, s1, 2, b"\x00\x81", 5),                                    # string length rule
        (False, memmap.SCRATCHPAD_INT32_AREA1, 8, None, 0),
        (True, memmap.SCRATCHPAD_INT32_AREA1, 4, b"\x00\x00\x00\x09", 0),
    ]
    for tl, (write, address, length, data, expected) in enumerate(cases):
        try:
            if write:
                assert data is not None
                mem.write(address, data)
            else:
                mem.read(address, length)
            direct = 0
        except MmpNakError as e:
            direct = e.rcode
        frame = (codec.encode_write_block(tl, address, data) if write
                 else codec.encode_read_block(tl, address, length))
        reply, close = mem.respond(frame)
        wire = codec.decode_frame(reply)
        assert direct == expected, hex(address)
        assert (wire.rcode, wire.tl, close) == (expected, tl, False), hex(address)
        assert wire.tcode == (2 if write else 7)
