"""Memory-map arithmetic against ../shared/vectors/memmap.json and PROTOCOL.md §3."""
from __future__ import annotations

from typing import Any, Callable, Dict

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
