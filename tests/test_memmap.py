"""Memory-map arithmetic against tests/vectors/memmap.json and PROTOCOL.md §3."""
from __future__ import annotations

from typing import Any, Callable, Dict, Tuple

import pytest

from mmpfast import memmap
from mmpfast import protocol

ADDRESSERS: Dict[str, Callable[[Dict[str, Any]], int]] = {
    "scratchpad_int32": lambda a: memmap.scratchpad_int32_address(a["index"]),
    "scratchpad_float": lambda a: memmap.scratchpad_float_address(a["index"]),
    "scratchpad_int64": lambda a: memmap.scratchpad_int64_address(a["index"]),
    "scratchpad_string_slot": lambda a: memmap.scratchpad_string_address(a["slot"]),
    "epic_digital_read_slot": lambda a: memmap.digital_read_address(a["module"], a["channel"]),
    "epic_digital_write_slot": lambda a: memmap.digital_write_address(a["module"], a["channel"]),
    "epic_analog_read_slot": lambda a: memmap.analog_read_address(a["module"], a["channel"]),
    "epic_analog_write_slot": lambda a: memmap.analog_write_address(a["module"], a["channel"]),
}

STATUS_CONSTANTS = {
    "status_uptime_ms": memmap.STATUS_UPTIME_MS,
    "status_uptime_ms_64": memmap.STATUS_UPTIME_MS_64,
    "status_firmware_version": memmap.STATUS_FIRMWARE_VERSION,
    "status_mac_eth0": memmap.STATUS_MAC_ETH0,
    "status_ip_eth0": memmap.STATUS_IP_ETH0,
    "status_last_error": memmap.STATUS_LAST_ERROR,
    "status_part_number": memmap.STATUS_PART_NUMBER,
    "status_serial_number": memmap.STATUS_SERIAL_NUMBER,
    "status_powerup_clear_flag": memmap.STATUS_PUC_FLAG,
    "status_write_operation": memmap.STATUS_WRITE_OPERATION,
}


def test_every_vector_address(memmap_vectors: Dict[str, Any]) -> None:
    seen = 0
    for entry in memmap_vectors["addresses"]:
        want = int(entry["address"], 16)
        what = entry["what"]
        if what in ADDRESSERS:
            assert ADDRESSERS[what](entry["args"]) == want, entry
        else:
            assert STATUS_CONSTANTS[what] == want, entry
        seen += 1
    assert seen == len(memmap_vectors["addresses"]) > 30


@pytest.mark.parametrize("kind,index,count,expected", [
    ("int32", 0, 1, [(0xF0D81000, 0, 1)]),
    ("int32", 1020, 10, [(0xF0D81FF0, 1020, 4), (0xF0DA0000, 1024, 6)]),
    ("float", 1023, 2, [(0xF0D82FFC, 1023, 1), (0xF0DC0000, 1024, 1)]),
    ("int32", 3070, 4, [(0xF0DA1FF8, 3070, 4)]),   # areas 2 and 3 are contiguous
    ("float", 10239, 1, [(0xF0DC8FFC, 10239, 1)]),
    ("int64", 5, 3, [(0xF0DE0028, 5, 3)]),
])
def test_scratchpad_runs(kind: str, index: int, count: int, expected: list) -> None:
    assert [tuple(r) for r in memmap.scratchpad_runs(kind, index, count)] == expected


@pytest.mark.parametrize("kind,index,count", [
    ("int32", 10240, 1), ("int32", -1, 1), ("float", 10239, 2), ("int64", 1024, 1),
    ("int64", 1020, 5), ("int32", 0, 0), ("bits", 0, 1),
])
def test_scratchpad_runs_out_of_range(kind: str, index: int, count: int) -> None:
    with pytest.raises(ValueError):
        memmap.scratchpad_runs(kind, index, count)


@pytest.mark.parametrize("call", [
    lambda: memmap.digital_read_address(16, 0),
    lambda: memmap.digital_read_address(0, 64),
    lambda: memmap.analog_write_address(-1, 0),
    lambda: memmap.scratchpad_string_address(64),
    lambda: memmap.scratchpad_int64_address(1024),
    lambda: memmap.packed_value_address(0, 32),
])
def test_point_bounds(call: Callable[[], int]) -> None:
    with pytest.raises(ValueError):
        call()


def test_wrong_types() -> None:
    with pytest.raises(TypeError):
        memmap.digital_read_address(1.0, 0)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        memmap.scratchpad_int32_address("3")  # type: ignore[arg-type]


def test_formatters() -> None:
    assert memmap.format_firmware(bytes([3, 6, 2, 1])) == "R3.6b"
    assert memmap.format_firmware(bytes([1, 2, 2, 0])) == "R1.2a"
    assert memmap.format_firmware(bytes([9, 0, 7, 0])) == "9.0.7.0"
    assert memmap.format_mac(bytes.fromhex("00A03D0A0DFE")) == "00:A0:3D:0A:0D:FE"
    assert memmap.format_ip(bytes([10, 0, 0, 5])) == "10.0.0.5"
    assert memmap.decode_zstring(b"GRV-EPIC-PR1 \0junk") == "GRV-EPIC-PR1"


def test_areas_sorted_disjoint_and_lookup() -> None:
    areas = memmap.AREAS
    for a, b in zip(areas, areas[1:]):
        assert a.first <= a.last < b.first
    assert memmap.find_area(0xF030010C, 4).name == "status read"  # type: ignore[union-attr]
    assert memmap.find_area(0xF030024C, 4) is not None
    assert memmap.find_area(0xF030024C, 5) is None            # runs off the end
    assert memmap.find_area(0xF0310000, 4) is None            # unmapped
    assert memmap.find_area(0xF0D84FFE, 130) is not None      # last string slot
    assert not memmap.find_area(0xF01E0000, 4).writable       # type: ignore[union-attr]
    assert memmap.find_area(0xF0220000, 4).writable           # type: ignore[union-attr]


def test_status_block_covers_status_fields() -> None:
    end = memmap.STATUS_READ_BASE + memmap.STATUS_BLOCK_LENGTH
    for addr, size in [(memmap.STATUS_UPTIME_MS, 4), (memmap.STATUS_SERIAL_NUMBER, 4),
                       (memmap.STATUS_PART_NUMBER, 32), (memmap.STATUS_MAC_ETH0, 6)]:
        assert memmap.STATUS_READ_BASE <= addr and addr + size <= end
    assert memmap.STATUS_BLOCK_LENGTH <= protocol.MAX_BLOCK


def test_protocol_tables() -> None:
    assert protocol.FIXED_FRAME_LENGTH == {0: 16, 2: 12, 4: 12, 5: 16, 6: 16}
    assert protocol.DEFAULT_PORT == 2001 and protocol.MAX_BLOCK == 1024
    assert protocol.error_code(5) == 0xE005 and protocol.error_code(0) == 0
    assert set(protocol.DEVICE_ERRORS) == set(range(0xE001, 0xE010))
    assert protocol.describe_error(4) == "powerup clear expected"
    assert protocol.BLOCK_REQUEST_HEADER.size == protocol.BLOCK_RESPONSE_HEADER.size == 16
    assert protocol.REQUEST_HEADER.size == protocol.RESPONSE_HEADER.size == 12


def test_errors_hierarchy() -> None:
    from mmpfast import errors
    assert issubclass(errors.MmpConnectionError, ConnectionError)
    assert issubclass(errors.MmpTimeoutError, TimeoutError)
    for cls in (errors.MmpConnectionError, errors.MmpTimeoutError, errors.MmpProtocolError,
                errors.MmpNakError, errors.WriteOutcomeUnknown):
        assert issubclass(cls, errors.MmpError)
    e = errors.MmpNakError(5, 0xF0310000)
    assert (e.rcode, e.error_code, e.address) == (5, 0xE005, 0xF0310000)
    assert "0xE005" in str(e) and "0xF0310000" in str(e)
    import pickle
    e2 = pickle.loads(pickle.dumps(e))
    assert (e2.rcode, e2.error_code, e2.address, str(e2)) == (5, 0xE005, 0xF0310000, str(e))


# --------------------------------------------------------------------------- issue 14 areas
# Every expected address below is worked out by hand from PROTOCOL.md §3.6-3.8 (the
# formula is quoted beside it), never computed by the code under test.
@pytest.mark.parametrize("call,expected", [
    # EPIC digital read-and-clear 0xF02E0000 + 0x600*m + 0x18*c
    (lambda: memmap.digital_read_clear_address(0, 0), 0xF02E0000),
    (lambda: memmap.digital_read_clear_address(1, 2), 0xF02E0630),
    (lambda: memmap.digital_read_clear_address(15, 63), 0xF02E5FE8),
    # EPIC analog min/max read-and-clear 0xF01D4000 + 0x300*m + 0x0C*c
    (lambda: memmap.analog_read_clear_address(1, 2), 0xF01D4318),
    (lambda: memmap.analog_read_clear_address(15, 63), 0xF01D6FF4),
    # EPIC point configuration 0xF0100000 + 0x3000*m + 0xC0*c; feature at +0x08
    (lambda: memmap.point_config_address(1, 2), 0xF0103180),
    (lambda: memmap.point_config_address(15, 63), 0xF012FF40),
    (lambda: memmap.point_feature_address(1, 2), 0xF0103188),
    # SNAP PAC, p = 4*module + channel; (2, 3) is p = 11, (15, 3) is p = 63
    (lambda: memmap.snap_point(2, 3), 11),
    (lambda: memmap.snap_point(15, 3), 63),
    (lambda: memmap.snap_digital_read_address(2, 3), 0xF08002C0),     # 0xF0800000 + 0x40*p
    (lambda: memmap.snap_digital_read_address(15, 3), 0xF0800FC0),
    (lambda: memmap.snap_digital_write_address(2, 3), 0xF09002C0),    # 0xF0900000 + 0x40*p
    (lambda: memmap.snap_analog_read_address(2, 3), 0xF0A002C0),      # 0xF0A00000 + 0x40*p
    (lambda: memmap.snap_analog_write_address(2, 3), 0xF0B002C0),     # 0xF0B00000 + 0x40*p
    (lambda: memmap.snap_point_config_address(2, 3), 0xF0C002C0),     # 0xF0C00000 + 0x40*p
    (lambda: memmap.point_feature_address(2, 3, device="snap"), 0xF0C002C8),
    (lambda: memmap.snap_bank_counter_address(2, 3), 0xF040012C),     # 0xF0400000 + 0x100 + 4*p
    (lambda: memmap.snap_bank_value_address(2, 3), 0xF060002C),       # 0xF0600000 + 4*p
    (lambda: memmap.snap_bank_value_address(15, 3), 0xF06000FC),
    # custom area: addresses 0xF0D50000 + 4*i, data 0xF0D60000 + 4*i, i < 1024
    (lambda: memmap.custom_address_entry(0), 0xF0D50000),
    (lambda: memmap.custom_address_entry(1023), 0xF0D50FFC),
    (lambda: memmap.custom_data_address(0), 0xF0D60000),
    (lambda: memmap.custom_data_address(1023), 0xF0D60FFC),
])
def test_issue14_addresses(call: Callable[[], int], expected: int) -> None:
    assert call() == expected


@pytest.mark.parametrize("module,channel,word", [
    # 8-byte BE mask at 0xF0400000: +0 holds points 63..32, +4 points 31..0
    (0, 0, (0xF0400004, 0)), (2, 3, (0xF0400004, 11)), (7, 3, (0xF0400004, 31)),
    (8, 0, (0xF0400000, 0)), (10, 0, (0xF0400000, 8)), (15, 3, (0xF0400000, 31)),
])
def test_snap_bank_state_word(module: int, channel: int, word: Tuple[int, int]) -> None:
    assert memmap.snap_bank_state_word(module, channel) == word


def test_read_clear_and_config_requests() -> None:
    assert memmap.read_clear_digital_requests(1, 2) == ((0xF02E0630, 12),)
    assert memmap.read_clear_digital_requests(1, 2, device="epic") == ((0xF02E0630, 12),)
    # SNAP: counts 0xF0F00000 + 4p, on-latch +0x100, off-latch +0x200 (p = 11)
    assert memmap.read_clear_digital_requests(2, 3, device="snap") == (
        (0xF0F0002C, 4), (0xF0F0012C, 4), (0xF0F0022C, 4))
    assert memmap.read_clear_analog_requests(1, 2) == ((0xF01D4318, 8),)
    # SNAP: min 0xF0F80000 + 4p, max +0x100
    assert memmap.read_clear_analog_requests(2, 3, device="snap") == ((0xF0F8002C, 4), (0xF0F8012C, 4))
    # EPIC: fixed fields + 51-byte name from +0x30 = 0x63 bytes; SNAP: 16-byte name = 0x40
    assert memmap.point_config_request(1, 2) == (0xF0103180, 0x63)
    assert memmap.point_config_request(2, 3, device="snap") == (0xF0C002C0, 0x40)
    for reqs in (memmap.read_clear_digital_requests(15, 63), memmap.read_clear_analog_requests(15, 63),
                 memmap.read_clear_digital_requests(15, 3, device="snap"),
                 memmap.read_clear_analog_requests(15, 3, device="snap")):
        for a, n in reqs:
            assert memmap.read_has_side_effects(a, n) and memmap.find_area(a, n) is not None
    for a, n in (memmap.point_config_request(15, 63), memmap.point_config_request(15, 3, device="snap")):
        area = memmap.find_area(a, n)
        assert area is not None and area.writable and not memmap.read_has_side_effects(a, n)


def test_point_config_layout_constants() -> None:
    # PROTOCOL.md §3.6: +0x00 module type .. +0x28 watchdog enable, reserved +0x1C, name at +0x30
    assert memmap.POINT_CONFIG_STRUCT.size == 0x2C
    assert (memmap.POINT_CONFIG_MODULE_TYPE, memmap.POINT_CONFIG_POINT_TYPE, memmap.POINT_CONFIG_FEATURE,
            memmap.POINT_CONFIG_OFFSET, memmap.POINT_CONFIG_GAIN, memmap.POINT_CONFIG_HIGH_SCALE,
            memmap.POINT_CONFIG_LOW_SCALE, memmap.POINT_CONFIG_FILTER_WEIGHT,
            memmap.POINT_CONFIG_WATCHDOG_VALUE, memmap.POINT_CONFIG_WATCHDOG_ENABLE,
            memmap.POINT_CONFIG_NAME) == (0, 4, 8, 0x0C, 0x10, 0x14, 0x18, 0x20, 0x24, 0x28, 0x30)
    assert memmap.DIGITAL_COUNTS_STRUCT.size == 12 and memmap.MINMAX_STRUCT.size == 8
    assert memmap.CUSTOM_AREA_ENTRIES == 1024 and memmap.CUSTOM_AREA_MAX_READ == 1024


@pytest.mark.parametrize("call,error", [
    (lambda: memmap.snap_point(0, 4), ValueError),
    (lambda: memmap.snap_point(16, 0), ValueError),
    (lambda: memmap.snap_point(-1, 0), ValueError),
    (lambda: memmap.snap_digital_read_address(0, 4), ValueError),
    (lambda: memmap.snap_bank_state_word(16, 0), ValueError),
    (lambda: memmap.mask64_word(0xF0400000, 64), ValueError),
    (lambda: memmap.point_config_address(0, 64), ValueError),
    (lambda: memmap.point_config_request(0, 4, device="snap"), ValueError),
    (lambda: memmap.point_config_request(0, 0, device="pac"), ValueError),
    (lambda: memmap.read_clear_digital_requests(16, 0), ValueError),
    (lambda: memmap.read_clear_analog_requests(0, 4, device="snap"), ValueError),
    (lambda: memmap.custom_address_entry(1024), ValueError),
    (lambda: memmap.custom_data_address(-1), ValueError),
    (lambda: memmap.check_device("EPIC"), ValueError),
    (lambda: memmap.check_device(None), TypeError),
    (lambda: memmap.snap_point(True, 0), TypeError),              # a bool is not a module number
    (lambda: memmap.point_config_address(0, False), TypeError),
    (lambda: memmap.digital_read_clear_address(1.0, 0), TypeError),
    (lambda: memmap.custom_data_address("1"), TypeError),
    (lambda: memmap.scratchpad_int32_address(True), TypeError),
])
def test_issue14_bad_arguments(call: Callable[[], Any], error: type) -> None:
    with pytest.raises(error):
        call()


def test_check_device_point() -> None:
    assert memmap.check_device_point(15, 63) == (15, 63)
    assert memmap.check_device_point(15, 3, "snap") == (15, 3)
    with pytest.raises(ValueError, match="channel 4 out of range 0..3"):
        memmap.check_device_point(0, 4, "snap")
